"""End to end: the real `openai` client (pydantic-ai's `openai-chat:` model) against a loopback server.

Every byte goes over a real TCP socket on 127.0.0.1 as HTTP/1.1 + SSE, so these tests cover what the
tests with an in-process model cannot: the SDK's stream parsing, history serialisation, and that an
interrupt really closes the HTTP connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart
from textual.pilot import Pilot

from xsus_tui.core.agents import ChatAgent, build_chat_agent, make_model
from xsus_tui.core.demo_tools import calculator
from xsus_tui.core.events import (
    TextDelta,
    ToolArgsDelta,
    ToolCallFinished,
    ToolCallRunning,
    ToolCallStarted,
    TurnCancelled,
    TurnEvent,
    TurnFinished,
)
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore
from xsus_tui.ui.app import XsusApp

from .loopback import JSON, OpenAICompatServer, Reply, messages_with_role, text_reply, tool_call_reply

MODEL = "openai-chat:test-model"
REPLY = "Streaming **works**: every chunk arrives on its own.\n\n- one\n- two\n"
LONG = "".join(f"word{i} " for i in range(200))


def content_text(message: JSON) -> str:
    """A chat message's content as text (plain string or a list of text parts)."""
    content = message.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


async def collect(turn: AsyncIterator[TurnEvent], seconds: float = 4.0) -> list[TurnEvent]:
    """All the events of a turn, which must end within `seconds`."""
    async with asyncio.timeout(seconds):
        return [event async for event in turn]


def response_text(message: ModelResponse) -> str:
    return "".join(part.content for part in message.parts if isinstance(part, TextPart))


async def stored_messages(store: SQLiteConversationStore, session: ChatSession) -> list[Any]:
    conversation = await store.load(session.conversation.conversation_id)
    assert conversation is not None
    return conversation.messages


async def test_text_streams_in_pieces_and_is_saved(server: OpenAICompatServer, store: SQLiteConversationStore) -> None:
    server.script = [text_reply(REPLY, chunks=8, delay=0.005)]
    session = ChatSession(build_chat_agent(MODEL), store)

    events = await collect(session.run_turn("hello"))

    deltas = [event.text for event in events if isinstance(event, TextDelta)]
    assert len(deltas) >= 4, deltas  # streamed, not one blob
    assert "".join(deltas) == REPLY
    assert isinstance(events[-1], TurnFinished)
    assert events[-1].output == REPLY
    assert events[-1].stats.requests == 1
    [request] = server.requests
    assert request["model"] == "test-model" and request["stream"] is True
    assert [content_text(m) for m in messages_with_role(request, "user")] == ["hello"]
    messages = await stored_messages(store, session)
    prompts = [
        p.content for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart)
    ]
    assert prompts == ["hello"]
    assert [response_text(m) for m in messages if isinstance(m, ModelResponse)] == [REPLY]


async def test_tool_call_round_trip(server: OpenAICompatServer, store: SQLiteConversationStore) -> None:
    expression = "(17 * 23) + 4**3"
    call = tool_call_reply("calculator", {"expression": expression}, pieces=4, call_id="call_calc", delay=0.005)

    def script(body: JSON) -> Reply:
        if messages_with_role(body, "tool"):
            return text_reply("The answer is **455**.", chunks=4)
        return call

    server.script = script
    chat_agent = ChatAgent(agent=Agent(make_model(MODEL), tools=[calculator]), label="test")
    session = ChatSession(chat_agent, store)

    events = await collect(session.run_turn("what is (17 * 23) + 4**3?"))

    kinds = [type(event) for event in events]
    started = next(e for e in events if isinstance(e, ToolCallStarted))
    args = [e for e in events if isinstance(e, ToolArgsDelta)]
    running = next(e for e in events if isinstance(e, ToolCallRunning))
    finished = next(e for e in events if isinstance(e, ToolCallFinished))
    assert started.tool_name == "calculator" and started.call_id == "call_calc"
    assert len(args) >= 2 and {e.call_id for e in args} == {"call_calc"}
    assert started.args + "".join(e.delta for e in args) == f'{{"expression": "{expression}"}}'
    assert running.args == {"expression": expression}
    assert finished.ok and finished.result == "455" and finished.tool_name == "calculator"
    first_text = kinds.index(TextDelta)
    assert kinds.index(ToolCallStarted) < kinds.index(ToolArgsDelta) < kinds.index(ToolCallRunning)
    assert kinds.index(ToolCallRunning) < kinds.index(ToolCallFinished) < first_text
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "The answer is **455**."
    assert isinstance(events[-1], TurnFinished) and events[-1].stats.requests == 2

    assert len(server.requests) == 2
    assert server.requests[0]["tools"][0]["function"]["name"] == "calculator"
    [tool_message] = messages_with_role(server.requests[1], "tool")
    assert tool_message["tool_call_id"] == "call_calc" and content_text(tool_message) == "455"
    [assistant] = messages_with_role(server.requests[1], "assistant")
    [sent_call] = assistant["tool_calls"]
    assert sent_call["id"] == "call_calc" and sent_call["function"]["name"] == "calculator"


async def test_interrupt_closes_the_connection(server: OpenAICompatServer, store: SQLiteConversationStore) -> None:
    server.script = [text_reply(LONG, chunks=200, delay=0.02), text_reply("Again, in full.", chunks=3)]
    session = ChatSession(build_chat_agent(MODEL), store)
    before = asyncio.all_tasks()

    events: list[TurnEvent] = []
    cancelled_at = ended_at = 0.0
    async with asyncio.timeout(3):
        async for event in session.run_turn("hello"):
            events.append(event)
            if not cancelled_at and sum(isinstance(e, TextDelta) for e in events) >= 3:
                session.cancel()
                cancelled_at = time.perf_counter()
            if isinstance(event, TurnCancelled):
                ended_at = time.perf_counter()

    ending = events[-1]
    assert isinstance(ending, TurnCancelled), ending
    assert cancelled_at and ended_at - cancelled_at < 0.1, f"stopped {ended_at - cancelled_at:.3f} s after cancel"
    assert ending.partial_text and LONG.startswith(ending.partial_text) and ending.partial_text != LONG
    assert ending.partial_text == "".join(e.text for e in events if isinstance(e, TextDelta))
    assert not session.busy

    await server.wait_all_closed(timeout=2)
    assert server.client_disconnects == 1 and server.replies_completed == 0
    await _no_tasks_left(before)

    messages = await stored_messages(store, session)
    assert isinstance(messages[-1], ModelResponse)
    assert response_text(messages[-1]) == ending.partial_text

    again = await collect(session.run_turn("again"))
    assert isinstance(again[-1], TurnFinished)
    assert "".join(e.text for e in again if isinstance(e, TextDelta)) == "Again, in full."
    assert [content_text(m) for m in messages_with_role(server.requests[1], "user")] == ["hello", "again"]
    await server.wait_all_closed(timeout=2)
    await _no_tasks_left(before)


async def _no_tasks_left(before: set[asyncio.Task[Any]], grace: float = 0.5) -> None:
    """Every task started since `before` has finished, within a short grace period."""
    deadline = time.perf_counter() + grace
    while left := {task for task in asyncio.all_tasks() - before if not task.done()}:
        if time.perf_counter() > deadline:
            raise AssertionError(f"tasks still running: {left}")
        await asyncio.sleep(0.01)


async def test_second_request_carries_the_full_first_reply(
    server: OpenAICompatServer, store: SQLiteConversationStore
) -> None:
    server.script = [text_reply(REPLY, chunks=6, delay=0.002), text_reply("Second answer.", chunks=2)]
    session = ChatSession(build_chat_agent(MODEL), store)

    first = await collect(session.run_turn("first question"))
    second = await collect(session.run_turn("second question"))

    assert isinstance(first[-1], TurnFinished) and isinstance(second[-1], TurnFinished)
    assert len(server.requests) == 2
    sent = [(m["role"], content_text(m)) for m in server.requests[1]["messages"] if m["role"] != "system"]
    assert sent == [("user", "first question"), ("assistant", REPLY), ("user", "second question")]


# -- the same through the TUI -------------------------------------------------------------------------


async def _wait_for(pilot: Pilot[Any], condition: Callable[[], bool], seconds: float = 3.0) -> None:
    """Let the app run until `condition()` holds, failing after `seconds`."""
    deadline = time.perf_counter() + seconds
    while not condition():
        assert time.perf_counter() < deadline, "timed out waiting for the app"
        await pilot.pause(0.05)


async def test_tui_streams_a_reply(server: OpenAICompatServer, store: SQLiteConversationStore) -> None:
    server.script = [text_reply(REPLY, chunks=8, delay=0.01)]
    app = XsusApp(ChatSession(build_chat_agent(MODEL), store))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"hello")
        await pilot.press("enter")
        screen = app.chat_screen
        await _wait_for(pilot, lambda: bool(screen.replies) and screen.replies[-1].state != "streaming")
        await _wait_for(pilot, lambda: not screen.session.busy and screen.status.state != "streaming")
        assert screen.status.state == "idle"
        assert screen.replies[-1].state == "done"
        assert screen.replies[-1].text == REPLY
    assert [content_text(m) for m in messages_with_role(server.requests[0], "user")] == ["hello"]


async def test_tui_escape_interrupts_and_closes_the_connection(
    server: OpenAICompatServer, store: SQLiteConversationStore
) -> None:
    # 50 ms gaps, 10 s in all: Pilot.press waits (up to 2 s) for an idle CPU, which a fast stream never gives.
    server.script = [text_reply(LONG, chunks=200, delay=0.05)]
    app = XsusApp(ChatSession(build_chat_agent(MODEL), store))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"hello")
        await pilot.press("enter")
        screen = app.chat_screen
        await _wait_for(pilot, lambda: bool(screen.replies) and bool(screen.replies[-1].text))
        await pilot.press("escape")
        await _wait_for(pilot, lambda: not screen.session.busy and screen.status.state != "interrupting")
        reply = screen.replies[-1]
        assert reply.state == "interrupted"
        assert screen.status.state == "interrupted"
        assert reply.text and LONG.startswith(reply.text) and reply.text != LONG
        await server.wait_all_closed(timeout=2)
        assert server.client_disconnects == 1 and server.replies_completed == 0


async def test_model_settings_from_config_reach_the_server(
    server: OpenAICompatServer, store: SQLiteConversationStore
) -> None:
    server.script = [text_reply("ok", chunks=1)]
    session = ChatSession(build_chat_agent(MODEL), store, model_settings={"temperature": 0.25, "max_tokens": 123})
    events = await collect(session.run_turn("hi"))
    assert isinstance(events[-1], TurnFinished)
    body = server.requests[0]
    assert body["temperature"] == 0.25 and body.get("max_tokens", body.get("max_completion_tokens")) == 123


async def test_interrupt_with_the_run_ahead_of_a_busy_consumer(
    server: OpenAICompatServer, store: SQLiteConversationStore
) -> None:
    """The stream as fast as the client reads, and a consumer that is busy now and then (the UI drawing a frame):
    the run goes ahead of it, then Esc. Everything the run read is shown, stored exactly, and the connection is
    closed as the server sees it."""
    server.script = [text_reply(LONG * 100, chunks=20000)]
    session = ChatSession(build_chat_agent(MODEL), store)
    before = asyncio.all_tasks()
    events: list[TurnEvent] = []
    async with asyncio.timeout(5):
        async for event in session.run_turn("hello"):
            events.append(event)
            deltas = sum(isinstance(e, TextDelta) for e in events)
            if deltas in (1, 50):
                await asyncio.sleep(0.02)  # a frame: the run reads on meanwhile
            if deltas == 100:
                session.cancel()
    ending = events[-1]
    assert isinstance(ending, TurnCancelled), ending
    shown = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert ending.partial_text == shown and (LONG * 100).startswith(shown) and len(shown) < len(LONG * 100)
    await server.wait_all_closed(timeout=2)
    assert server.client_disconnects == 1 and server.replies_completed == 0
    await _no_tasks_left(before)
    messages = await stored_messages(store, session)
    assert isinstance(messages[-1], ModelResponse) and messages[-1].state == "interrupted"
    assert response_text(messages[-1]) == shown
