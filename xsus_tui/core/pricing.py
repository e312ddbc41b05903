"""Prices and context windows from pydantic-ai (genai-prices underneath), for `core/usage.py`'s totals.

A price is `ModelResponse.cost()`: each response priced with its own model and provider, so a conversation that
switched models with `/model` is priced right. A context window is the model's `context_window` (its profile, or
genai-prices). When either is unknown the answer is None: never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic_ai.messages import ModelMessagesTypeAdapter, ModelResponse

from . import compat
from .usage import UsageTotals


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


def conversation_usage(messages: Iterable[Any], pricer: Pricer | None = None) -> tuple[UsageTotals, int | None]:
    """The totals of `messages` (a conversation's current branch) and the context its latest response with usage
    left behind (None before one)."""
    price = pricer or Pricer()
    total = UsageTotals()
    context: int | None = None
    for message in messages:
        if not isinstance(message, ModelResponse):
            continue
        usage = message.usage
        input_tokens, output_tokens = usage.input_tokens or 0, usage.output_tokens or 0
        cost = float(usage.cost) if usage.cost is not None else None
        if cost is None and (input_tokens or output_tokens) and not usage.unmeasured_requests:
            cost = price(message)
        total += UsageTotals.of_response(input_tokens, output_tokens, usage.cache_read_tokens or 0, cost)
        context = compat.context_tokens(message) or context
    return total, context


def context_window(model: Any) -> int | None:
    """The context window of a pydantic-ai model (a `Model`), None when unknown or not a model yet (a model name
    an `--agent` gave as a string is only resolved by its first run: its first response reports it)."""
    try:
        window = model.context_window
    except Exception:  # a profile that can't be resolved here (a provider needing a key it doesn't have)
        return None
    return window if isinstance(window, int) and window > 0 else None
