"""Copying a reply: its markdown source, or one of its fenced code blocks (the `c` key on a selected turn, `/copy`).

The markdown is the reply's text as the model wrote it, the same as `xsus history export` gives for that
reply's text parts: each run of text (a text part; a tool call, thinking or another response closes one)
separated by a blank line, with control characters shown as visible symbols (`sanitize.inert`), so a
paste never carries live terminal sequences. Code blocks are found with markdown-it (the parser the
replies are rendered with), never with a regular expression: a fence inside a list item, or one with
four backticks holding three, is found the way it is drawn.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from xsus_tui.core import events as ev
from xsus_tui.core.sanitize import inert

from .rich_compat import PARSER

FIRST_LINE = 60
"""Characters of a code block's first line shown in the picker."""


@dataclass(frozen=True)
class CodeBlock:
    """One fenced code block of a reply."""

    language: str
    """The fence's language (its info string's first word), or "" when it names none."""
    code: str
    """The lines between the fences, exactly, without the newline before the closing fence."""

    @property
    def first_line(self) -> str:
        return next((line.strip() for line in self.code.splitlines() if line.strip()), "")

    @property
    def lines(self) -> int:
        return len(self.code.splitlines())


def reply_markdown(events: Iterable[ev.TurnEvent]) -> str:
    """The reply's text as markdown: its runs of text (the events' TextDeltas, joined up as
    `AssistantReply.events` gives them), one blank line apart, as `xsus history export` writes them."""
    runs: list[list[str]] = []
    in_text = False
    for event in events:
        if isinstance(event, ev.TextDelta):
            if not in_text:
                runs.append([])
            runs[-1].append(event.text)
            in_text = True
        elif not isinstance(event, ev.ApprovalRequested):  # (not a part: the tool call's panel asks)
            in_text = False
    return inert("\n\n".join("".join(run) for run in runs))


def code_blocks(markdown: str) -> list[CodeBlock]:
    """The fenced code blocks of `markdown`, in order (indented code blocks are not fenced: left out)."""
    blocks = []
    for token in PARSER.parse(markdown):
        if token.type == "fence":
            language = token.info.split()[0] if token.info.strip() else ""
            code = token.content[:-1] if token.content.endswith("\n") else token.content
            blocks.append(CodeBlock(language, code))
    return blocks


def whole_reply_label(markdown: str) -> str:
    return f"the reply ({len(markdown):,} characters)"


def block_label(index: int, block: CodeBlock) -> str:
    language = f"{block.language} " if block.language else ""
    lines = f"{block.lines:,} line" + ("" if block.lines == 1 else "s")
    return f"{language}code block {index + 1} ({lines})"


def _option_text(block: CodeBlock) -> Text:
    first = block.first_line
    if len(first) > FIRST_LINE:
        first = first[: FIRST_LINE - 1] + "…"
    text = Text(block.language or "code", style="bold")
    text.append(f"  {inert(first)}" if first else "  (empty)")
    return text


class CopyPicker(ModalScreen[int | None]):
    """Asks what to copy from a reply with two or more code blocks: the whole reply, or one block.

    Dismissed with -1 for the whole reply, a block's index, or None (Esc)."""

    DEFAULT_CSS = """
    CopyPicker {
        align: center middle;
    }
    CopyPicker > Vertical {
        width: 72;
        max-width: 90%;
        height: auto;
        max-height: 80%;
        border: round $accent;
        border-title-color: $accent;
        border-subtitle-color: $text-muted;
        background: $surface;
        padding: 0 1;
    }
    CopyPicker OptionList {
        height: auto;
        max-height: 16;
        border: none;
        padding: 0;
        background: $surface;
        &:focus {
            border: none;
        }
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", priority=True)]

    def __init__(self, markdown: str, blocks: list[CodeBlock]) -> None:
        super().__init__()
        self.markdown = markdown
        self.blocks = blocks

    def compose(self) -> ComposeResult:
        options = [Option(Content(f"Whole reply ({len(self.markdown):,} characters)"), id="whole")]
        options += [Option(_option_text(block), id=f"block-{index}") for index, block in enumerate(self.blocks)]
        with Vertical() as box:
            box.border_title = "Copy"
            box.border_subtitle = "Enter copies · Esc cancels"
            yield OptionList(*options, id="copy-choices")

    def on_mount(self) -> None:
        choices = self.query_one(OptionList)
        choices.highlighted = 0
        choices.focus()

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        message.stop()
        self.dismiss(-1 if message.option_index == 0 else message.option_index - 1)

    def action_cancel(self) -> None:
        self.dismiss(None)
