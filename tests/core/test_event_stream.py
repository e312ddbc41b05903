"""The one event stream of a turn: frozen events, one complete ending, last, equal to what was saved."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from pydantic_ai.messages import ModelResponse, TextPart

from xsus_tui.core import events as ev
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore

from .helpers import chat_agent, collect, text_of, text_stream

ENDINGS = (ev.TurnFinished, ev.TurnCancelled, ev.TurnFailed)


@pytest.fixture
def store(tmp_path):
    store = SQLiteConversationStore.open(tmp_path / "history.db")
    yield store
    store.close()


def stored_text(messages) -> str:
    response = messages[-1]
    assert isinstance(response, ModelResponse)
    return "".join(p.content for p in response.parts if isinstance(p, TextPart))


async def test_every_event_of_a_turn_is_frozen(store):
    session = ChatSession(chat_agent(text_stream(["Hello ", "there"])), store)
    events = await collect(session, "hi")
    assert isinstance(events[-1], ev.TurnFinished) and text_of(events) == "Hello there"
    for event in events:
        name = dataclasses.fields(event)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(event, name, getattr(event, name))
    with pytest.raises(dataclasses.FrozenInstanceError):
        events[-1].stats.duration = 0.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.TurnCancelled(stats=ev.TurnStats()).partial_text += "more"  # type: ignore[misc]


async def test_the_ending_is_last_once_and_equals_what_was_shown_and_saved(store):
    """A consumer slower than the model, cancelling at its first text: one ending, last, whose partial_text is
    the text shown, which is what was stored."""
    for _ in range(3):
        session = ChatSession(chat_agent(text_stream([f"w{i} " for i in range(50)])), store)
        events: list[ev.TurnEvent] = []
        async for event in session.run_turn("go"):
            events.append(event)
            if isinstance(event, ev.TextDelta) and sum(isinstance(e, ev.TextDelta) for e in events) == 1:
                session.cancel()
                await asyncio.sleep(0.05)  # the run goes on meanwhile, as far as it may
        ending = events[-1]
        assert isinstance(ending, ev.TurnCancelled) and sum(isinstance(e, ENDINGS) for e in events) == 1
        assert ending.partial_text == text_of(events)
        stored = await store.load(session.conversation.conversation_id)
        assert stored_text(stored.messages) == ending.partial_text  # what is on screen is what is stored


async def test_a_kept_tail_never_shown_is_yielded_then_is_in_the_ending(store, monkeypatch):
    """When the run stopped one delta ahead of the consumer, the kept text it never showed comes as a TextDelta
    before the ending, and the ending (built once, after the save) holds it: nothing is added to it later.
    (Which delta pydantic-ai keeps is its business; the tail is forced here.)"""
    from xsus_tui.core import session as session_module

    monkeypatch.setattr(session_module, "_unshown_tail", lambda new, shown: "TAIL")

    async def breaks(messages, info):
        yield "Half "
        raise ConnectionError("dropped")

    session = ChatSession(chat_agent(breaks), store, retries=0)
    events = await collect(session, "go")
    ending = events[-1]
    assert isinstance(ending, ev.TurnFailed) and events[-2] == ev.TextDelta("TAIL")
    assert ending.partial_text == text_of(events) == "Half TAIL"
    assert ending.stats.duration > 0 and not ending.unsent


async def test_a_consumer_that_stops_early_leaves_the_turn_saved_and_nothing_running(store):
    """Closing the stream mid-reply (a front end going away): what streamed is saved, with its recording, and no
    task of the turn is left behind."""
    before = set(asyncio.all_tasks())
    session = ChatSession(chat_agent(text_stream([f"w{i} " for i in range(200)], delay=0.002)), store)
    shown: list[str] = []
    stream = session.run_turn("go")
    async for event in stream:
        if isinstance(event, ev.TextDelta):
            shown.append(event.text)
            if len(shown) == 5:
                break
    await stream.aclose()
    assert not session.busy
    stored = await store.load(session.conversation.conversation_id)
    assert stored_text(stored.messages).startswith("".join(shown))
    (recording,) = await store.recordings(session.conversation.conversation_id)
    texts = [t.event.text for t in recording.events if isinstance(t.event, ev.TextDelta)]
    assert texts == shown and recording.ending is None  # what was yielded, and no ending: none was
    async with asyncio.timeout(3):
        while [t for t in asyncio.all_tasks() - before if not t.done()]:
            await asyncio.sleep(0.01)
