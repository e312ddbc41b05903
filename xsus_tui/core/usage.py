"""Token usage, price and context: totals per turn and per conversation, and how they are written.

Standard library only: the browser and `xsus history list` (which never import pydantic-ai) format what the
index keeps with the same functions the status line uses. Prices are genai-prices' (through pydantic-ai, see
`core/pricing.py`), in US dollars; a response it can't price counts as *unpriced*, and a total with an unpriced
response never pretends to be complete ("cost unknown", or "≥$0.0012" when part of it is known). Nothing here
estimates a price or a context window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

CONTEXT_WARN = 0.8
"""The context meter warns from this fraction of the model's window on."""
METER_CELLS = 5


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Tokens and price summed over some model responses (one turn's, or a conversation's current branch)."""

    _: KW_ONLY
    input_tokens: int = 0
    """Tokens sent (cached ones included)."""
    output_tokens: int = 0
    """Tokens the model produced."""
    cache_read_tokens: int = 0
    """Input tokens read from the provider's cache (where the provider reports it)."""
    responses: int = 0
    """Model responses counted."""
    cost: float = 0.0
    """The sum of the prices genai-prices knows, in USD."""
    unpriced: int = 0
    """Responses with tokens that genai-prices could not price (unknown model or provider): `cost` misses them."""

    def __add__(self, other: UsageTotals) -> UsageTotals:
        return UsageTotals(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            responses=self.responses + other.responses,
            cost=self.cost + other.cost,
            unpriced=self.unpriced + other.unpriced,
        )

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def priced(self) -> bool:
        """Whether every response with tokens has a price (the cost is the whole cost)."""
        return self.unpriced == 0

    @classmethod
    def of_response(
        cls, input_tokens: int, output_tokens: int, cache_read_tokens: int, cost: float | None
    ) -> UsageTotals:
        """One response. A response without tokens has nothing to price (a provider that reported no usage, a
        response cut off before any): it is not counted as unpriced."""
        unpriced = cost is None and (input_tokens or output_tokens) > 0
        return cls(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens,
            responses=1,
            cost=cost or 0.0,
            unpriced=int(unpriced),
        )

    @classmethod
    def of_event(cls, event: Any) -> UsageTotals:
        """From a `ResponseUsage` event."""
        return cls.of_response(event.input_tokens, event.output_tokens, event.cache_read_tokens, event.cost)


@dataclass(frozen=True, slots=True)
class ContextUse:
    """How full the model's context window is, as of the latest response."""

    _: KW_ONLY
    tokens: int | None = None
    """The context the latest response left behind (its input plus its output), None before any response."""
    window: int | None = None
    """The model's context window in tokens; None when neither the model's profile nor genai-prices knows it."""

    @property
    def fraction(self) -> float | None:
        if self.tokens is None or not self.window or self.window <= 0:
            return None
        return self.tokens / self.window

    @property
    def warn(self) -> bool:
        """From `CONTEXT_WARN` (80%) of the window on."""
        fraction = self.fraction
        return fraction is not None and fraction >= CONTEXT_WARN


@dataclass(frozen=True, slots=True)
class UsageFigures:
    """What a chat shows about usage (the status line): the latest turn's, the conversation's, the context."""

    _: KW_ONLY
    turn: UsageTotals | None = None
    """The latest turn's (this one's while it streams, from its first response on); None before one."""
    total: UsageTotals = field(default_factory=UsageTotals)
    """The conversation's current branch."""
    context: ContextUse = field(default_factory=ContextUse)
    """How full the context window is after the latest response."""


# -- from stored messages --------------------------------------------------------------------------------------


COMPACTION_KEY = "xsus_compaction"
"""The metadata key of a summary /compact wrote (`compaction.METADATA_KEY`; this module stays free of pydantic-ai)."""


def carried(metadata: Any) -> UsageTotals | None:
    """What the turns a /compact summary replaced, and the summary's own request, cost: kept in the summary's
    metadata so the conversation's totals still count it (None for metadata without it)."""
    facts = metadata.get(COMPACTION_KEY) if isinstance(metadata, dict) else None
    usage = facts.get("usage") if isinstance(facts, dict) else None
    if not isinstance(usage, dict):
        return None
    cost = usage.get("cost")
    return UsageTotals(
        input_tokens=_int(usage.get("input_tokens")),
        output_tokens=_int(usage.get("output_tokens")),
        cache_read_tokens=_int(usage.get("cache_read_tokens")),
        responses=_int(usage.get("responses")),
        cost=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0 else 0.0,
        unpriced=_int(usage.get("unpriced")),
    )


def stored_cost(usage: dict[str, Any]) -> float | None:
    """`usage.cost` of a stored response (pydantic-ai writes the Decimal as a string), or None."""
    cost = usage.get("cost")
    if cost is None or isinstance(cost, bool):
        return None
    try:
        value = float(cost)
    except (TypeError, ValueError):
        return None
    return value if value == value and value >= 0 else None  # not NaN, not negative


def of_stored(data: dict[str, Any], price: Callable[[dict[str, Any]], float | None] | None = None) -> UsageTotals:
    """The usage of one stored message (its JSON as a dict); empty for a request. `price` prices a response the
    store kept without a cost (saved before pydantic-ai filled it in); it is not asked for an unknown model twice
    by the callers that cache (see `pricing.StoredPricer`)."""
    if data.get("kind") != "response":
        for part in data.get("parts") or ():
            if isinstance(part, dict) and part.get("part_kind") == "compaction":
                if (usage := carried(part.get("metadata"))) is not None:
                    return usage
        return UsageTotals()
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return UsageTotals(responses=1)
    input_tokens, output_tokens = _int(usage.get("input_tokens")), _int(usage.get("output_tokens"))
    cost = stored_cost(usage)
    if cost is None and price is not None and (input_tokens or output_tokens) and data.get("model_name"):
        cost = price(data)
    return UsageTotals.of_response(input_tokens, output_tokens, _int(usage.get("cache_read_tokens")), cost)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


# -- how they are written ------------------------------------------------------------------------------------


def format_tokens(count: int) -> str:
    """`950`, `12.3k`, `1.2M`, `3.4B`: at most five characters."""
    if count < 1000:
        return str(max(0, count))
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if count >= size * 0.9995:
            value = count / size
            text = f"{value:.1f}" if value < 99.95 else f"{value:.0f}"
            return text.removesuffix(".0") + suffix
    return str(count)  # pragma: no cover


def format_usd(cost: float) -> str:
    """`$0`, `<$0.0001`, `$0.0012`, `$0.42`, `$12.30`, `$1,234`: four decimals under a dollar (prices per call
    are small), cents above it, whole dollars from 1,000."""
    if cost <= 0:
        return "$0"
    if cost < 0.00005:
        return "<$0.0001"
    if cost < 1:
        return f"${cost:.4f}"
    if cost < 1000:
        return f"${cost:,.2f}"
    return f"${cost:,.0f}"


def format_cost(total: UsageTotals, *, short: bool = False) -> str:
    """The cost of `total`: `$0.0012`; `cost unknown` when nothing of it is priced; `≥$0.0012` (short) or
    `$0.0012 + unknown` when part of it is. Nothing when there were no tokens."""
    if total.unpriced == 0:
        return format_usd(total.cost)
    if total.cost <= 0:
        return "cost ?" if short else "cost unknown"
    return f"≥{format_usd(total.cost)}" if short else f"{format_usd(total.cost)} + unknown"


def format_usage(total: UsageTotals, *, short: bool = False) -> str:
    """`1.2k in · 340 out · $0.0012` (`1.2k/340 tok · $0.0012` short); cached input noted where reported."""
    cached = f" ({format_tokens(total.cache_read_tokens)} cached)" if total.cache_read_tokens and not short else ""
    if short:
        tokens = f"{format_tokens(total.input_tokens)}/{format_tokens(total.output_tokens)} tok"
    else:
        tokens = f"{format_tokens(total.input_tokens)} in{cached} · {format_tokens(total.output_tokens)} out"
    return f"{tokens} · {format_cost(total, short=short)}"


def format_brief(total: UsageTotals | None) -> str:
    """A conversation's total in a list: `12k tok $0.0019`, `13 tok cost ?`; empty when not counted or none."""
    if total is None or not total.tokens:  # not counted yet, or responses without usage (nothing to say)
        return ""
    return f"{format_tokens(total.tokens)} tok {format_cost(total, short=True)}"


def as_json(total: UsageTotals | None) -> dict[str, Any] | None:
    """A total for JSON output: `cost` is null when nothing of it is priced, `cost_complete` false when part is."""
    if total is None:
        return None
    return {
        "input_tokens": total.input_tokens,
        "output_tokens": total.output_tokens,
        "cache_read_tokens": total.cache_read_tokens,
        "responses": total.responses,
        "cost_usd": None if total.unpriced and total.cost <= 0 else round(total.cost, 10),
        "cost_complete": total.priced,
    }


def meter(fraction: float, cells: int = METER_CELLS) -> str:
    """A bar of `cells` characters, `▰` filled (rounded up, so any use shows) and `▱` empty."""
    filled = min(cells, max(0, -int(-fraction * cells // 1))) if fraction > 0 else 0
    return "▰" * filled + "▱" * (cells - filled)


def format_context(context: ContextUse, *, short: bool = False) -> str | None:
    """`ctx ▰▰▱▱▱ 34% of 128k` (`ctx 34%` short); `context size unknown` (`ctx ?`) without a window; None
    before any response."""
    if context.tokens is None:
        return None
    fraction = context.fraction
    if fraction is None:
        return "ctx ?" if short else "context size unknown"
    percent = f"{fraction * 100:.0f}%" if fraction < 10 else ">999%"
    if short:
        return f"ctx {percent}"
    return f"ctx {meter(fraction)} {percent} of {format_tokens(context.window or 0)}"
