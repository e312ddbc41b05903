"""The one private touch of Rich: building a `Markdown` without its `__init__` (tests/ui/test_compat.py guards it).

Rich's `Markdown.__init__` builds a new MarkdownIt parser for every instance, which was half the cost of
rendering a reply's block. `init_markdown` sets what that `__init__` sets (rich 14, 15), with one parser
shared by all.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from rich.markdown import Markdown

PARSER = MarkdownIt().enable("strikethrough").enable("table")
"""The parser Rich's Markdown makes for itself, made once."""


def init_markdown(markdown: Markdown, markup: str, *, code_theme: str, hyperlinks: bool = True) -> None:
    """Set up `markdown` as `Markdown(markup, code_theme=..., hyperlinks=...)` would, with the shared parser."""
    markdown.markup = markup
    markdown.parsed = PARSER.parse(markup)
    markdown.code_theme = markdown.inline_code_theme = code_theme
    markdown.justify = None
    markdown.style = "none"
    markdown.hyperlinks = hyperlinks
    markdown.inline_code_lexer = None
