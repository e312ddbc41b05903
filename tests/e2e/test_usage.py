"""Usage end to end: `openai-chat:gpt-4o-mini` over the real `openai` client against the loopback server shows
tokens, a price and the context meter after one turn; an unknown model says so; a full context warns; a tool turn
of several requests adds them all; the total is stored and shown again when the conversation is resumed."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from decimal import Decimal

from pydantic_ai import Agent
from textual.pilot import Pilot

from xsus_tui.core.agents import ChatAgent, build_chat_agent, make_model
from xsus_tui.core.demo_tools import calculator
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore
from xsus_tui.ui.app import XsusApp

from .loopback import OpenAICompatServer, text_reply, tool_call_reply

MINI_IN, MINI_OUT = Decimal("0.15") / 1_000_000, Decimal("0.6") / 1_000_000
"""genai-prices' gpt-4o-mini prices per token (USD)."""


async def _wait_for(pilot: Pilot, condition: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await pilot.pause(0.02)


def status_line(app: XsusApp) -> str:
    return app.chat_screen.status.render().plain


async def one_turn(app: XsusApp, pilot: Pilot, prompt: str = "hello") -> None:
    await pilot.press(*prompt)
    await pilot.press("enter")
    screen = app.chat_screen
    await _wait_for(pilot, lambda: bool(screen.replies) and screen.replies[-1].state != "streaming")
    await _wait_for(pilot, lambda: not screen.session.busy and screen.status.state == "idle")


async def test_a_known_model_shows_tokens_a_price_and_the_context_meter(
    server: OpenAICompatServer, store: SQLiteConversationStore
) -> None:
    server.model = "gpt-4o-mini"  # what the provider reports back: genai-prices knows it
    reply = dataclasses.replace(text_reply("Priced and measured.", chunks=4), prompt_tokens=12_800)
    server.script = [reply]
    app = XsusApp(ChatSession(build_chat_agent("openai-chat:gpt-4o-mini"), store))
    async with app.run_test(size=(180, 30)) as pilot:
        await one_turn(app, pilot)
        line = status_line(app)
        cost = float(MINI_IN * 12_800 + MINI_OUT * 4)
        assert f"${cost:.4f}" in line, line
        assert f"turn 12.8k in / 4 out ${cost:.4f}" in line and f"total 12.8k tok, ${cost:.4f}" in line, line
        assert "ctx ▰▱▱▱▱ 10% of 128k" in line, line
        assert "cost unknown" not in line and "⚠" not in line
    [row] = store.summaries()
    assert row.usage is not None and row.usage.cost == float(MINI_IN * 12_800 + MINI_OUT * 4)
    assert (row.usage.input_tokens, row.usage.output_tokens) == (12_800, 4)


async def test_an_unknown_model_says_cost_and_context_unknown(
    server: OpenAICompatServer, store: SQLiteConversationStore
) -> None:
    server.script = [text_reply("Who knows what I cost.", chunks=3)]  # the server reports "test-model"
    app = XsusApp(ChatSession(build_chat_agent("openai-chat:test-model"), store))
    async with app.run_test(size=(180, 30)) as pilot:
        await one_turn(app, pilot)
        line = status_line(app)
        assert "cost unknown" in line and "context size unknown" in line and "$" not in line, line
        assert "turn 10 in / 3 out" in line and "total 13 tok, cost unknown" in line  # tokens, without a meter
    [row] = store.summaries()
    assert row.usage.tokens == 13 and not row.usage.priced


async def test_the_meter_warns_from_80_percent(server: OpenAICompatServer, store: SQLiteConversationStore) -> None:
    server.model = "gpt-4o-mini"
    server.script = [
        dataclasses.replace(text_reply("Roomy.", chunks=2), prompt_tokens=90_000),
        dataclasses.replace(text_reply("Nearly full.", chunks=2), prompt_tokens=110_000),
    ]
    app = XsusApp(ChatSession(build_chat_agent("openai-chat:gpt-4o-mini"), store))
    async with app.run_test(size=(180, 30)) as pilot:
        status = app.chat_screen.status

        def meter_style() -> str:
            content = status.render()
            [span] = [s for s in content.spans if "ctx" in content.plain[s.start : s.end]]
            return str(span.style)

        await one_turn(app, pilot, "one")
        assert "ctx ▰▰▰▰▱ 70% of 128k" in status_line(app) and "⚠" not in status_line(app)
        assert "warning" not in meter_style()
        await one_turn(app, pilot, "two")
        assert "⚠ ctx ▰▰▰▰▰ 86% of 128k" in status_line(app), status_line(app)
        assert "warning" in meter_style()
        # At 60 columns the meter is the last figure to go, and it still warns.
        await pilot.resize_terminal(60, 30)
        await _wait_for(pilot, lambda: status.content_size.width <= 60)
        line = status_line(app)
        assert len(line) <= 60 and "⚠ ctx" in line, line


async def test_a_tool_turn_adds_up_its_requests_and_is_shown_again_when_resumed(
    server: OpenAICompatServer, store: SQLiteConversationStore, tmp_path
) -> None:
    server.model = "gpt-4o-mini"
    server.script = [
        dataclasses.replace(tool_call_reply("calculator", {"expression": "6*7"}), prompt_tokens=1000),
        dataclasses.replace(text_reply("It is 42.", chunks=3), prompt_tokens=1100),
    ]
    chat_agent = ChatAgent(agent=Agent(make_model("openai-chat:gpt-4o-mini"), tools=[calculator]), label="mini")
    app = XsusApp(ChatSession(chat_agent, store))
    async with app.run_test(size=(180, 30)) as pilot:
        await one_turn(app, pilot, "what is 6*7")
        line = status_line(app)
        assert len(server.requests) == 2
        assert "turn 2.1k in / 7 out $0.0003" in line, line  # both requests (a call in 4 chunks, then 3 chunks)
        conversation_id = app.chat_screen.session.conversation.conversation_id
    [row] = store.summaries()
    assert (row.usage.responses, row.usage.input_tokens) == (2, 2100)
    # Resumed: the same figures, from what was stored.
    resumed = await store.load(conversation_id)
    app = XsusApp(ChatSession(chat_agent, store, conversation=resumed))
    async with app.run_test(size=(180, 30)) as pilot:
        await _wait_for(pilot, lambda: app.chat_screen.status.usage is not None)
        line = status_line(app)
        assert "turn 2.1k in / 7 out $0.0003  ·  total 2.1k tok, $0.0003  ·  ctx ▰▱▱▱▱ 1% of 128k" in line, line


async def test_a_full_context_offers_compact_once_and_compacting_keeps_the_cost_and_forgets_the_old_context(
    server: OpenAICompatServer, store: SQLiteConversationStore
) -> None:
    server.model = "gpt-4o-mini"
    server.script = [
        dataclasses.replace(text_reply("One.", chunks=2), prompt_tokens=50_000),
        dataclasses.replace(text_reply("Two.", chunks=2), prompt_tokens=110_000),  # 86%: offered
        dataclasses.replace(text_reply("Three.", chunks=2), prompt_tokens=112_000),  # still full: not again
        dataclasses.replace(text_reply("They talked about numbers.", chunks=3), prompt_tokens=20_000),  # the summary
        dataclasses.replace(text_reply("Four.", chunks=2), prompt_tokens=3_000),
    ]
    offer = "The context window is 86% full"
    app = XsusApp(ChatSession(build_chat_agent("openai-chat:gpt-4o-mini"), store))
    async with app.run_test(size=(180, 40)) as pilot:
        screen = app.chat_screen
        await one_turn(app, pilot, "one")
        assert "/compact replaces" not in _notices(app)
        await one_turn(app, pilot, "two")
        assert any(offer in notice for notice in _notices(app)), _notices(app)
        await one_turn(app, pilot, "three")
        assert sum("/compact replaces" in notice for notice in _notices(app)) == 1  # once, not after every turn
        await pilot.press(*"/compact")
        await pilot.press("enter")
        await _wait_for(pilot, lambda: any("Compacted: 2 turns" in n for n in _notices(app)))
        summary_request = server.requests[3]
        assert "tools" not in summary_request and "one" in str(summary_request["messages"])
        line = status_line(app)
        assert "ctx" not in line, line  # the kept turn's context was measured before: unknown until the next reply
        spent = 50_000 + 110_000 + 112_000 + 20_000 + 2 + 2 + 2 + 3
        assert "total 292k tok" in line and spent // 1000 == 292, line  # the replaced turns and the summary count
        await one_turn(app, pilot, "four")
        assert "ctx ▰▱▱▱▱ 2% of 128k" in status_line(app), status_line(app)
        assert not any("/compact replaces" in notice for notice in _notices(app))  # (the chat was shown again)
        conversation_id = screen.session.conversation.conversation_id
    [row] = store.summaries()
    assert row.usage.tokens == spent + 3_000 + 2
    loaded = await store.load(conversation_id)
    assert loaded.messages[0].parts[0].part_kind == "compaction"


def _notices(app: XsusApp) -> list[str]:
    return [str(widget.render()) for widget in app.chat_screen.query(".notice")]
