"""Steering end to end: a message queued while a turn runs reaches the provider in the run's next request (the real
`openai` client against the loopback server), in the place the store keeps it."""

from __future__ import annotations

import asyncio

from pydantic_ai import Agent

from xsus_tui.core.agents import ChatAgent, make_model
from xsus_tui.core.events import Steered, TurnCancelled, TurnFinished
from xsus_tui.core.session import ChatSession
from xsus_tui.core.steering import is_steered
from xsus_tui.core.store import SQLiteConversationStore

from .loopback import JSON, OpenAICompatServer, Reply, hang_reply, text_reply, tool_call_reply
from .test_openai_stream import collect, content_text

MODEL = "openai-chat:test-model"


def clock_agent(entered: asyncio.Event, release: asyncio.Event) -> ChatAgent:
    agent = Agent(make_model(MODEL))

    @agent.tool_plain
    async def clock(timezone: str) -> str:
        entered.set()
        await release.wait()
        return f"12:00 in {timezone}"

    return ChatAgent(agent=agent, label="test")


async def test_a_queued_message_goes_out_in_the_next_request_after_the_tool_result(
    server: OpenAICompatServer, store: SQLiteConversationStore
) -> None:
    def script(body: JSON) -> Reply:
        if len(server.requests) == 1:
            return tool_call_reply("clock", {"timezone": "UTC"}, call_id="call_1")
        return text_reply("UTC is 12:00, and I'll check Tokyo next.", chunks=4)

    server.script = script
    entered, release = asyncio.Event(), asyncio.Event()
    session = ChatSession(clock_agent(entered, release), store)
    turn = asyncio.ensure_future(collect(session.run_turn("what time is it?")))
    await asyncio.wait_for(entered.wait(), 4)
    session.queue_message("also in Tokyo, please")
    release.set()
    events = await turn

    assert isinstance(events[-1], TurnFinished)
    assert [e.text for e in events if isinstance(e, Steered)] == ["also in Tokyo, please"]
    first, second = server.requests
    assert "Tokyo" not in str(first)
    roles = [(m["role"], content_text(m)) for m in second["messages"] if m["role"] != "system"]
    # What the provider received: the prompt, the call, its result, then the queued message.
    assert [role for role, _ in roles] == ["user", "assistant", "tool", "user"]
    assert roles[0][1] == "what time is it?" and roles[2][1] == "12:00 in UTC"
    assert roles[3][1] == "also in Tokyo, please"
    stored = (await store.load(session.conversation.conversation_id)).messages
    assert [is_steered(m) for m in stored] == [False, False, False, True, False]


async def test_an_interrupt_before_the_answer_gives_the_delivered_message_back(
    server: OpenAICompatServer, store: SQLiteConversationStore
) -> None:
    def script(body: JSON) -> Reply:
        if len(server.requests) == 1:
            return tool_call_reply("clock", {"timezone": "UTC"}, call_id="call_1")
        return hang_reply()  # the model never answers it: Esc comes first

    server.script = script
    entered, release = asyncio.Event(), asyncio.Event()
    session = ChatSession(clock_agent(entered, release), store)
    turn = asyncio.ensure_future(collect(session.run_turn("what time is it?")))
    await asyncio.wait_for(entered.wait(), 4)
    session.queue_message("and Tokyo")
    release.set()
    await server.wait_for(lambda: len(server.requests) == 2)
    session.cancel()
    events = await turn
    assert isinstance(events[-1], TurnCancelled)
    assert [e.text for e in events if isinstance(e, Steered)] == ["and Tokyo"]
    # The provider was sent it, nothing answered it: back to the input, not left unanswered in the history.
    assert "and Tokyo" in str(server.requests[1])
    assert [q.text for q in session.take_queued()] == ["and Tokyo"]
    stored = (await store.load(session.conversation.conversation_id)).messages
    assert not any(is_steered(m) for m in stored)
    await server.wait_for(lambda: server.client_disconnects >= 1)
