"""A reply's markdown text, streamed at a cost that does not grow with the reply.

Textual's `Markdown` widget makes every block a widget (a table is dozens): mounting them costs about
a millisecond each and every layout pass walks them all, so a stock `MarkdownStream` gets slower the
longer the reply (100 KB: minutes). `ReplyText` is one widget that renders lines instead:

- the source is split into top-level blocks with markdown-it, the parser Textual uses; a block is
  *finished* once another block starts after it. Finished blocks are rendered once (with Rich's
  markdown renderer, styled from the app's theme) and kept as lines; only the last, growing block is
  parsed and rendered again;
- the widget draws only the lines on screen (Textual's line API), so a frame costs the same at 1 KB
  and at 1 MB; a resize or a theme change renders the blocks again, once;
- updates are applied at most `FRAME_RATE` times a second: deltas that arrive meanwhile are joined
  into one update (the first delta of a reply is shown at once). A stream far faster than anyone reads
  gets fewer updates (`SLOWER_ABOVE`): each costs a whole frame of the following chat (about 20 ms of
  the event loop that also reads the stream), and each still shows everything that has arrived.
"""

from __future__ import annotations

import asyncio
import bisect
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from rich.markdown import Markdown as RichMarkdown
from rich.style import Style
from rich.theme import Theme
from textual.color import Color, ColorParseError
from textual.geometry import Size
from textual.selection import Selection
from textual.strip import Strip
from textual.widget import Widget

from .. import compat
from ..rich_compat import init_markdown

FRAME_RATE = 20
"""Most updates a second while a reply streams."""
SLOWER_ABOVE = ((2_000, 2), (6_000, 4))
"""(characters a second, times fewer updates): a reply arriving faster than about 2,000 characters a second (a
model at 500 tokens/s and more) gets 10 updates a second, above 6,000 five. Measured in a real terminal
(benchmarks/terminal_render, docs/performance.md): 20 updates a second of a 30 KB firehose cost 2.2x the no-UI
consumer, 10 a second 1.85x, 5 a second 1.6x."""
YIELD_AFTER = 0.004
"""Seconds of back-to-back writes after which `write` lets the event loop run."""


_SPLITTER = MarkdownIt("gfm-like")
"""Finds the top-level blocks; one for all widgets (building a parser with linkify costs ~0.2 ms)."""


class _Markdown(RichMarkdown):
    """Rich's Markdown with one shared parser (see rich_compat.py); a block with a disguised link writes
    every link's target out."""

    def __init__(self, markup: str, code_theme: str) -> None:
        init_markdown(self, markup, code_theme=code_theme)
        # A link whose text looks like another address than its target (`[https://bank.example](https://evil…)`)
        # must show where it goes: then every link of the block is written as `text (target)`.
        self.hyperlinks = not any(_disguised(token) for token in self.parsed if token.children)


_ADDRESS = re.compile(r"(?:[a-z][a-z0-9+.-]*://)?((?:[\w-]+\.)+[a-z]{2,})(?:[:/?#]\S*)?", re.IGNORECASE)
"""Text that reads as a web address: an optional scheme, then a host name."""


def _host(text: str) -> str | None:
    match = _ADDRESS.fullmatch(text.strip())
    return match.group(1).lower().removeprefix("www.") if match else None


def _disguised(inline) -> bool:
    """Whether an inline token has a link whose text names another host than the link's target."""
    children = inline.children or []
    for index, token in enumerate(children):
        if token.type != "link_open":
            continue
        text = []
        for inner in children[index + 1 :]:
            if inner.type == "link_close":
                break
            text.append(inner.content)
        shown = _host("".join(text))
        target = urlsplit(str(token.attrs.get("href", ""))).hostname
        if shown is not None and shown != (target or "").lower().removeprefix("www."):
            return True
    return False


@dataclass
class _Block:
    source: str
    lines: list[Strip] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


def _block_sources(source: str, references: dict[str, dict] | None = None) -> list[str]:
    """Split markdown into its top-level blocks (each with the blank lines that follow it); the link reference
    definitions found on the way are added to `references`."""
    lines = source.splitlines(keepends=True)
    env: dict = {}
    starts = sorted({token.map[0] for token in _SPLITTER.parse(source, env) if token.level == 0 and token.map})
    if references is not None:
        references.update(env.get("references", {}))
    if not starts:
        return [source] if source.strip() else []
    starts[0] = 0
    bounds = [*starts, len(lines)]
    return ["".join(lines[start:end]) for start, end in zip(bounds, bounds[1:], strict=False)]


_VERBATIM = ("```", "~~~", "    ", "\t", "<")
"""How blocks whose text is shown as it is begin (code, HTML): reference definitions are not added to them."""


def _definitions(references: dict[str, dict]) -> str:
    """Link reference definitions as markdown, to render a block with the definitions of the whole reply."""
    lines = []
    for label, target in references.items():
        title = target.get("title") or ""
        title = ' "' + title.replace('"', '\\"') + '"' if title else ""
        lines.append(f"[{label}]: <{target['href']}>{title}")
    return "\n\n" + "\n".join(lines) + "\n"


def _uses_any(source: str, labels: set[str]) -> bool:
    """Whether `source` may use one of these reference labels (`[label]`, `[text][label]`)."""
    if "[" not in source:
        return False
    folded = " ".join(source.split()).upper()
    return any(f"[{label}]" in folded for label in labels)


def markdown_theme(variables: dict[str, str]) -> Theme:
    """Rich's markdown styles in the colours of the app's Textual theme."""

    def var(name: str, fallback: str) -> str:
        try:  # Textual colours may carry alpha, which Rich styles can't
            return Color.parse(variables[name]).hex6
        except (KeyError, ColorParseError):
            return fallback

    primary, accent = var("primary", "blue"), var("accent", "magenta")
    muted = var("foreground-muted", "grey50")
    return Theme(
        {
            "markdown.h1": f"bold {primary}",
            "markdown.h1.border": primary,
            "markdown.h2": f"bold {primary}",
            "markdown.h3": f"bold {var('secondary', primary)}",
            "markdown.h4": f"bold italic {var('secondary', primary)}",
            "markdown.h5": "italic",
            "markdown.h6": "italic",
            "markdown.code": f"bold {var('text-warning', 'yellow')}",
            "markdown.link": f"underline {accent}",
            "markdown.link_url": f"underline {accent}",
            "markdown.item.bullet": f"bold {accent}",
            "markdown.item.number": f"bold {accent}",
            "markdown.block_quote": f"italic {muted}",
            "markdown.hr": muted,
            "markdown.table.border": muted,
            "markdown.table.header": f"bold {primary}",
        }
    )


class ReplyText(compat.SizedInOnePass, Widget):
    """One run of reply text between panels, written delta by delta."""

    DEFAULT_CSS = """
    ReplyText {
        height: auto;
        width: 1fr;
    }
    """

    def __init__(self, classes: str = "reply-text") -> None:
        super().__init__(classes=classes)
        self._finished: list[_Block] = []
        self._references: dict[str, dict] = {}
        """The link reference definitions found in the reply so far, by label."""
        self._live: _Block | None = None
        self._starts: list[int] = []
        """The first line of each block, in the rendered lines (finished blocks, then the live one)."""
        self._rendered_width = 0
        self._height = 0
        self._styles_for = ""
        """The app theme that `_markdown_theme` and `_code_theme` were made for."""
        self._markdown_theme = Theme()
        self._code_theme = "monokai"
        self._queued: list[str] = []
        self._wakeup = asyncio.Event()
        self._updater: asyncio.Task | None = None
        self._frame_time = 1 / FRAME_RATE
        self._yielded = 0.0
        self._updated = 0.0
        """When the last update was applied (`time.perf_counter()`)."""

    # -- the text -------------------------------------------------------------------------------------

    @property
    def source(self) -> str:
        """The markdown written so far."""
        return "".join(block.source for block in self._blocks()) + "".join(self._queued)

    async def write(self, text: str) -> None:
        """Queue text; it is shown with the next frame."""
        if not text:
            return
        self._queued.append(text)
        if self._updater is None:
            self._updater = asyncio.create_task(self._run(), name="reply-text")
        self._wakeup.set()
        # A model that streams without waiting on I/O (an in-process one) would never let the screen
        # draw; yielding on every delta instead costs more than the rest of the delta's handling.
        # Yield when a few milliseconds have passed since the last time.
        now = time.perf_counter()
        if now - self._yielded > YIELD_AFTER:
            self._yielded = now
            await asyncio.sleep(0)

    async def finish(self) -> None:
        """Show whatever is still queued and stop updating."""
        if self._updater is not None:
            updater, self._updater = self._updater, None
            updater.cancel()
            try:
                await updater
            except asyncio.CancelledError:
                pass
        self._update()

    def on_unmount(self) -> None:
        if self._updater is not None:
            self._updater.cancel()
            self._updater = None

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            started = time.perf_counter()
            rate = sum(map(len, self._queued)) / max(self._frame_time, started - self._updated)
            self._update()
            self._updated = started
            # At most one update a frame: what arrives meanwhile is joined into the next one. A stream
            # far faster than anyone reads gets fewer frames, and its text in on time.
            frame = self._frame_time * next((times for above, times in reversed(SLOWER_ABOVE) if rate > above), 1)
            await asyncio.sleep(max(0.0, frame - (time.perf_counter() - started)))

    def _update(self) -> None:
        self._wakeup.clear()
        if not self._queued:
            return
        text = "".join(self._queued)
        self._queued.clear()
        growing = (self._live.source if self._live else "") + text
        known = {label: (target.get("href"), target.get("title")) for label, target in self._references.items()}
        sources = _block_sources(growing, self._references) or [growing]
        # A block is final only when nothing later can change it: while the next block's first line is still
        # arriving, that line may yet join it ("2" then ". b" continues an ordered list, "* x" then " | y" is
        # a row of the table above). So the last two blocks stay live until that line is whole.
        keep = 2 if len(sources) > 1 and "\n" not in sources[-1] else 1
        sources = [*sources[:-keep], "".join(sources[-keep:])]
        width, height = self._rendered_width or self.size.width, self._height
        blocks = [_Block(source) for source in sources]
        if width:  # else not laid out yet: get_content_height renders them at the width it gets
            self._rendered_width = width
            changed = {
                label
                for label, target in self._references.items()
                if known.get(label) != (target.get("href"), target.get("title"))  # new, or still arriving
            }
            if new_labels := changed:
                # A definition after its use (`[foo]` ... `[foo]: /url`) changes finished blocks: render those again.
                for block in self._finished:
                    if _uses_any(block.source, new_labels):
                        self._render(block, width)
            for block in blocks:
                self._render(block, width)
        self._finished.extend(blocks[:-1])
        self._live = blocks[-1]
        self._index()
        self.refresh(layout=not width or self._height != height)

    # -- rendering ------------------------------------------------------------------------------------

    def _render(self, block: _Block, width: int) -> _Block:
        console = self.app.console
        if self._styles_for != self.app.theme:
            self._styles_for = self.app.theme
            self._markdown_theme = markdown_theme(self.app.theme_variables)
            self._code_theme = "monokai" if self.app.current_theme.dark else "friendly"
        options = console.options.update(width=width, height=None, highlight=False)
        source = block.source
        if self._references and not source.lstrip("\n").startswith(_VERBATIM):
            source += _definitions(self._references)  # links defined anywhere in the reply
        with console.use_theme(self._markdown_theme):
            rendered = console.render_lines(_Markdown(source, self._code_theme), options, pad=False)
        text = ["".join(segment.text for segment in line).rstrip() for line in rendered]
        start, end = 0, len(text)  # without the blank lines Rich puts around some blocks
        while start < end and not text[start].strip():
            start += 1
        while end > start and not text[end - 1].strip():
            end -= 1
        block.lines = [Strip(line) for line in rendered[start:end]]
        block.text = text[start:end]
        return block

    def _blocks(self) -> list[_Block]:
        return [*self._finished, *([self._live] if self._live else [])]

    def _index(self) -> None:
        """Where each block starts, with one blank line between blocks."""
        starts, y = [], 0
        for block in self._blocks():
            if not block.lines:
                starts.append(y)
                continue
            if y:
                y += 1
            starts.append(y)
            y += len(block.lines)
        self._starts = starts
        self._height = y

    def _render_all(self, width: int) -> None:
        """Width or theme changed: render every block again (width 0: not laid out yet, so
        get_content_height renders them at the width it gets)."""
        self._rendered_width = width
        if width:
            for block in self._blocks():
                self._render(block, width)
            self._index()

    def on_resize(self) -> None:
        if self.size.width and self.size.width != self._rendered_width:
            self._render_all(self.size.width)
            self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if width and width != self._rendered_width and self._live is not None:
            self._render_all(width)
        return self._height

    def _line(self, y: int) -> tuple[Strip, str] | None:
        if not self._starts or y < 0:
            return None
        index = bisect.bisect_right(self._starts, y) - 1
        if index < 0:
            return None
        finished = self._finished
        block = finished[index] if index < len(finished) else self._live
        if block is None:
            return None
        offset = y - self._starts[index]
        if offset >= len(block.lines):
            return None
        return block.lines[offset], block.text[offset]

    def render_line(self, y: int) -> Strip:
        if self._live is not None and self.app.theme != self._styles_for:
            # The theme changed (checked here rather than watched: a watch on the app would keep
            # every ReplyText alive after it is removed).
            self._render_all(self.size.width)
        width = self.size.width
        style = self.rich_style
        found = self._line(y)
        if found is None:
            return Strip.blank(width, style)
        strip, text = found
        strip = strip.apply_style(style)  # the widget's colours under the markdown's own styles
        selection = self.text_selection
        if selection is not None and (span := selection.get_span(y)) is not None:
            start, end = span
            end = len(text) if end == -1 else end
            strip = _highlight(strip, start, end, self.screen.get_component_rich_style("screen--selection"))
        return strip.crop_extend(0, width, style).apply_offsets(0, y)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        lines: list[str] = []
        for index, block in enumerate(self._blocks()):
            if index and block.lines and lines:
                lines.append("")
            lines.extend(block.text)
        return selection.extract("\n".join(lines)), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()


def _highlight(strip: Strip, start: int, end: int, style: Style) -> Strip:
    """The strip with cells start..end in the selection style."""
    if end <= start:
        return strip
    before, selected, after = strip.divide([start, end, max(end, strip.cell_length)])[:3]
    return Strip.join([before, selected.apply_style(style), after])
