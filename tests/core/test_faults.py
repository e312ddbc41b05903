"""Faults with FunctionModel: retries before output, the stall watchdog, Esc during a retry wait.

Retries and stalls come in the turn's one stream, in order with the reply, at the moment they happen."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic_ai.exceptions import ModelHTTPError

from xsus_tui.core import events as ev
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore

from .helpers import chat_agent, collect, text_of


@pytest.fixture
def store(tmp_path):
    store = SQLiteConversationStore.open(tmp_path / "history.db")
    yield store
    store.close()


def failing_then(failures: list[BaseException], chunks: list[str], calls: list[float]):
    async def stream(messages, info):
        calls.append(time.monotonic())
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        for chunk in chunks:
            yield chunk

    return stream


def statuses_of(events: list[ev.TurnEvent]) -> list:
    return [e for e in events if isinstance(e, ev.Retrying | ev.Stalled | ev.Saving)]


async def test_transient_errors_before_output_are_retried_with_visible_status(store):
    calls: list[float] = []
    heard: list = []
    failures = [ModelHTTPError(503, "function", body={"error": {"message": "overloaded"}})] * 2
    session = ChatSession(
        chat_agent(failing_then(failures, ["Hello ", "again"], calls)),
        store,
        backoff=0.05,
        on_status=heard.append,
    )
    arrived: list[tuple[type, float]] = []
    events = await collect(session, "hi", on_event=lambda e, _: arrived.append((type(e), time.monotonic())))
    assert isinstance(events[-1], ev.TurnFinished) and text_of(events) == "Hello again"
    assert len(calls) == 3
    retrying = [s for s in events if isinstance(s, ev.Retrying)]
    # In the stream, in order: both retries before the first text, and nothing through the callback.
    assert [type(e) for e in events[:2]] == [ev.Retrying, ev.Retrying] and isinstance(events[2], ev.TextDelta)
    assert heard == []
    # Yielded when they happen (before the wait), not when the stream speaks again.
    assert arrived[0][1] < calls[1] and arrived[1][1] < calls[2]
    assert [(r.attempt, r.retries, r.reason) for r in retrying] == [(1, 3, "HTTP 503"), (2, 3, "HTTP 503")]
    assert 0.025 <= retrying[0].delay <= 0.05 and 0.05 <= retrying[1].delay <= 0.1  # backoff with jitter
    assert calls[1] - calls[0] >= retrying[0].delay * 0.9
    stored = await store.load(session.conversation.conversation_id)
    assert len(stored.messages) == 2  # one prompt, one reply: no trace of the failed attempts


async def test_retry_after_is_honoured(store):
    calls: list[float] = []
    limited = ModelHTTPError(429, "function", headers={"retry-after-ms": "300"})
    session = ChatSession(chat_agent(failing_then([limited], ["ok"], calls)), store)
    events = await collect(session, "hi")
    statuses = statuses_of(events)
    assert isinstance(events[-1], ev.TurnFinished)
    assert statuses[0].delay == pytest.approx(0.3) and statuses[0].reason == "HTTP 429"
    assert calls[1] - calls[0] >= 0.29


async def test_non_transient_errors_are_not_retried_and_say_what_to_do(store):
    calls: list[float] = []
    refused = ModelHTTPError(401, "gpt-4o", body={"error": {"message": "Incorrect API key provided"}})
    session = ChatSession(chat_agent(failing_then([refused], ["never"], calls)), store, backoff=0.01)
    events = await collect(session, "hi")
    assert len(calls) == 1
    ending = events[-1]
    assert isinstance(ending, ev.TurnFailed) and ending.unsent
    assert "OPENAI_API_KEY" in ending.error


async def test_retries_run_out(store):
    calls: list[float] = []
    session = ChatSession(
        chat_agent(failing_then([ConnectionError("refused")] * 10, ["x"], calls)), store, retries=2, backoff=0.01
    )
    ending = (await collect(session, "hi"))[-1]
    assert len(calls) == 3 and isinstance(ending, ev.TurnFailed) and ending.unsent and "refused" in ending.error


async def test_esc_during_the_wait_before_a_retry_stops_at_once(store):
    calls: list[float] = []
    session = ChatSession(
        chat_agent(failing_then([ModelHTTPError(500, "f")] * 5, ["x"], calls)),
        store,
        backoff=5.0,
    )
    seen = asyncio.Event()
    task = asyncio.ensure_future(collect(session, "hi", on_event=lambda e, _: seen.set()))
    await asyncio.wait_for(seen.wait(), 2)  # the Retrying event, while the stream waits out the backoff
    started = time.monotonic()
    session.cancel()
    events = await asyncio.wait_for(task, 2)
    assert time.monotonic() - started < 0.1
    assert isinstance(events[0], ev.Retrying) and events[0].delay >= 2.5
    assert isinstance(events[-1], ev.TurnCancelled) and len(calls) == 1
    assert events[-1].unsent and not session.busy


async def test_esc_during_the_wait_after_a_request_that_never_answered_stops_at_once(store):
    calls: list[float] = []

    async def hangs(messages, info):
        calls.append(time.monotonic())
        await asyncio.sleep(30)
        yield "never"

    session = ChatSession(chat_agent(hangs), store, idle_timeout=0.3, backoff=5.0)
    retried = asyncio.Event()
    task = asyncio.ensure_future(
        collect(session, "hi", on_event=lambda e, _: isinstance(e, ev.Retrying) and retried.set())
    )
    await asyncio.wait_for(retried.wait(), 3)
    started = time.monotonic()
    session.cancel()
    events = await asyncio.wait_for(task, 2)
    assert time.monotonic() - started < 0.5
    assert isinstance(events[-1], ev.TurnCancelled) and events[-1].unsent and len(calls) == 1


async def test_a_silent_stream_is_reported_then_given_up(store):
    async def stalls(messages, info):
        yield "Some text "
        await asyncio.sleep(30)
        yield "never"

    session = ChatSession(chat_agent(stalls), store, idle_timeout=0.8, stall_notice=0.3)
    started = time.monotonic()
    arrived: list[float] = []
    events = await collect(session, "hi", on_event=lambda e, _: arrived.append(time.monotonic() - started))
    took = time.monotonic() - started
    ending = events[-1]
    assert isinstance(ending, ev.TurnFailed) and not ending.unsent
    assert "sent nothing for 0.8 s" in ending.error and ending.partial_text == "Some text "
    assert 0.8 <= took < 1.6
    stalled = [s for s in events if isinstance(s, ev.Stalled)]
    assert stalled and stalled[0].seconds >= 0.3 and stalled[0].limit == 0.8
    # In the stream after the text and before the ending, yielded while the stream was silent.
    first = events.index(stalled[0])
    assert isinstance(events[0], ev.TextDelta) and 0 < first < len(events) - 1
    assert arrived[first] < took - 0.2
    stored = await store.load(session.conversation.conversation_id)
    assert stored.messages[-1].parts[0].content == "Some text "


async def test_a_stall_before_the_first_event_is_retried(store):
    calls: list[float] = []

    async def hangs_once(messages, info):
        calls.append(time.monotonic())
        if len(calls) == 1:
            await asyncio.sleep(30)
        yield "answer"

    session = ChatSession(chat_agent(hangs_once), store, idle_timeout=0.4, backoff=0.01)
    events = await collect(session, "hi")
    assert isinstance(events[-1], ev.TurnFinished) and text_of(events) == "answer"
    assert len(calls) == 2 and [s.reason for s in events if isinstance(s, ev.Retrying)] == ["no answer"]
    first_text = next(i for i, e in enumerate(events) if isinstance(e, ev.TextDelta))
    assert any(isinstance(e, ev.Retrying) for e in events[:first_text])


async def test_a_slow_tool_is_not_a_stall(store):
    async def slow_tool() -> str:
        await asyncio.sleep(1.0)
        return "done"

    async def stream(messages, info):
        from pydantic_ai.messages import ModelResponse
        from pydantic_ai.models.function import DeltaToolCall

        if not any(isinstance(m, ModelResponse) for m in messages):
            yield {0: DeltaToolCall(name="slow_tool", json_args="{}", tool_call_id="s")}
        else:
            yield "finished"

    session = ChatSession(chat_agent(stream, tools=[slow_tool]), store, idle_timeout=0.6, stall_notice=0.2)
    events = await collect(session, "hi")
    assert isinstance(events[-1], ev.TurnFinished) and text_of(events) == "finished"
