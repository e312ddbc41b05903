"""Faults end to end: the real openai client, pydantic-ai and xsus against a loopback server that misbehaves."""

from __future__ import annotations

import asyncio
import gc
import random
import time

from pydantic_ai.messages import ModelResponse, TextPart

from xsus_tui.core import events as ev
from xsus_tui.core.agents import build_chat_agent
from xsus_tui.core.export import to_json, to_markdown
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore
from xsus_tui.ui.app import XsusApp

from ..ui.helpers import CONTROL, rendered_text, send, wait_idle
from .loopback import error_reply, hang_reply, split, text_reply

MODEL = "openai-chat:test-model"
TEXT = "".join(f"chunk{i} " for i in range(40))


def session_for(store, **options) -> tuple[ChatSession, list]:
    """A session, and what its `on_status` hears: nothing during a turn (statuses come in the turn's stream)."""
    heard: list = []
    session = ChatSession(build_chat_agent(MODEL), store, on_status=heard.append, **options)
    return session, heard


def statuses_of(events) -> list:
    return [e for e in events if isinstance(e, ev.Retrying | ev.Stalled | ev.Saving)]


def awaiting(task: asyncio.Task) -> str:
    """Where a pending task waits: its chain of awaited coroutines, innermost last."""
    chain, coro = [], task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        where = f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else ""
        chain.append(f"{getattr(coro, '__qualname__', type(coro).__name__)} {where}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return f"{task.get_name()} awaits:\n  " + "\n  ".join(chain)


def _pydantic_ai_orphan(task: asyncio.Task) -> bool:
    """pydantic-ai 2.68's model-request wrap task left waiting for `stream_done` by an interrupt at one moment."""
    chain = awaiting(task)
    return "_streaming_handler" in chain and "Event.wait" in chain and "ScopedTask" in chain


async def run(session: ChatSession, prompt: str, within: float = 8.0) -> list[ev.TurnEvent]:
    async with asyncio.timeout(within):
        return [e async for e in session.run_turn(prompt) if not isinstance(e, ev.RequestSent | ev.ResponseUsage)]


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, ev.TextDelta))


def stored_texts(messages) -> list[str]:
    return [
        "".join(p.content for p in m.parts if isinstance(p, TextPart)) for m in messages if isinstance(m, ModelResponse)
    ]


async def test_two_500s_then_an_answer_is_three_requests_with_visible_retries(server, store):
    server.script = [error_reply(500), error_reply(500), text_reply(TEXT, chunks=8)]
    session, heard = session_for(store, backoff=0.05)
    events = await run(session, "hi")
    statuses = statuses_of(events)
    assert isinstance(events[-1], ev.TurnFinished) and text_of(events) == TEXT
    assert heard == [] and all(isinstance(e, ev.Retrying) for e in events[:2])  # in the stream, before the text
    assert len(server.requests) == 3  # the SDK's own retries are off: one layer retries
    assert server.outcomes == ["error_status", "error_status", "completed"]
    assert [(s.attempt, s.reason) for s in statuses if isinstance(s, ev.Retrying)] == [(1, "HTTP 500"), (2, "HTTP 500")]


async def test_429_with_retry_after_waits_as_asked(server, store):
    server.script = [error_reply(429, "slow down", retry_after=1), text_reply("ok", chunks=1)]
    session, _ = session_for(store, backoff=0.01)
    started = time.monotonic()
    events = await run(session, "hi")
    statuses = statuses_of(events)
    assert isinstance(events[-1], ev.TurnFinished)
    assert statuses[0].delay == 1.0 and time.monotonic() - started >= 1.0
    assert len(server.requests) == 2


async def test_401_is_not_retried_and_says_which_key(server, store):
    server.script = [error_reply(401, "Incorrect API key provided")]
    session, heard = session_for(store, backoff=0.01)
    events = await run(session, "hi")
    ending = events[-1]
    assert isinstance(ending, ev.TurnFailed) and ending.unsent
    assert "OPENAI_API_KEY" in ending.error and len(server.requests) == 1 and statuses_of(events) == heard == []


async def test_a_stream_cut_after_ten_chunks_keeps_them_once(server, store):
    server.script = [text_reply(TEXT, chunks=40, cut_after=10), text_reply("next", chunks=1)]
    session, _ = session_for(store, backoff=0.01)
    events = await run(session, "hi")
    ending = events[-1]
    expected = "".join(split(TEXT, 40)[:10])
    assert isinstance(ending, ev.TurnFailed) and not ending.unsent
    assert text_of(events) == expected == ending.partial_text
    assert len(server.requests) == 1  # output had started: not retried
    assert isinstance((await run(session, "next?"))[-1], ev.TurnFinished)
    stored = await store.load(session.conversation.conversation_id)
    assert stored_texts(stored.messages) == [expected, "next"]
    assert to_json(stored.messages).count(expected) == 1
    assert to_markdown(stored.messages, title="t", conversation_id="c").count(expected) == 1
    # The second request carried the partial reply once.
    sent = server.requests[1]["messages"]
    assert sum(expected in str(m.get("content")) for m in sent) == 1


async def test_a_silent_stream_ends_soon_after_the_idle_timeout(server, store):
    server.script = [text_reply(TEXT, chunks=40, stall_after=5, stall_for=None)]
    session, _ = session_for(store, idle_timeout=1.5, stall_notice=0.5)
    started = time.monotonic()
    events = await run(session, "hi")
    took = time.monotonic() - started
    ending = events[-1]
    assert isinstance(ending, ev.TurnFailed) and "sent nothing for 1.5 s" in ending.error
    assert ending.partial_text == "".join(split(TEXT, 40)[:5])
    assert 1.5 <= took < 2.5
    assert any(isinstance(s, ev.Stalled) for s in events[:-1])
    await server.wait_all_closed(timeout=2)
    assert server.outcomes == ["client_disconnected"]


async def test_a_server_that_never_answers_is_retried_then_given_up(server, store):
    server.script = [hang_reply(None), hang_reply(None)]
    session, _ = session_for(store, retries=1, idle_timeout=0.5, backoff=0.01)
    events = await run(session, "hi")
    ending = events[-1]
    assert isinstance(ending, ev.TurnFailed) and ending.unsent
    assert len(server.requests) == 2 and [s.reason for s in events if isinstance(s, ev.Retrying)] == ["no answer"]
    await server.wait_all_closed(timeout=2)


async def test_a_malformed_chunk_fails_the_reply_and_keeps_what_came_before(server, store):
    server.script = [text_reply(TEXT, chunks=40, malformed_at=6)]
    session, _ = session_for(store)
    ending = (await run(session, "hi"))[-1]
    assert isinstance(ending, ev.TurnFailed) and "malformed chunk" in ending.error
    assert ending.partial_text == "".join(split(TEXT, 40)[:6])


async def test_escape_sequences_in_a_reply_never_reach_the_screen_raw(server, store):
    hostile = "Before \x1b]0;pwned title\x07 middle \x1b[2J\x1b[H after \x1b[31mred\x1b[0m."
    server.script = [text_reply(hostile, chunks=7)]
    session, _ = session_for(store)
    app = XsusApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await send(pilot, "hi")
        await wait_idle(pilot)
        shown = rendered_text(app)
        assert "Before ␛]0;pwned title␇ middle ␛[2J␛[H after ␛[31mred␛[0m." in shown  # inert, text kept
        assert not CONTROL.search(shown)
    stored = await store.load(session.conversation.conversation_id)
    assert stored_texts(stored.messages) == [hostile]  # the history keeps exactly what the model said


async def test_a_hundred_interrupts_leave_nothing_behind(server, store):
    server.script = lambda request: text_reply(TEXT, chunks=40, delay=0.004)
    session, _ = session_for(store)
    rng = random.Random(7)
    before = set(asyncio.all_tasks())
    partials: list[str] = []
    unsent: list[bool] = []
    for turn in range(100):
        cancel_at = rng.uniform(0.0, 0.12)
        runner = asyncio.ensure_future(run(session, f"prompt {turn}"))
        await asyncio.sleep(cancel_at)
        session.cancel()
        events = await asyncio.wait_for(runner, 3)
        ending = events[-1]
        assert isinstance(ending, ev.TurnCancelled | ev.TurnFinished), ending
        partials.append(text_of(events))
        unsent.append(getattr(ending, "unsent", False))
    await server.wait_all_closed(timeout=3)
    # Every task the turns started ends (pydantic-ai tears its run tasks down after the turn has ended)...
    deadline = asyncio.get_running_loop().time() + 3
    while (leftover := [t for t in asyncio.all_tasks() - before if not t.done()]) and (
        asyncio.get_running_loop().time() < deadline
    ):
        await asyncio.sleep(0.01)
    # ...except pydantic-ai 2.68's own: an interrupt that lands just after it hands a model stream over, before its
    # consumer's `try` (ModelRequestNode._stream), leaves that request's wrap task waiting for `stream_done` for ever
    # (about one interrupt in 3,000 here; a collection does not always free it). Known and reported in the closing
    # note; that one task, parked exactly there, is tolerated. Any other task left fails the test.
    if leftover:
        gc.collect()
        leftover = [t for t in asyncio.all_tasks() - before if not t.done() and not _pydantic_ai_orphan(t)]
    assert leftover == [], "\n".join(awaiting(t) for t in leftover)
    assert server.client_disconnects + server.replies_completed == len(server.requests)
    stored = await store.load(session.conversation.conversation_id)
    prompts = [
        p.content for m in stored.messages if m.kind == "request" for p in m.parts if p.part_kind == "user-prompt"
    ]
    # Every turn that got any answer is in the history with its partial reply, exactly once...
    assert prompts == [f"prompt {turn}" for turn in range(100) if not unsent[turn]]
    assert stored_texts(stored.messages) == [p for p, u in zip(partials, unsent, strict=True) if not u]
    # ...and each one interrupted before any answer is kept on disk as a branch, not lost.
    record = await store.read_record(session.conversation.conversation_id)
    branch_prompts = [(await store.read_history(tip))[-1].message.parts[0].content for tip in record.branches]
    assert branch_prompts == [f"prompt {turn}" for turn in range(100) if unsent[turn]]
    assert sum(1 for p in partials if p) > 50 and any(unsent)


async def test_api_keys_never_reach_the_store_or_exports(server, store, monkeypatch, tmp_path):
    secret = "sk-test-DO-NOT-STORE-1234567890"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    server.script = [text_reply("fine", chunks=2)]
    session, _ = session_for(store)
    await run(session, "hi")
    stored = await store.load(session.conversation.conversation_id)
    assert secret not in to_json(stored.messages) and secret not in to_markdown(
        stored.messages, title="t", conversation_id="c"
    )
    store.close()
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("history.db*"))
    assert secret.encode() not in raw
    reopened = SQLiteConversationStore.open(tmp_path / "history.db")  # the fixture closes its own copy
    reopened.close()
