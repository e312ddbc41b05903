"""Playback: a recorded turn replayed offline through a ChatSession gives the same events, at the recorded pace."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai import ModelRetry, NativeOutput
from pydantic_ai.conversation import Conversation
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.models.function import DeltaThinkingPart, DeltaToolCall

from xsus_tui.core import events as ev
from xsus_tui.core import recording as rec
from xsus_tui.core.agents import text_output_schema
from xsus_tui.core.playback import MAX, Playback
from xsus_tui.core.session import ChatSession

from .helpers import chat_agent, collect, text_of, text_stream


class City(BaseModel):
    name: str
    population: int


GAP = 0.04
"""Seconds between the chunks of the recorded turns (so timing is measurable at speed 1 and 2)."""


def everything(seen: list[list]):
    """Thinking, a tool retried once then run, a transient HTTP 503 retried, an output rejected once then accepted."""
    calls = {"stream": 0, "lookup": 0}

    async def stream(messages, info):
        seen.append(list(messages))
        step = calls["stream"]
        calls["stream"] += 1
        if step == 0:
            yield {0: DeltaThinkingPart(content="Which city")}
            await asyncio.sleep(GAP)
            yield {0: DeltaThinkingPart(content="? Oslo.")}
            yield "Looking it up. "
            await asyncio.sleep(GAP)
            yield {1: DeltaToolCall(name="lookup", json_args='{"city": "Os', tool_call_id="t1")}
            yield {1: DeltaToolCall(json_args='lo"}')}
        elif step == 1:
            yield {0: DeltaToolCall(name="lookup", json_args='{"city": "Oslo"}', tool_call_id="t2")}
        elif step == 2:
            raise ModelHTTPError(503, "function", body={"error": {"message": "overloaded"}})
        elif step == 3:
            await asyncio.sleep(GAP)
            yield {0: DeltaToolCall(name=info.output_tools[0].name, json_args='{"name": "Oslo", ', tool_call_id="o1")}
            await asyncio.sleep(GAP)
            yield {0: DeltaToolCall(json_args='"population": "many"}')}
        else:
            yield {0: DeltaToolCall(name=info.output_tools[0].name, json_args='{"name": "Oslo", ', tool_call_id="o2")}
            await asyncio.sleep(GAP)
            yield {0: DeltaToolCall(json_args='"population": 709000}')}

    agent = chat_agent(stream, output_type=[str, City], instructions="Answer about cities.")

    @agent.agent.tool_plain
    async def lookup(city: str) -> str:
        """Facts about a city."""
        calls["lookup"] += 1
        await asyncio.sleep(GAP)
        if calls["lookup"] == 1:
            raise ModelRetry("the archive is busy, ask again")
        return f"{city}: capital of Norway"

    return agent


async def record(agent, prompt: str, *, history: list | None = None, **session_kwargs: Any) -> rec.Recording:
    """Run a turn and return its recording, as `xsus history export --format events` would give it back."""
    session = ChatSession(agent, conversation=Conversation(messages=list(history or [])), **session_kwargs)
    on_event = session_kwargs.pop("on_event", None)
    await collect(session, prompt, every=True, on_event=on_event)
    recording = rec.Recording(
        prompt=prompt,
        events=tuple(session.last_recording.events),
        history=(*(history or []), ModelRequest(parts=[UserPromptPart(prompt)])),
        model="function",
        turn=1 + sum(isinstance(m, ModelRequest) for m in history or []),
    )
    (back,) = rec.from_ndjson("".join(rec.to_ndjson([recording])))
    return back


async def replay(recording: rec.Recording, speed: float) -> tuple[ChatSession, list[rec.Timed]]:
    playback = Playback(recording, speed=speed)
    session = ChatSession(
        playback.chat_agent,
        conversation=Conversation(messages=list(recording.history[:-1])),
        retries=playback.retries,
        idle_timeout=playback.idle_timeout,
        backoff=5.0,  # a retry waits what the recording asks (its Retry-After), never this
        model_settings=playback.model_settings,
    )
    playback.attach(session)
    await collect(session, recording.prompt, every=True)
    return session, list(session.last_recording.events)


TIMED_FIELDS = {"duration", "ttft", "delay", "t"}
"""Measured times: compared with a tolerance, not for equality."""
STAMPS = {"timestamp", "run_id", "conversation_id"}
"""What pydantic-ai stamps on each run's messages: another run, another stamp."""


def _without(value: Any, keys: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


def comparable(events: list[rec.Timed]) -> list[dict[str, Any]]:
    """Each event as its recorded line, without its measured times and the messages' stamps."""
    lines = list(rec.lines(rec.Recording(prompt="", events=tuple(events))))[1:]
    return [_without(line, TIMED_FIELDS | STAMPS) for line in lines]


def assert_same_events(recorded: list[rec.Timed], replayed: list[rec.Timed]) -> None:
    """The same events, in the same order, with the same fields, the times and stamps aside: each request sent the
    model the same messages, instructions and tools, each response the same usage."""
    assert [type(t.event).__name__ for t in replayed] == [type(t.event).__name__ for t in recorded]
    for a, b in zip(comparable(recorded), comparable(replayed), strict=True):
        assert a == b


@pytest.fixture
async def recorded() -> rec.Recording:
    history = [ModelRequest(parts=[UserPromptPart("hi")]), ModelResponse(parts=[TextPart("Hello!")])]
    return await record(everything([]), "tell me about Oslo", history=history, backoff=0.05)


async def test_the_recorded_turn_has_everything(recorded):
    kinds = [type(t.event) for t in recorded.events]
    for kind in (ev.ThinkingDelta, ev.ToolCallFinished, ev.Retrying, ev.OutputRejected, ev.OutputValidated):
        assert kind in kinds
    results = [t.event for t in recorded.events if isinstance(t.event, ev.ToolCallFinished)]
    assert [r.outcome for r in results] == ["retried", "success"]
    assert isinstance(recorded.ending, ev.TurnFinished)
    assert recorded.ending.output == {"name": "Oslo", "population": 709000}


async def test_a_replay_at_max_speed_gives_the_recorded_events(recorded):
    started = time.monotonic()
    session, replayed = await replay(recorded, MAX)
    assert time.monotonic() - started < recorded.duration
    assert_same_events(list(recorded.events), replayed)
    retry = next(t.event for t in replayed if isinstance(t.event, ev.Retrying))
    assert retry.delay == 0  # times are scaled: at max speed nothing waits
    # The conversation goes on from the recorded history, and the replay's answer is the recorded one.
    assert session.conversation.messages[0].parts[0].content == "hi"
    assert session.conversation.messages[2].parts[0].content == "tell me about Oslo"


@pytest.mark.parametrize("speed", [1.0, 2.0])
async def test_a_replay_keeps_the_recorded_pace_scaled(recorded, speed):
    _, replayed = await replay(recorded, speed)
    assert_same_events(list(recorded.events), replayed)
    # Each event comes when the recording says (scaled), within a tolerance for the machine's own overhead.
    start = next(t.t for t in recorded.events if isinstance(t.event, ev.RequestSent))
    start_again = next(t.t for t in replayed if isinstance(t.event, ev.RequestSent))
    for was, now in zip(recorded.events, replayed, strict=True):
        if isinstance(was.event, ev.TextDelta | ev.ThinkingDelta | ev.OutputPartial | ev.ToolCallFinished):
            expected = (was.t - start) / speed
            assert abs((now.t - start_again) - expected) < 0.03 + 0.1 * expected, (was.event, expected, now.t)
    # And the whole turn, from its first request (what comes before it is this machine's own start-up of a run).
    expected = (recorded.duration - start) / speed
    assert abs((replayed[-1].t - start_again) - expected) < 0.05 + 0.15 * expected
    retry = next(t.event for t in replayed if isinstance(t.event, ev.Retrying))
    original = next(t.event for t in recorded.events if isinstance(t.event, ev.Retrying))
    assert retry.delay == pytest.approx(original.delay / speed)


async def test_the_replay_reports_the_recorded_usage_and_tokens(recorded):
    _, replayed = await replay(recorded, MAX)
    usage = [t.event for t in replayed if isinstance(t.event, ev.ResponseUsage)]
    assert usage == [t.event for t in recorded.events if isinstance(t.event, ev.ResponseUsage)]
    assert replayed[-1].event.stats.output_tokens == recorded.ending.stats.output_tokens


async def test_an_approval_is_decided_as_recorded():
    async def stream(messages, info):
        if len([m for m in messages if isinstance(m, ModelResponse)]) == 0:
            yield {0: DeltaToolCall(name="delete_file", json_args='{"path": "a"}', tool_call_id="d1")}
            yield {1: DeltaToolCall(name="delete_file", json_args='{"path": "b"}', tool_call_id="d2")}
        else:
            yield "Deleted a, kept b."

    agent = chat_agent(stream)

    @agent.agent.tool_plain(requires_approval=True)
    def delete_file(path: str) -> str:
        return f"deleted {path}"

    sessions: list[ChatSession] = []

    def decide(event, _):
        if isinstance(event, ev.ApprovalRequested):
            sessions[0].decide(event.call_id, event.args == {"path": "a"})

    session = ChatSession(agent)
    sessions.append(session)
    await collect(session, "clean up", every=True, on_event=decide)
    recording = rec.Recording(
        prompt="clean up",
        events=tuple(session.last_recording.events),
        history=(ModelRequest(parts=[UserPromptPart("clean up")]),),
    )
    outcomes = {t.event.call_id: t.event.outcome for t in recording.events if isinstance(t.event, ev.ToolCallFinished)}
    assert outcomes == {"d1": "success", "d2": "denied"}
    _, replayed = await replay(recording, MAX)  # nobody decides: the recording does
    assert_same_events(list(recording.events), replayed)


async def test_a_tool_result_that_is_not_text_is_sent_back_as_it_was():
    async def stream(messages, info):
        if not any(isinstance(m, ModelResponse) for m in messages[1:]):
            yield {0: DeltaToolCall(name="facts", json_args="{}", tool_call_id="f1")}
            yield {1: DeltaToolCall(name="count", json_args="{}", tool_call_id="c1")}
        else:
            yield "Done."

    agent = chat_agent(stream)
    agent.agent.tool_plain(lambda: {"os": "Linux", "cpus": 2}, name="facts")
    agent.agent.tool_plain(lambda: 455, name="count")
    recording = await record(agent, "facts")
    _, replayed = await replay(recording, MAX)
    assert_same_events(list(recording.events), replayed)  # the model was sent the dict and the int again


async def test_a_turn_interrupted_while_waiting_for_approval_ends_there_again():
    async def stream(messages, info):
        yield "Deleting. "
        yield {1: DeltaToolCall(name="delete_file", json_args='{"path": "a"}', tool_call_id="d1")}

    agent = chat_agent(stream)

    @agent.agent.tool_plain(requires_approval=True)
    def delete_file(path: str) -> str:
        return "deleted"

    session = ChatSession(agent)
    await collect(session, "clean", on_event=lambda e, _: isinstance(e, ev.ApprovalRequested) and session.cancel())
    recording = rec.Recording(
        prompt="clean",
        events=tuple(session.last_recording.events),
        history=(ModelRequest(parts=[UserPromptPart("clean")]),),
    )
    assert isinstance(recording.ending, ev.TurnCancelled)
    _, replayed = await replay(recording, 1.0)
    assert [type(t.event) for t in replayed] == [type(t.event) for t in recording.events]
    assert replayed[-1].event.partial_text == "Deleting. "


async def test_an_interrupted_turn_stops_where_it_stopped():
    session = ChatSession(chat_agent(text_stream([f"word{i} " for i in range(100)], delay=0.002)))

    def cancel_after_five(event, seen):
        if sum(isinstance(e, ev.TextDelta) for e in seen) == 5:
            session.cancel()

    await collect(session, "long", on_event=cancel_after_five)
    recording = rec.Recording(
        prompt="long",
        events=tuple(session.last_recording.events),
        history=(ModelRequest(parts=[UserPromptPart("long")]),),
    )
    assert isinstance(recording.ending, ev.TurnCancelled)
    _, replayed = await replay(recording, MAX)
    ending = replayed[-1].event
    assert isinstance(ending, ev.TurnCancelled) and ending.partial_text == recording.ending.partial_text
    assert text_of([t.event for t in replayed]) == text_of([t.event for t in recording.events])


async def test_a_turn_interrupted_before_any_answer_gives_the_prompt_back_again():
    asked = asyncio.Event()

    async def stream(messages, info):
        asked.set()
        await asyncio.sleep(30)
        yield "never"

    session = ChatSession(chat_agent(stream))

    async def interrupt():  # once the request is out (a fixed sleep could come before it on a loaded machine)
        await asyncio.wait_for(asked.wait(), 5)
        await asyncio.sleep(0.05)
        session.cancel()

    task = asyncio.ensure_future(interrupt())
    await collect(session, "slow")
    await task
    recording = rec.Recording(
        prompt="slow",
        events=tuple(session.last_recording.events),
        history=(ModelRequest(parts=[UserPromptPart("slow")]),),
    )
    assert isinstance(recording.ending, ev.TurnCancelled) and recording.ending.unsent
    replaying, replayed = await replay(recording, MAX)
    assert_same_events(list(recording.events), replayed)
    assert replaying.conversation.messages == []  # taken back, as it was


async def test_a_failed_turn_fails_the_same_way():
    async def stream(messages, info):
        yield "Half a rep"
        raise ConnectionError("the server went away")

    session = ChatSession(chat_agent(stream))
    await collect(session, "go")
    recording = rec.Recording(
        prompt="go", events=tuple(session.last_recording.events), history=(ModelRequest(parts=[UserPromptPart("go")]),)
    )
    assert isinstance(recording.ending, ev.TurnFailed)
    _, replayed = await replay(recording, MAX)
    ending = replayed[-1].event
    assert isinstance(ending, ev.TurnFailed)
    assert ending.error == recording.ending.error and ending.partial_text == "Half a rep"


async def test_a_text_reply_that_was_not_taken_is_rejected_again():
    async def stream(messages, info):
        if not any(isinstance(m, ModelResponse) for m in messages[1:]):
            yield "It is Oslo."  # text, where only a City will do: pydantic-ai asks again
        else:
            yield {0: DeltaToolCall(name=info.output_tools[0].name, json_args='{"name": "Oslo", "population": 1}')}

    recording = await record(chat_agent(stream, output_type=City), "capital?")
    assert any(isinstance(t.event, ev.ResponseStarted) and t.event.rejected_text for t in recording.events)
    _, replayed = await replay(recording, MAX)
    # the model is sent pydantic-ai's feedback on the text (invalid JSON for a City) as it was
    assert_same_events(list(recording.events), replayed)


async def test_an_output_written_as_text_goes_to_its_panel_again():
    attempts = ['{"name": "Oslo", "population": "many"}', '{"name": "Oslo", ', '"population": 709000}']

    async def stream(messages, info):
        if not any(isinstance(m, ModelResponse) for m in messages[1:]):
            yield attempts[0]
        else:
            for chunk in attempts[1:]:
                yield chunk

    agent = chat_agent(stream, output_type=NativeOutput(City))
    agent.text_output = text_output_schema(agent.agent)  # as agents.py builds it for an --agent
    recording = await record(agent, "a city as JSON")
    kinds = [type(t.event) for t in recording.events]
    assert ev.OutputRejected in kinds and ev.OutputValidated in kinds and ev.TextDelta not in kinds
    _, replayed = await replay(recording, MAX)
    assert_same_events(list(recording.events), replayed)


async def test_the_ndjson_file_replays_the_same(recorded):
    text = "".join(rec.to_ndjson([recorded]))
    (again,) = rec.from_ndjson(text)
    _, replayed = await replay(again, MAX)
    assert_same_events(list(recorded.events), replayed)


async def test_a_prompt_after_the_replay_gets_a_word_not_a_request():
    recording = await record(chat_agent(text_stream(["Hello ", "there"])), "hi")
    session, _ = await replay(recording, MAX)
    events = await collect(session, "and then?")
    assert "replay" in text_of(events) and isinstance(events[-1], ev.TurnFinished)


@pytest.mark.parametrize(
    "fault",
    [
        ModelHTTPError(429, "gpt-x", body={"error": {"message": "slow down"}}),
        ConnectionError("reset by peer"),
        TimeoutError(),
    ],
)
async def test_a_retry_is_replayed_with_its_reason_and_detail(fault):
    failed: list[bool] = []

    async def stream(messages, info):
        if not failed:
            failed.append(True)
            raise fault
        yield "ok"

    recording = await record(chat_agent(stream), "hi", backoff=0.01)
    (original,) = [t.event for t in recording.events if isinstance(t.event, ev.Retrying)]
    _, replayed = await replay(recording, MAX)
    (again,) = [t.event for t in replayed if isinstance(t.event, ev.Retrying)]
    assert (again.reason, again.detail, again.attempt, again.retries) == (
        original.reason,
        original.detail,
        original.attempt,
        original.retries,
    )
    assert_same_events(list(recording.events), replayed)
