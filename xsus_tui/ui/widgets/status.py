"""The status line: model, state, time to first token, tokens/s, the last turn's usage and price, the
conversation's, and how full the model's context window is."""

from __future__ import annotations

from dataclasses import dataclass

from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from xsus_tui.core.events import TurnStats
from xsus_tui.core.usage import UsageFigures, format_context, format_cost, format_tokens

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
SEPARATOR = "  ·  "
WARN_STYLE = "bold $text-warning"
"""The context meter from 80% of the window on."""


@dataclass(frozen=True, slots=True)
class _Figure:
    full: str
    short: str
    style: str = "dim"


class StatusLine(Static):
    """One line at the bottom of the chat."""

    state: reactive[str] = reactive("idle")
    stats: reactive[TurnStats | None] = reactive(None)
    """The latest turn's timings (and its tokens, when there are no usage figures)."""
    usage: reactive[UsageFigures | None] = reactive(None)
    """Tokens, price and context; None before any response (a new chat)."""
    note: reactive[str] = reactive("")
    """A passing remark (retrying, silent for N s) shown after the state."""

    def __init__(self, model_label: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model_label = model_label

    def render(self) -> Content:
        """Model, state, note and figures, fitted to the width: figures that don't fit are shortened, then left
        out from the least useful (the context meter goes last), never cut in half; a long model name or note is
        shortened with `…`."""
        width = self.content_size.width or 1_000
        style = STATE_STYLES.get(self.state, "$text-muted")
        note = f"{SEPARATOR}{self.note}" if self.note else ""
        fixed = len("● ") + len("  ") + len(self.state)
        label_floor = min(len(self.model_label), LABEL_FLOOR)
        if len(note) > width - fixed - label_floor:  # a note gives way to the state and a short label
            note = _shorten(note, width - fixed - label_floor)
        figures = self._figures(width - fixed - label_floor - len(note))
        used = sum(len(SEPARATOR) + len(text) for text, _ in figures)
        label = _shorten(self.model_label, width - fixed - len(note) - used)  # the label takes the rest
        parts: list[str | tuple[str, str]] = [("● ", style), (label, "bold"), "  ", (self.state, style)]
        if note:
            parts.append((note, "$text-warning"))
        for text, figure_style in figures:
            parts += [(SEPARATOR, "dim"), (text, figure_style)]
        return Content.assemble(*parts)

    def _figures(self, room: int) -> list[tuple[str, str]]:
        """The figures that fit in `room` cells, in the order shown: the least useful are shortened first, then
        left out first (the context meter is the last to go)."""
        by_priority = self._candidates()  # most useful first
        forms: list[str | None] = [figure.full for figure in by_priority]
        steps = [(n, figure.short) for n, figure in reversed(list(enumerate(by_priority)))]
        steps += [(n, None) for n in reversed(range(len(by_priority)))]
        for n, form in [(-1, None), *steps]:
            if n >= 0:
                forms[n] = form
            if sum(len(SEPARATOR) + len(text) for text in forms if text is not None) <= room:
                break
        shown = [(text, figure.style) for text, figure in zip(forms, by_priority, strict=True) if text is not None]
        return shown[::-1]  # the least useful on the left, the context meter at the end

    def _candidates(self) -> list[_Figure]:
        stats, usage = self.stats, self.usage
        figures: list[_Figure] = []
        if usage is not None:
            context = usage.context
            if (full := format_context(context)) is not None:
                short = format_context(context, short=True) or full
                if context.warn:
                    figures.append(_Figure(f"⚠ {full}", f"⚠ {short}", WARN_STYLE))
                else:
                    figures.append(_Figure(full, short))
            if usage.total.responses:
                total = usage.total
                figures.append(
                    _Figure(
                        f"total {format_tokens(total.tokens)} tok, {format_cost(total)}",
                        f"Σ {format_tokens(total.tokens)} {format_cost(total, short=True)}",
                    )
                )
            if (turn := usage.turn) is not None and turn.responses:
                # An unknown price is said once, by the total; a turn's known price is its own.
                price = "" if turn.cost <= 0 and not turn.priced else f" {format_cost(turn, short=True)}"
                cached = f" ({format_tokens(turn.cache_read_tokens)} cached)" if turn.cache_read_tokens else ""
                tokens_in, tokens_out = format_tokens(turn.input_tokens), format_tokens(turn.output_tokens)
                figures.append(
                    _Figure(
                        f"turn {tokens_in} in{cached} / {tokens_out} out{price}", f"{tokens_in}/{tokens_out}{price}"
                    )
                )
        if stats is not None:
            if (usage is None or usage.turn is None) and (stats.input_tokens or stats.output_tokens):
                figures.append(
                    _Figure(
                        f"tokens {stats.input_tokens:,} in / {stats.output_tokens:,} out",
                        f"{stats.input_tokens:,}/{stats.output_tokens:,} tok",
                    )
                )
            if (rate := stats.tokens_per_second) is not None:
                figures.append(_Figure(f"{rate:.0f} tok/s", f"{rate:.0f} tok/s"))
            if stats.ttft is not None:
                figures.append(_Figure(f"first token {stats.ttft * 1000:.0f} ms", f"ttft {stats.ttft * 1000:.0f} ms"))
        return figures


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…" if width > 0 else ""
