"""Recordings: every event of a turn with its time and what each request was sent, kept with the conversation."""

from __future__ import annotations

import json
import sqlite3
import zlib

import pytest
from pydantic import BaseModel
from pydantic_ai.messages import ModelRequest, ToolReturnPart
from pydantic_ai.models.function import DeltaToolCall

from xsus_tui.core import events as ev
from xsus_tui.core import recording as rec
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore

from .helpers import chat_agent, collect, text_stream


class City(BaseModel):
    name: str
    population: int


@pytest.fixture
def store(tmp_path):
    store = SQLiteConversationStore.open(tmp_path / "history.db")
    yield store
    store.close()


def tools_output_and_a_retry(seen: list[list]):
    """Request 1 calls a tool; request 2 sends an output that fails validation; request 3 a valid one."""

    async def stream(messages, info):
        seen.append(list(messages))
        step = len(seen) - 1
        if step == 0:
            yield "Looking it up. "
            yield {1: DeltaToolCall(name="lookup", json_args='{"city": "Os', tool_call_id="t1")}
            yield {1: DeltaToolCall(json_args='lo"}')}
        elif step == 1:
            yield {0: DeltaToolCall(name=info.output_tools[0].name, json_args='{"name": "Oslo", ', tool_call_id="o1")}
            yield {0: DeltaToolCall(json_args='"population": "many"}')}
        else:
            yield {0: DeltaToolCall(name=info.output_tools[0].name, json_args='{"name": "Oslo", ', tool_call_id="o2")}
            yield {0: DeltaToolCall(json_args='"population": 709000}')}

    agent = chat_agent(stream, output_type=City, instructions="Answer about cities.")

    @agent.agent.tool_plain
    def lookup(city: str) -> str:
        """Facts about a city."""
        return f"{city}: capital of Norway"

    return agent


def same_events(a: list[rec.Timed], b: list[rec.Timed]) -> None:
    """The same events (as their recorded lines: an output value is its JSON), at the same times (to the µs)."""
    assert [type(x.event) for x in a] == [type(y.event) for y in b]
    lines = [[{**rec.event_line(t, None), "t": 0} for t in timed] for timed in (a, b)]
    assert lines[0] == lines[1]
    assert all(abs(x.t - y.t) < 2e-6 for x, y in zip(a, b, strict=True))


async def test_a_turn_with_a_tool_a_rejected_output_and_a_retry_round_trips(store):
    seen: list[list] = []
    session = ChatSession(tools_output_and_a_retry(seen), store)
    events = await collect(session, "tell me about Oslo", every=True)
    assert isinstance(events[-1], ev.TurnFinished) and events[-1].output == City(name="Oslo", population=709000)
    recorded = session.last_recording.events
    assert [t.event for t in recorded] == events  # every event, in order, the ending last
    assert [type(e) for e in events].count(ev.RequestSent) == 3
    assert all(b.t >= a.t for a, b in zip(recorded, recorded[1:], strict=False))  # monotonic

    # What each request was sent is what the model received, request by request.
    requests = [e for e in events if isinstance(e, ev.RequestSent)]
    assert [r.number for r in requests] == [1, 2, 3] and len(seen) == 3
    for request, received in zip(requests, seen, strict=True):
        assert list(request.messages) == received
        assert request.instructions == "Answer about cities."
        assert {t["name"]: t["kind"] for t in request.tools} == {"lookup": "function", "final_result": "output"}
    assert any(isinstance(e, ev.OutputRejected) for e in events)
    usage = [e for e in events if isinstance(e, ev.ResponseUsage)]
    assert [u.number for u in usage] == [1, 2, 3] and all(u.output_tokens > 0 for u in usage)
    # Each response's usage comes after its last streamed event and before what followed it (the tool running).
    order = [type(e) for e in events]
    assert order.index(ev.ResponseUsage) < order.index(ev.ToolCallRunning)
    assert order.index(ev.RequestSent) < order.index(ev.TextDelta)

    # Stored with the conversation, and back the same.
    (stored,) = await store.recordings(session.conversation.conversation_id)
    same_events(list(stored.events), list(recorded))
    assert stored.prompt == "tell me about Oslo" and stored.turn == 1 and stored.model == "function"
    # The history is the conversation up to the prompt; pydantic-ai sends the prompt stamped (instructions, run id).
    assert list(stored.history[:-1]) == seen[0][: len(stored.history) - 1]
    assert stored.history[-1].parts == seen[0][len(stored.history) - 1].parts
    # And through NDJSON, one event a line after the header.
    text = "".join(rec.to_ndjson([stored]))
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["type"] == "recording" and lines[0]["version"] == rec.VERSION
    assert len(lines) == 1 + len(events) and all("t" in line and "type" in line for line in lines[1:])
    (again,) = rec.from_ndjson(text)
    same_events(list(again.events), list(recorded))
    # A request stores what it shares with the one before it as runs, and the rest written out: the first request's
    # prompt differs from the stored one (pydantic-ai stamps it); then each request repeats the one before and adds
    # the response and the tool result or the retry prompt.
    request_lines = [line for line in lines if line["type"] == "request"]
    shapes = [[item if isinstance(item, list) else "message" for item in line["messages"]] for line in request_lines]
    assert shapes == [["message"], [[0, 1], "message", "message"], [[0, 3], "message", "message"]]


async def test_each_version_of_a_turn_has_its_own_recording(store):
    session = ChatSession(chat_agent(text_stream(["one"])), store)
    await collect(session, "a")
    await collect(session, "b")
    prompt = await session.regenerate()
    await collect(session, prompt)
    conversation_id = session.conversation.conversation_id
    current = await store.recordings(conversation_id)
    every = await store.recordings(conversation_id, all_branches=True)
    assert [r.turn for r in current] == [1, 2] and [r.prompt for r in current] == ["a", "b"]
    assert len(every) == 3 and len({r.entry_id for r in every}) == 3
    (second,) = await store.recordings(conversation_id, turn=2)
    assert second.prompt == "b" and await store.recordings(conversation_id, turn=9) == []


async def test_a_text_turn_costs_under_twice_its_text(store, tmp_path):
    words = [f"word{i} " for i in range(4000)]  # 36 KB, varied enough not to compress to nothing
    chunks = [text[i : i + 5] for text in ["".join(words)] for i in range(0, len(text), 5)]
    session = ChatSession(chat_agent(text_stream(chunks)), store)
    await collect(session, "go")
    text = "".join(words).encode()
    db = sqlite3.connect(tmp_path / "history.db")
    header, body = db.execute("SELECT header, events FROM recordings").fetchone()
    assert len(header) + len(body) < 2 * len(text)
    assert json.loads(zlib.decompress(body))["e"][1] == chunks[0]  # a text delta is its bare string


async def test_what_may_hold_credentials_is_not_recorded(store):
    settings = {"temperature": 0.5, "extra_headers": {"Authorization": "Bearer sk-secret"}}
    session = ChatSession(chat_agent(text_stream(["ok"])), store, model_settings=settings)
    await collect(session, "hi")
    (stored,) = await store.recordings(session.conversation.conversation_id)
    (request,) = [t.event for t in stored.events if isinstance(t.event, ev.RequestSent)]
    assert request.settings == {"temperature": 0.5, "extra_headers": "(not recorded)"}
    assert "sk-secret" not in "".join(rec.to_ndjson([stored]))


async def test_deleting_a_conversation_deletes_its_recordings(store, tmp_path):
    session = ChatSession(chat_agent(text_stream(["ok"])), store)
    await collect(session, "hi")
    conversation_id = session.conversation.conversation_id
    await store.delete_now(conversation_id)
    assert sqlite3.connect(tmp_path / "history.db").execute("SELECT count(*) FROM recordings").fetchone() == (0,)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no recording header"),
        ("hello\n", "line 1 is not JSON"),
        ('{"type": "text", "t": 0, "text": "x"}\n', "not an xsus recording"),
        ("[1, 2]\n", "not a JSON object"),
        ('{"type": "recording", "version": 99}\n', "version 99"),
        ('{"type": "recording", "version": 1}\n{"t": 0.1, "type": "teleport"}\n', "line 2: not an event line"),
        ('{"type": "recording", "version": 1}\n{"t": 0.1, "type": "text"}\n', "line 2: a text event can't be read"),
        ('{"type": "recording", "version": 1}\n{"t": "x", "type": "text"}\n', "line 2: a text event without its time"),
        ('{"type": "recording", "version": 1, "history": [{"kind": "nope"}]}\n', "history can't be read"),
        ('{"type": "recording", "version": "1"}\n', "no valid version"),
    ],
)
def test_a_damaged_or_foreign_recording_is_one_line(text, says):
    with pytest.raises(rec.RecordingError) as raised:
        rec.from_ndjson(text)
    assert says in str(raised.value) and "\n" not in str(raised.value)


def test_odd_text_survives_the_round_trip():
    odd = '\u202eevil\u200b \U0001f600 \ud83d \x1b[31m\n"quoted" \\ \u2028 ' + "x" * 10_000
    recording = rec.Recording(
        prompt=odd,
        events=(
            rec.Timed(0.001, ev.TextDelta(odd)),
            rec.Timed(0.002, ev.TurnFinished(stats=ev.TurnStats(duration=0.002), output=odd)),
        ),
        history=(ModelRequest(parts=[ToolReturnPart(tool_name="t", content=odd, tool_call_id="x")]),),
    )
    (back,) = rec.from_ndjson("".join(rec.to_ndjson([recording])))
    assert back.prompt == odd and [t.event for t in back.events] == [t.event for t in recording.events]
    assert list(back.history) == list(recording.history)
    packed = rec.pack(recording)
    assert [t.event for t in rec.unpack(packed.header, packed.body, recording.history, packed.parts).events] == [
        t.event for t in recording.events
    ]


async def test_a_recording_the_database_makes_wait_does_not_hold_the_turn(store, monkeypatch):
    """The recording waits for the database half a second at most; then the turn ends and the write goes on."""
    import asyncio
    import time

    from xsus_tui.core import session as session_module

    release = asyncio.Event()
    original = store.save_recording

    async def slow(recording):
        await release.wait()  # another process holding the lock, as long as it likes
        await original(recording)

    monkeypatch.setattr(store, "save_recording", slow)
    session = ChatSession(chat_agent(text_stream(["ok"])), store)
    started = time.monotonic()
    events = await collect(session, "hi")
    waited = time.monotonic() - started
    assert isinstance(events[-1], ev.TurnFinished)
    assert session_module.SLOW_SAVE <= waited < session_module.SLOW_SAVE + 1.0
    assert await store.recordings(session.conversation.conversation_id) == []
    release.set()
    async with asyncio.timeout(5):
        while not await store.recordings(session.conversation.conversation_id):
            await asyncio.sleep(0.01)


async def test_what_a_turn_stores_does_not_grow_with_the_conversation(store, tmp_path):
    """pydantic-ai sends a tool's result and the next prompt as one joined request, so what was sent is not a
    prefix of the stored history: still, each recording keeps only what is new, and an export of every turn writes
    each history once."""
    import os

    from xsus_tui.core.agents import build_chat_agent

    os.environ["XSUS_DEMO_DELAY"] = "0"
    session = ChatSession(build_chat_agent("demo"), store)
    prompts = ("plan a trip", "hello", "use the tools")
    for turn in range(24):
        await collect(session, prompts[turn % len(prompts)])
    db = sqlite3.connect(tmp_path / "history.db")
    sizes = [len(body) for (body,) in db.execute("SELECT events FROM recordings ORDER BY created_at")]
    assert len(sizes) == 24
    for early, late in ((sizes[3], sizes[21]), (sizes[4], sizes[22]), (sizes[5], sizes[23])):
        # the same prompt costs about the same at turn 4 and turn 22 (each joined request before it is written out:
        # a few dozen bytes compressed)
        assert late < early * 1.3, sizes
    recordings = await store.recordings(session.conversation.conversation_id)
    text = "".join(rec.to_ndjson(recordings))
    headers = [json.loads(line) for line in text.split("\n") if line.startswith('{"type":"recording"')]
    written = sum(isinstance(item, dict) for header in headers for item in header["history"])
    assert written == len(recordings[-1].history)  # each message of the conversation written out once
    again = rec.from_ndjson(text)
    assert [len(r.history) for r in again] == [len(r.history) for r in recordings]
    assert list(again[-1].history) == list(recordings[-1].history)
    for back, stored in zip(again, recordings, strict=True):
        same_events(list(back.events), list(stored.events))
