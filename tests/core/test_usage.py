"""Usage, cost and context: the figures, pricing known and unknown models, the per-conversation totals the store
keeps (also for conversations stored before they existed) and the read-only reader's view of them."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest
from pydantic_ai.conversation import Conversation
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.usage import RequestUsage

from xsus_tui.core import pricing, usage_index
from xsus_tui.core.reader import HistoryReader
from xsus_tui.core.retrying import response_usage
from xsus_tui.core.store import SQLiteConversationStore
from xsus_tui.core.usage import (
    ContextUse,
    UsageTotals,
    format_context,
    format_cost,
    format_tokens,
    format_usage,
    format_usd,
    meter,
)

MINI_IN, MINI_OUT = Decimal("0.15") / 1_000_000, Decimal("0.6") / 1_000_000
"""genai-prices' gpt-4o-mini prices per token (USD)."""


def response(
    text: str, model: str | None, provider: str | None, input_tokens: int, output_tokens: int, cost=None
) -> ModelResponse:
    return ModelResponse(
        parts=[TextPart(text)],
        model_name=model,
        provider_name=provider,
        usage=RequestUsage(input_tokens=input_tokens, output_tokens=output_tokens, cost=cost),
    )


def turn(prompt: str, reply: ModelResponse) -> list:
    return [ModelRequest(parts=[UserPromptPart(prompt)]), reply]


# -- how figures are written --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0"), (999, "999"), (1000, "1k"), (1234, "1.2k"), (99_949, "99.9k"), (123_456, "123k"), (999_999, "1M"),
     (1_234_567, "1.2M"), (4_000_000_000, "4B")],
)  # fmt: skip
def test_token_counts_are_short(count, text) -> None:
    assert format_tokens(count) == text


@pytest.mark.parametrize(
    ("cost", "text"),
    [(0, "$0"), (0.00001, "<$0.0001"), (0.000195, "$0.0002"), (0.0012, "$0.0012"), (0.42, "$0.4200"),
     (12.3, "$12.30"), (1234.5, "$1,234")],
)  # fmt: skip
def test_dollars_are_rounded_for_reading(cost, text) -> None:
    assert format_usd(cost) == text


def test_a_cost_is_unknown_never_guessed() -> None:
    known = UsageTotals.of_response(1000, 100, 0, 0.0012)
    unknown = UsageTotals.of_response(1000, 100, 0, None)
    assert format_cost(known) == "$0.0012"
    assert format_cost(unknown) == "cost unknown"
    assert format_cost(known + unknown) == "$0.0012 + unknown"
    assert format_cost(known + unknown, short=True) == "≥$0.0012"
    # A response with no tokens (no usage reported) has nothing to price: it doesn't make the total unknown.
    assert (known + UsageTotals.of_response(0, 0, 0, None)).priced
    both = known + UsageTotals.of_response(2_000_000, 500, 300, 0.5)
    assert format_usage(both) == "2M in (300 cached) · 600 out · $0.5012"
    assert format_usage(both, short=True) == "2M/600 tok · $0.5012"


def test_the_context_meter_fills_and_warns_at_80_percent() -> None:
    assert format_context(ContextUse(tokens=None, window=128_000)) is None  # no response yet
    assert format_context(ContextUse(tokens=5000, window=None)) == "context size unknown"
    low = ContextUse(tokens=12_800, window=128_000)
    assert (low.fraction, low.warn) == (0.1, False)
    assert format_context(low) == "ctx ▰▱▱▱▱ 10% of 128k"
    assert format_context(low, short=True) == "ctx 10%"
    assert not ContextUse(tokens=102_399, window=128_000).warn
    full = ContextUse(tokens=102_400, window=128_000)
    assert full.warn and format_context(full) == "ctx ▰▰▰▰▱ 80% of 128k"
    assert format_context(ContextUse(tokens=300_000, window=128_000)) == "ctx ▰▰▰▰▰ 234% of 128k"
    assert meter(0.0) == "▱▱▱▱▱" and meter(0.01) == "▰▱▱▱▱" and meter(1.0) == "▰▰▰▰▰"


# -- pricing with genai-prices ------------------------------------------------------------------------------------


def test_a_known_model_is_priced_and_an_unknown_one_is_not() -> None:
    known = response_usage(1, response("a", "gpt-4o-mini", "openai", 1_000_000, 1_000_000), 128_000)
    assert known.cost == pytest.approx(float(MINI_IN * 1_000_000 + MINI_OUT * 1_000_000))
    assert (known.context_tokens, known.context_window) == (2_000_000, 128_000)
    unknown = response_usage(1, response("a", "demo", "function", 100, 10))
    assert unknown.cost is None and unknown.context_window is None
    assert format_cost(UsageTotals.of_event(unknown)) == "cost unknown"


def test_mixed_models_are_each_priced_with_their_own() -> None:
    messages = [
        *turn("a", response("x", "gpt-4o-mini", "openai", 1000, 100)),
        *turn("b", response("y", "gpt-4o", "openai", 1000, 100)),
        *turn("c", response("z", "demo", "function", 50, 5)),
    ]
    found = pricing.conversation_usage(messages)
    total, context = found.total, found.context_tokens
    mini = response("x", "gpt-4o-mini", "openai", 1000, 100).cost().total_price
    big = response("y", "gpt-4o", "openai", 1000, 100).cost().total_price
    assert big > mini * 10
    assert total.cost == pytest.approx(float(mini + big))
    assert (total.input_tokens, total.output_tokens, total.responses, total.unpriced) == (2050, 205, 3, 1)
    assert context == 55  # the latest response's input plus output
    assert found.turn.tokens == 55  # the last turn: the responses after the last prompt


def test_a_cost_pydantic_ai_filled_in_is_taken_as_it_is() -> None:
    total = pricing.conversation_usage(turn("a", response("x", "demo", "function", 10, 1, Decimal("0.5")))).total
    assert (total.cost, total.unpriced) == (0.5, 0)


def test_the_pricer_asks_genai_prices_once_per_unknown_model(monkeypatch) -> None:
    asked = []
    real = ModelResponse.cost

    def counting(self):
        asked.append(self.model_name)
        return real(self)

    monkeypatch.setattr(ModelResponse, "cost", counting)
    pricer = pricing.Pricer()
    replies = [response(str(n), "demo", "function", 10, 1) for n in range(5)]
    assert [pricer(r) for r in replies] == [None] * 5
    assert [pricer(response("m", "gpt-4o-mini", "openai", 10, 1)) for _ in range(2)] != [None, None]
    assert asked == ["demo", "gpt-4o-mini", "gpt-4o-mini"]


def test_the_context_window_comes_from_the_model_or_is_unknown() -> None:
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url="http://127.0.0.1:9/v1", api_key="dummy")
    assert pricing.context_window(OpenAIChatModel("gpt-4o-mini", provider=provider)) == 128_000
    assert pricing.context_window(FunctionModel(lambda m, i: None)) is None
    assert pricing.context_window("openai:gpt-4o") is None  # a name not resolved into a model yet


# -- what the store keeps per conversation ------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    store = SQLiteConversationStore.open(tmp_path / "history.db")
    yield store
    store.close()


async def test_each_conversation_lists_its_totals(store, tmp_path) -> None:
    priced = Conversation(messages=turn("a", response("x", "gpt-4o-mini", "openai", 1000, 100)))
    await store.save(priced)
    priced.messages += turn("b", response("y", "gpt-4o-mini", "openai", 2000, 200))
    await store.save(priced)
    demo = Conversation(messages=turn("c", response("z", "demo", "function", 40, 4)))
    await store.save(demo)
    rows = {row.conversation_id: row.usage for row in store.summaries()}
    expected = float(MINI_IN * 3000 + MINI_OUT * 300)
    assert rows[priced.conversation_id].cost == pytest.approx(expected)
    assert (rows[priced.conversation_id].input_tokens, rows[priced.conversation_id].output_tokens) == (3000, 300)
    assert rows[priced.conversation_id].priced
    assert (rows[demo.conversation_id].tokens, rows[demo.conversation_id].unpriced) == (44, 1)
    assert (await store.summary(demo.conversation_id)).usage == rows[demo.conversation_id]
    # The read-only reader (no pydantic-ai) sees the same.
    reader = HistoryReader.open(tmp_path / "history.db")
    try:
        assert {row.conversation_id: row.usage for row in reader.summaries()} == rows
        assert reader.summary(priced.conversation_id).usage == rows[priced.conversation_id]
    finally:
        reader.close()


async def test_the_totals_follow_the_current_branch(store) -> None:
    conversation = Conversation(messages=turn("a", response("x", "gpt-4o-mini", "openai", 1000, 100)))
    await store.save(conversation)
    conversation.messages += turn("b", response("y", "gpt-4o-mini", "openai", 5000, 500))
    await store.save(conversation)
    revision = (await store.load(conversation.conversation_id)).revision
    await store.branch(conversation.conversation_id, at=2, expected_revision=revision)  # back to the first reply
    [row] = store.summaries()
    assert (row.usage.input_tokens, row.usage.output_tokens, row.usage.responses) == (1000, 100, 1)


async def test_conversations_stored_before_totals_existed_are_counted_at_open(tmp_path) -> None:
    path = tmp_path / "history.db"
    store = SQLiteConversationStore.open(path)
    old = Conversation(messages=turn("a", response("x", "gpt-4o-mini", "openai", 1000, 100)))
    old.messages += turn("b", response("y", "demo", "function", 10, 1))
    await store.save(old)
    store.close()
    with sqlite3.connect(path) as db:  # as an xsus without usage columns left it: nothing counted, no costs stored
        db.execute("UPDATE entries SET message = json_remove(message, '$.usage.cost')")
        db.execute(f"UPDATE entries SET {' = NULL, '.join(usage_index.ENTRY_COLUMNS)} = NULL")
        db.execute(f"UPDATE conversations SET {' = NULL, '.join(usage_index.CONVERSATION_COLUMNS)} = NULL")
    reader = HistoryReader.open(path)
    assert reader.summaries()[0].usage is None  # not counted yet: no totals rather than zero
    reader.close()
    store = SQLiteConversationStore.open(path)
    try:
        [row] = store.summaries()
        assert row.usage.cost == pytest.approx(float(MINI_IN * 1000 + MINI_OUT * 100))  # priced at open
        assert (row.usage.tokens, row.usage.unpriced) == (1111, 1)
        # A conversation an older xsus saved to (its new entries uncounted) is counted through to its head.
        with sqlite3.connect(path) as db:
            db.execute(f"UPDATE entries SET {' = NULL, '.join(usage_index.ENTRY_COLUMNS)} = NULL")
        loaded = await store.load(old.conversation_id)
        loaded.messages += turn("c", response("z", "gpt-4o-mini", "openai", 100, 10))
        await store.save(loaded)
        [row] = store.summaries()
        assert row.usage.tokens == 1221 and row.usage.responses == 3
    finally:
        store.close()


def test_a_database_without_the_columns_lists_without_totals(tmp_path) -> None:
    path = tmp_path / "history.db"
    SQLiteConversationStore.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO conversations (conversation_id, revision, scope, updated_at, created_at, title, record)"
            " VALUES ('c1', 'r', NULL, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00', 't', '{}')"
        )
        for column in usage_index.CONVERSATION_COLUMNS:
            db.execute(f"ALTER TABLE conversations DROP COLUMN {column}")
    reader = HistoryReader.open(path)
    try:
        assert [(row.title, row.usage) for row in reader.summaries()] == [("t", None)]
    finally:
        reader.close()
