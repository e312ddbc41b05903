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
}


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
        style = STATE_STYLES.get(self.state, "$text-muted")
        parts: list[str | tuple[str, str]] = [
            ("● ", style),
            (self.model_label, "bold"),
            "  ",
            (self.state, style),
        ]
        if self.note:
            parts.append((f"  ·  {self.note}", "$text-warning"))
        if (stats := self.stats) is not None:
            figures = []
            if stats.ttft is not None:
                figures.append(f"first token {stats.ttft * 1000:.0f} ms")
            if (rate := stats.tokens_per_second) is not None:
                figures.append(f"{rate:.0f} tok/s")
            if stats.input_tokens or stats.output_tokens:
                figures.append(f"tokens {stats.input_tokens:,} in / {stats.output_tokens:,} out")
            if figures:
                parts.append(("  ·  " + "  ·  ".join(figures), "dim"))
        return Content.assemble(*parts)
