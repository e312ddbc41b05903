"""The run in a task of its own (`runner.BackgroundRun`): its events reach the turn in order, it runs at most
`BACKLOG` events ahead, a cancel keeps every event it produced, and xsus's capability sees the events as the
consumer would (outermost), once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import pytest
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.exceptions import RunCancelled
from pydantic_ai.messages import ModelResponse, PartDeltaEvent, TextPart, TextPartDelta
from pydantic_ai.run import AgentRunResultEvent

from xsus_tui.core import events as ev
from xsus_tui.core import runner
from xsus_tui.core.channel import SideChannel
from xsus_tui.core.runner import BACKLOG, BackgroundRun, TurnHooks
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore

from .helpers import chat_agent, collect, text_of, text_stream

CHUNKS = [f"w{i} " for i in range(400)]


@pytest.fixture
def store(tmp_path):
    store = SQLiteConversationStore.open(tmp_path / "history.db")
    yield store
    store.close()


async def _settle(ticks: int = 200) -> None:
    """Let every other task run until it waits (FunctionModel never waits on I/O)."""
    for _ in range(ticks):
        await asyncio.sleep(0)


async def test_the_run_waits_when_it_is_a_backlog_ahead_and_then_delivers_everything_in_order():
    agent = chat_agent(text_stream(CHUNKS)).agent
    channel = SideChannel()
    run = BackgroundRun(_Prompted(agent, "hi"), channel, queue=None)
    run.start()
    await _settle()
    assert len(channel._items) <= BACKLOG + 1, "the run did not wait for the turn"
    assert len(channel._items) >= BACKLOG // 2, "the run should have gone ahead while the turn was busy"
    seen: list[Any] = [event async for event in run.events()]
    assert isinstance(seen[-1], AgentRunResultEvent) and seen[-1].result.output == "".join(CHUNKS)
    deltas = [e.delta.content_delta for e in seen if isinstance(e, PartDeltaEvent)]
    assert "".join(deltas) == "".join(CHUNKS[1:])  # the first chunk starts the part
    assert run.result is not None and run.new_messages()[-1].parts[0].content == "".join(CHUNKS)


@dataclasses.dataclass
class _Prompted:
    """An agent whose `iter(None, ...)` runs with a prompt (BackgroundRun continues a conversation)."""

    agent: Any
    prompt: str

    def iter(self, _prompt: Any, **kwargs: Any) -> Any:
        return self.agent.iter(self.prompt, **kwargs)


async def test_a_cancel_before_the_start_never_starts_the_run():
    calls: list[int] = []

    async def stream(messages, info) -> AsyncIterator[str]:
        calls.append(1)
        yield "never"

    run = BackgroundRun(_Prompted(chat_agent(stream).agent, "hi"), SideChannel(), queue=None)
    run.cancel()
    run.start()
    with pytest.raises(RunCancelled):
        async for _ in run.events():
            pass
    await run.aclose()
    assert calls == []
    with pytest.raises(Exception, match="not started"):
        run.new_messages()


async def test_cancelled_while_the_run_is_ahead_every_event_it_produced_is_shown_and_saved(store):
    session = ChatSession(chat_agent(text_stream(CHUNKS)), store)
    waited = False

    async def slow_consumer() -> list[ev.TurnEvent]:
        nonlocal waited
        out: list[ev.TurnEvent] = []
        async for event in session.run_turn("long"):
            out.append(event)
            if isinstance(event, ev.TextDelta) and not waited:
                waited = True
                await _settle()  # a busy consumer (the UI drawing): the run goes ahead meanwhile
                session.cancel()
        return out

    events = await asyncio.wait_for(slow_consumer(), 10)
    ending = events[-1]
    assert isinstance(ending, ev.TurnCancelled)
    shown = text_of(events)
    assert ending.partial_text == shown
    assert len(shown.split()) > 5, "what the run produced while the consumer was busy must be shown"
    assert "".join(CHUNKS).startswith(shown) and shown != "".join(CHUNKS)
    stored = await store.load(session.conversation.conversation_id)
    last = stored.messages[-1]
    assert isinstance(last, ModelResponse) and last.state == "interrupted"
    assert "".join(p.content for p in last.parts if isinstance(p, TextPart)) == shown  # exactly what was shown
    assert not session.busy


@dataclasses.dataclass
class Shouting(AbstractCapability[Any]):
    """A user's capability that rewrites the text the consumer sees."""

    async def wrap_run_event_stream(self, ctx: Any, *, stream: AsyncIterable[Any]) -> AsyncIterator[Any]:
        async for event in stream:
            if isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                event = dataclasses.replace(event, delta=dataclasses.replace(event.delta, content_delta="X"))
            yield event


async def test_xsus_sees_the_events_as_the_agents_own_capabilities_made_them(store):
    session = ChatSession(chat_agent(text_stream(["a", "b", "c"]), capabilities=[Shouting()]), store)
    events = await collect(session, "hi")
    assert isinstance(events[-1], ev.TurnFinished)
    assert text_of(events) == "aXX"  # the first chunk starts the part; the deltas were rewritten before we saw them


async def test_one_capability_of_ours_per_run(store, monkeypatch):
    built: list[TurnHooks] = []
    original = runner.TurnHooks.__init__

    def counting(self, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        built.append(self)

    monkeypatch.setattr(runner.TurnHooks, "__init__", counting)
    session = ChatSession(chat_agent(text_stream(["one ", "two"])), store)
    events = await collect(session, "hi")
    assert text_of(events) == "one two" and len(built) == 1
    assert built[0].get_ordering() is not None and built[0].get_ordering().position == "outermost"
