"""Faults as the user sees them: retries on the status line, silence, regenerating a failed reply."""

from __future__ import annotations

import asyncio

from pydantic_ai.exceptions import ModelAPIError, ModelHTTPError

from xsus_tui.core.store import SQLiteConversationStore

from ..core.helpers import chat_agent
from .helpers import SIZE, make_app, screen_text, send, wait_for, wait_idle


async def test_retries_show_on_the_status_line_then_the_reply_arrives(xsus_home):
    calls: list[int] = []

    async def flaky(messages, info):
        calls.append(1)
        if len(calls) <= 2:
            raise ModelHTTPError(503, "function")
        yield "Finally here."

    app = make_app(xsus_home, chat_agent(flaky), backoff=0.4)
    notes: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        status = app.chat_screen.status
        await send(pilot, "hi")
        await wait_for(pilot, lambda: "retrying  ·  1/3 in" in screen_text(app))
        notes.append(screen_text(app))
        await wait_idle(pilot)
        assert app.chat_screen.replies[-1].text == "Finally here." and status.note == ""
    assert "retrying  ·  1/3 in" in notes[0] and "HTTP 503" in notes[0]
    assert len(calls) == 3


async def test_a_silent_stream_shows_how_long_then_fails_keeping_the_text(xsus_home):
    async def stalls(messages, info):
        yield "Started "
        await asyncio.sleep(30)
        yield "never"

    app = make_app(xsus_home, chat_agent(stalls), idle_timeout=1.2, stall_notice=0.3)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "hi")
        await wait_for(pilot, lambda: "gives up at 1.2 s" in screen_text(app))
        await wait_idle(pilot)
        assert screen.status.state == "error" and screen.replies[-1].text == "Started "
        assert "sent nothing for 1.2 s" in screen_text(app)


async def test_regenerate_replaces_a_failed_reply_and_keeps_it_as_a_branch(xsus_home):
    calls: list[int] = []

    async def breaks_once(messages, info):
        calls.append(1)
        yield "A first attempt that "
        if len(calls) == 1:
            raise ModelAPIError("function", "connection dropped")
        yield "works the second time."

    app = make_app(xsus_home, chat_agent(breaks_once))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "write")
        await wait_idle(pilot)
        assert screen.replies[-1].state == "failed"
        await pilot.press("ctrl+g")
        await wait_idle(pilot)
        assert len(screen.replies) == 1 and screen.replies[-1].state == "done"
        assert screen.replies[-1].text == "A first attempt that works the second time."
        assert screen_text(app).count("A first attempt that") == 1
    store = SQLiteConversationStore.open(xsus_home / "history.db")
    conversation = await store.load(store.latest_id())
    record = await store.read_record(conversation.conversation_id)
    assert len(conversation.messages) == 2 and len(record.branches) == 1
    branch = await store.read_history(record.branches[0])
    assert branch[-1].message.parts[0].content == "A first attempt that "
    store.close()


async def test_slash_retry_regenerates_too(xsus_home):
    replies = iter(["one", "two"])

    async def stream(messages, info):
        yield next(replies)

    app = make_app(xsus_home, chat_agent(stream))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "go")
        await wait_idle(pilot)
        await send(pilot, "/retry")
        await wait_idle(pilot)
        assert [r.text for r in app.chat_screen.replies] == ["two"]
