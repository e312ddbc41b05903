"""The status line: model, state, time to first token, tokens/s, token usage."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from xsus_tui.core.events import TurnStats

STATE_STYLES = {
    "idle": "$text-success",
    "streaming": "$text-accent",
    "retrying": "$text-warning",
    "waiting for approval": "$text-warning",
    "interrupting": "$text-warning",
    "interrupted": "$text-warning",
    "error": "$text-error",
    "compacting": "$text-accent",
}


LABEL_FLOOR = 16
"""Cells the model's name keeps however narrow the line (figures and a note take the rest first)."""


class StatusLine(Static):
    """One line at the bottom of the chat."""

    state: reactive[str] = reactive("idle")
    stats: reactive[TurnStats | None] = reactive(None)
    note: reactive[str] = reactive("")
    """A passing remark (retrying, silent for N s) shown after the state."""

    def __init__(self, model_label: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model_label = model_label

    def render(self) -> Content:
        """Model, state, note and figures, fitted to the width: figures that don't fit are shortened, then left
        out from the least useful, never cut in half; a long model name or note is shortened with `…`."""
        width = self.content_size.width or 1_000
        style = STATE_STYLES.get(self.state, "$text-muted")
        note = f"  ·  {self.note}" if self.note else ""
        fixed = len("● ") + len("  ") + len(self.state)
        label_floor = min(len(self.model_label), LABEL_FLOOR)
        if len(note) > width - fixed - label_floor:  # a note gives way to the state and a short label
            note = _shorten(note, width - fixed - label_floor)
        figures = self._figures(width - fixed - label_floor - len(note)) or ""
        label = _shorten(self.model_label, width - fixed - len(note) - len(figures))  # the label takes the rest
        parts: list[str | tuple[str, str]] = [("● ", style), (label, "bold"), "  ", (self.state, style)]
        if note:
            parts.append((note, "$text-warning"))
        if figures:
            parts.append((figures, "dim"))
        return Content.assemble(*parts)

    def _figures(self, room: int) -> str | None:
        """The turn's figures in at most `room` cells: in full, else short, else fewer."""
        stats = self.stats
        if stats is None:
            return None
        full, short = [], []
        if stats.ttft is not None:
            full.append(f"first token {stats.ttft * 1000:.0f} ms")
            short.append(f"ttft {stats.ttft * 1000:.0f} ms")
        if (rate := stats.tokens_per_second) is not None:
            full.append(f"{rate:.0f} tok/s")
            short.append(f"{rate:.0f} tok/s")
        if stats.input_tokens or stats.output_tokens:
            full.append(f"tokens {stats.input_tokens:,} in / {stats.output_tokens:,} out")
            short.append(f"{stats.input_tokens:,}/{stats.output_tokens:,} tok")
        for figures in (full, short, *(short[:n] for n in range(len(short) - 1, 0, -1))):
            text = "  ·  " + "  ·  ".join(figures)
            if figures and len(text) <= room:
                return text
        return None


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…" if width > 0 else ""
