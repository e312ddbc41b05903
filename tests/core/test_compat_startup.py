"""Canary for the private part of pydantic-ai that start-up touches (read in xsus_tui/core/compat.py)."""

from __future__ import annotations

import pydantic_ai.models as models
from pydantic_ai.messages import ModelResponse, TextPart
from pydantic_ai.models.function import FunctionModel

from xsus_tui.core import compat


def _reply(messages, info) -> ModelResponse:
    return ModelResponse(parts=[TextPart("hi")])


def test_a_model_built_while_price_data_is_deferred_does_not_load_it(monkeypatch) -> None:
    assert callable(getattr(models, "preload_pricing_data", None)), (
        "pydantic_ai.models.preload_pricing_data is gone: update compat.price_data_deferred"
    )
    calls: list[str] = []
    monkeypatch.setattr(models, "preload_pricing_data", lambda: calls.append("loaded"))
    FunctionModel(_reply)
    assert calls == ["loaded"], "Model.__init__ no longer calls preload_pricing_data: update compat.price_data_deferred"
    with compat.price_data_deferred():
        FunctionModel(_reply)
    assert calls == ["loaded"]
    FunctionModel(_reply)  # put back afterwards
    assert calls == ["loaded", "loaded"]


def test_the_price_data_loads_and_prices_a_known_model() -> None:
    compat.load_price_data()
    from genai_prices import calc_price
    from genai_prices.types import Usage

    assert calc_price(Usage(input_tokens=1000), model_ref="gpt-4o", provider_id="openai").total_price > 0
