"""A scrolling view of many lines of Rich `Text`, drawn a visible line at a time (the line API).

`TextLines` shows a list of `Text` items, wrapped to its width (`wrap=True`) or cut and scrolled sideways. Only the
lines on screen are rendered, and those are cached, so a list of 17,000 lines costs what a screenful does.
`EventList` is one over a recording's events whose lines are made only when shown (or searched), with a filter.

Styles inside the texts may name `insp.*` styles (`insp.warning`, `insp.dim`...), resolved from the app's Textual
theme when a line is drawn, so every theme works. The texts must already be inert (see core/sanitize.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.color import ColorParseError
from rich.style import Style
from rich.text import Span, Text
from rich.theme import Theme
from textual.color import Color
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from xsus_tui.core.inspect import event_line
from xsus_tui.core.recording import Timed

CACHE_LINES = 2000
"""Rendered lines kept (a few screens' worth, many times over)."""


def inspector_theme(variables: dict[str, str]) -> Theme:
    """The `insp.*` styles in the colours of the app's Textual theme."""

    def var(name: str, fallback: str) -> str:
        try:  # Textual colours may carry alpha, which Rich styles can't
            return Color.parse(variables[name]).hex6
        except (KeyError, ColorParseError, ValueError):
            return fallback

    warning, error, success = var("warning", "yellow"), var("error", "red"), var("success", "green")
    muted = var("foreground-muted", "grey50")
    primary, accent = var("primary", "blue"), var("accent", "magenta")
    return Theme(
        {
            "insp.dim": muted,
            "insp.heading": f"bold {primary}",
            "insp.accent": accent,
            "insp.warning": warning,
            "insp.error": error,
            "insp.success": success,
            "insp.missing": muted,
            "insp.partial": warning,
            "insp.complete": success,
            "insp.invalid": f"bold {error}",
            "insp.added": success,
            "insp.removed": error,
            "insp.match": f"reverse {accent}",
        }
    )


class TextLines(ScrollView, can_focus=True):
    """Lines of Rich Text, drawn only where seen."""

    DEFAULT_CSS = """
    TextLines {
        height: 1fr;
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 1;
        &:focus { background-tint: $foreground 3%; }
    }
    """

    def __init__(self, items: Sequence[Text] = (), *, wrap: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.wrap = wrap
        self._items: Sequence[Text] = items
        self._lines: Sequence[Text] = ()
        self._laid_out_at = -1
        self._cache: dict[int, Strip] = {}
        self._theme_for: str | None = None
        self._styles: dict[str, Style] = {}

    # -- content -----------------------------------------------------------------------------------------

    def set_items(self, items: Sequence[Text]) -> None:
        self._items = items
        self._laid_out_at = -1
        self._layout()
        self.scroll_to(0, 0, animate=False)

    @property
    def line_count(self) -> int:
        self._layout()
        return len(self._lines)

    def line_text(self, index: int) -> Text:
        """The `index`th line as shown (after wrapping)."""
        self._layout()
        return self._lines[index]

    def _layout(self) -> None:
        width = self.scrollable_content_region.width if self.is_mounted else 0
        if self._laid_out_at == width and width:
            return
        if self.wrap and width > 4:
            console = self.app.console
            lines: list[Text] = []
            for item in self._items:
                lines.extend(item.wrap(console, width - 1, overflow="fold") if item.plain else [item])
            self._lines = lines
        else:
            self._lines = self._items
        self._laid_out_at = width if self.wrap else max(width, 1)
        self._cache.clear()
        widest = self._widest() if not self.wrap else width
        self.virtual_size = Size(widest, len(self._lines))

    def _widest(self) -> int:
        lines = self._lines
        if len(lines) > 5000:  # measuring every line would cost what drawing all of them does
            return 1000
        return max((line.cell_len for line in lines), default=0)

    def on_resize(self) -> None:
        if self.wrap:
            self._laid_out_at = -1
        self._layout()

    # -- drawing -----------------------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame_style = self.rich_style  # once a frame: it walks the ancestors' backgrounds
        return super().render_lines(crop)

    _frame_style: Style | None = None

    def render_line(self, y: int) -> Strip:
        self._layout()
        if self._theme_for != self.app.theme:
            self._theme_for = self.app.theme
            self._styles = dict(inspector_theme(self.app.theme_variables).styles)
            self._cache.clear()
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        style = self._frame_style or self.rich_style
        if index >= self.line_count:
            return Strip.blank(width, style)
        strip = self._cache.get(index)
        if strip is None:
            if len(self._cache) > CACHE_LINES:
                self._cache.clear()
            strip = self._cache[index] = self._render(self.line_text(index))
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_style(style).apply_offsets(scroll_x, index)

    def _render(self, text: Text) -> Strip:
        # The `insp.*` names resolved here, not through `console.use_theme` (which copies every style Rich knows,
        # for each line).
        styles = self._styles
        text = text.copy()
        if isinstance(text.style, str) and text.style in styles:
            text.style = styles[text.style]
        text.spans = [
            Span(span.start, span.end, styles[span.style])
            if isinstance(span.style, str) and span.style in styles
            else span
            for span in text.spans
        ]
        segments = [segment for segment in text.render(self.app.console) if segment.text != "\n"]
        return Strip(segments, sum(cell_len(segment.text) for segment in segments))

    def refresh_all(self) -> None:
        self._cache.clear()
        self.refresh()


class EventList(TextLines):
    """A recording's events, a line each, made only when drawn; `search` keeps those whose line holds a text."""

    def __init__(self, events: Sequence[Timed], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.events = events
        self.rows: Sequence[int] = range(len(events))
        """The indices of the events shown (all, or those matching `query`)."""
        self.query = ""
        self._texts: list[str] | None = None
        self._folded: list[str] | None = None

    def texts(self) -> list[str]:
        """Every event's line (made once, on the first search)."""
        if self._texts is None:
            self._texts = [event_line(timed) for timed in self.events]
            self._folded = [text.casefold() for text in self._texts]
        return self._texts

    def search(self, query: str) -> None:
        """Show only the events whose line contains `query` (any case); an empty query shows them all."""
        self.query = query
        needle = query.strip().casefold()
        if not needle:
            self.rows = range(len(self.events))
        else:
            self.texts()
            folded = self._folded or []
            self.rows = [index for index, text in enumerate(folded) if needle in text]
        self._laid_out_at = -1
        self._layout()
        self.scroll_to(0, 0, animate=False)
        self.refresh_all()

    def _layout(self) -> None:
        width = self.scrollable_content_region.width if self.is_mounted else 0
        if self._laid_out_at == max(width, 1):
            return
        self._laid_out_at = max(width, 1)
        self._cache.clear()
        self.virtual_size = Size(1000, len(self.rows))

    @property
    def line_count(self) -> int:
        return len(self.rows)

    def line_text(self, index: int) -> Text:
        event = self.rows[index]
        text = self._texts[event] if self._texts is not None else event_line(self.events[event])
        line = Text(text, no_wrap=True)
        line.stylize("insp.dim", 0, 10)
        if self.query.strip():
            line.highlight_words([self.query.strip()], style="insp.match", case_sensitive=False)
        return line
