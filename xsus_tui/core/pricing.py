"""Prices and context windows from pydantic-ai (genai-prices underneath), for `core/usage.py`'s totals.

A price is `ModelResponse.cost()`: each response priced with its own model and provider, so a conversation that
switched models with `/model` is priced right. A context window is the model's `context_window` (its profile, or
genai-prices). When either is unknown the answer is None: never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass, replace
from typing import Any

from pydantic_ai.messages import CompactionPart, ModelMessagesTypeAdapter, ModelResponse, UserPromptPart

from . import compat
from .events import ResponseUsage
from .usage import COMPACTION_KEY, ContextUse, UsageFigures, UsageTotals, carried


class Pricer:
    """Prices responses whose `usage.cost` pydantic-ai left unset (stored by an older version), remembering which
    models genai-prices doesn't know, so a long conversation on the demo model doesn't ask it again per response."""

    def __init__(self) -> None:
        self._unknown: set[tuple[str | None, str | None, str | None]] = set()

    def __call__(self, response: ModelResponse) -> float | None:
        key = (response.model_name, response.provider_name, response.provider_url)
        if key in self._unknown or not response.model_name:
            return None
        try:
            return float(response.cost().total_price)
        except (LookupError, AssertionError):  # genai-prices doesn't know the model or the provider
            self._unknown.add(key)
            return None
        except Exception:  # usage it can't price (ValueError), or genai-prices failing: unknown, this once
            return None

    def stored(self, data: dict[str, Any]) -> float | None:
        """A stored response (its JSON as a dict) priced, for the index."""
        if (data.get("model_name"), data.get("provider_name"), data.get("provider_url")) in self._unknown:
            return None  # before validating it: the demo model's responses come by the thousand
        try:
            response = ModelMessagesTypeAdapter.validate_python([data])[0]
        except Exception:
            return None
        return self(response) if isinstance(response, ModelResponse) else None


def conversation_usage(messages: Iterable[Any], pricer: Pricer | None = None) -> ConversationUsage:
    """The usage of `messages` (a conversation's current branch): its totals, its last turn's (the responses after
    its last prompt) and the context its latest response with usage left behind."""
    price = pricer or Pricer()
    total, turn = UsageTotals(), None
    context: int | None = None
    stale_until = 0  # the messages a /compact kept were answered before it: their context is not the compacted one
    for index, message in enumerate(messages):
        if not isinstance(message, ModelResponse):
            if any(isinstance(part, UserPromptPart) for part in message.parts):
                turn = None  # a turn starts
            for part in message.parts:
                if isinstance(part, CompactionPart) and (earlier := carried(part.metadata)) is not None:
                    total, context = total + earlier, None
                    facts = (part.metadata or {}).get(COMPACTION_KEY, {})
                    stale_until = index + (facts.get("kept") if isinstance(facts.get("kept"), int) else 0)
            continue
        usage = message.usage
        input_tokens, output_tokens = usage.input_tokens or 0, usage.output_tokens or 0
        cost = float(usage.cost) if usage.cost is not None else None
        if cost is None and (input_tokens or output_tokens) and not usage.unmeasured_requests:
            cost = price(message)
        one = UsageTotals.of_response(input_tokens, output_tokens, usage.cache_read_tokens or 0, cost)
        total, turn = total + one, (turn or UsageTotals()) + one
        if index >= stale_until:
            context = compat.context_tokens(message) or context
    return ConversationUsage(total=total, turn=turn, context_tokens=context)


@dataclass(frozen=True, slots=True)
class ConversationUsage:
    """What `conversation_usage` finds."""

    _: KW_ONLY
    total: UsageTotals
    """Over every response."""
    turn: UsageTotals | None
    """Over the responses after the last prompt; None when it has none (a new chat, a prompt not answered)."""
    context_tokens: int | None
    """The context the latest response with usage left behind."""


class UsageTracker:
    """A chat's usage figures: worked out from the conversation when it changes (opened, switched, a version
    shown, a turn interrupted), added to as each response of a turn reports (`ResponseUsage`, once per request:
    nothing per delta)."""

    def __init__(self) -> None:
        self._pricer = Pricer()
        self.figures = UsageFigures()
        """What the status line shows now."""

    def reset(self, messages: Iterable[Any], model: Any) -> UsageFigures:
        found = conversation_usage(messages, self._pricer)
        context = ContextUse(tokens=found.context_tokens, window=context_window(model))
        self.figures = UsageFigures(turn=found.turn, total=found.total, context=context)
        return self.figures

    def switch_model(self, model: Any) -> UsageFigures:
        """Another model from now on: the context is measured against its window."""
        context = replace(self.figures.context, window=context_window(model))
        self.figures = replace(self.figures, context=context)
        return self.figures

    def begin_turn(self) -> UsageFigures:
        self.figures = replace(self.figures, turn=None)
        return self.figures

    def add(self, event: ResponseUsage) -> UsageFigures:
        """A response of the turn streaming now; the window is the one of the model that answered, when known."""
        one = UsageTotals.of_event(event)
        figures = self.figures
        context = ContextUse(
            tokens=event.context_tokens or figures.context.tokens,
            window=event.context_window if event.context_window is not None else figures.context.window,
        )
        self.figures = UsageFigures(
            turn=(figures.turn or UsageTotals()) + one, total=figures.total + one, context=context
        )
        return self.figures


def context_window(model: Any) -> int | None:
    """The context window of a pydantic-ai model (a `Model`), None when unknown or not a model yet (a model name
    an `--agent` gave as a string is only resolved by its first run: its first response reports it)."""
    try:
        window = model.context_window
    except Exception:  # a profile that can't be resolved here (a provider needing a key it doesn't have)
        return None
    return window if isinstance(window, int) and window > 0 else None
