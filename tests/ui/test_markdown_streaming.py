"""Streamed markdown ends exactly as the same text written at once, however it is chunked.

The property test streams real markdown nobody on this project wrote (the READMEs of the installed
packages, and pydantic-ai's own markdown files) in random chunks into a `ReplyText`, applying every
chunk as its own update (the worst case for deciding too early that a block is final), and compares
the lines with the same text written in one piece.
"""

from __future__ import annotations

import email
import random
from importlib import metadata
from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from xsus_tui.ui.widgets.reply_text import ReplyText

WIDTH = 90


class Host(App):
    def compose(self) -> ComposeResult:
        yield ReplyText()


def lines_of(widget: ReplyText) -> list[tuple[str, tuple[str | None, ...]]]:
    """Every rendered line: its text and the link targets on it (Rich's link ids differ run to run)."""
    out = []
    for block in widget._blocks():
        for strip, text in zip(block.lines, block.text, strict=True):
            out.append((text, tuple(segment.style.link if segment.style else None for segment in strip)))
    return out


async def render(chunks: list[str]) -> list[tuple[str, tuple[str | None, ...]]]:
    app = Host()
    async with app.run_test(size=(WIDTH, 40)):
        widget = app.query_one(ReplyText)
        for chunk in chunks:
            widget._queued.append(chunk)
            widget._update()  # each chunk its own update: blocks are decided after every one
        await widget.finish()
        return lines_of(widget)


def chunked(text: str, rng: random.Random) -> list[str]:
    chunks, at = [], 0
    while at < len(text):
        size = rng.choice((1, 1, 2, 3, 5, 8, 13, 40, 120))
        chunks.append(text[at : at + size])
        at += size
    return chunks


def corpus(limit: int = 12, most: int = 12_000) -> list[tuple[str, str]]:
    """Markdown documents from outside this project: package READMEs (their metadata) and pydantic-ai's docs."""
    documents: list[tuple[str, str]] = []
    for dist in sorted(metadata.distributions(), key=lambda d: d.metadata["Name"] or ""):
        meta = dist.metadata
        if "markdown" not in (meta.get("Description-Content-Type") or ""):
            continue
        body = meta.get_payload() if isinstance(meta, email.message.Message) else None
        body = body or meta.get("Description") or ""
        if len(body) > 2000:
            documents.append((meta["Name"], body[:most]))
    import pydantic_ai

    for path in sorted(Path(pydantic_ai.__file__).parent.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        if len(text) > 2000:
            documents.append((f"pydantic_ai/{path.name}", text[:most]))
    rng = random.Random(20261129)
    rng.shuffle(documents)
    return documents[:limit]


CASES = {
    "reference after use": (
        "See [the docs][docs] and [Foo].\n\nMore text.\n\n[docs]: https://example.com/d\n[foo]: /foo\n"
    ),
    "ordered list after a blank line": "1. one\n\n2. two\n\n3. three\n",
    "table row starting with *": "| a | b |\n|---|---|\n* x | y\n| 1 | 2 |\n",
    "table header first parsed as a heading": "a | b\n---|---\n1 | 2\n",
    "setext heading": "Title\n=====\n\ntext\n",
    "lazy quote": "> quoted\ncontinued\n\nafter\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_known_cases_stream_as_they_render_whole(name: str) -> None:
    text = CASES[name]
    whole = await render([text])
    for seed in range(4):
        assert await render(chunked(text, random.Random(seed))) == whole, (name, seed)
    assert await render(list(text)) == whole, name  # one character at a time


async def test_a_reference_defined_after_its_use_becomes_a_link() -> None:
    lines = await render(list(CASES["reference after use"]))
    links = {link for _, line_links in lines for link in line_links if link}
    assert links == {"https://example.com/d", "/foo"}
    assert all("[docs]" not in text and "[Foo]" not in text for text, _ in lines)


async def test_real_markdown_streams_as_it_renders_whole() -> None:
    documents = corpus()
    assert len(documents) >= 6, "too little markdown found to test with"
    rng = random.Random(7)
    for name, text in documents:
        whole = await render([text])
        streamed = await render(chunked(text, rng))
        assert streamed == whole, name
