"""The inspector's analysis of a recorded turn with a retry, a stall and a rejected output (core.inspect)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelResponse
from pydantic_ai.models.function import DeltaToolCall

from xsus_tui.core import events as ev
from xsus_tui.core.inspect import event_line, format_cost, inspect_turn, message_lines
from xsus_tui.core.inspect_output import COMPLETE, INVALID, MISSING, PARTIAL
from xsus_tui.core.recording import Recording, Timed
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore

from .helpers import chat_agent


class City(BaseModel):
    name: str
    population: int
    note: str


def troubled_turn(stall: float = 0.7):
    """Request 1 fails once (HTTP 503) and is retried; its response stalls after its first text, then sends an
    output whose `population` doesn't validate; request 2 sends a valid one. The output streams in small chunks."""
    calls: list[int] = []

    async def stream(messages, info):
        calls.append(1)
        if len(calls) == 1:
            raise ModelHTTPError(503, "function", body={"error": {"message": "overloaded"}})
        name = info.output_tools[0].name
        if not any(isinstance(m, ModelResponse) for m in messages):
            yield "Let me see. "
            await asyncio.sleep(stall)
            chunks, call_id = ['{"name": "Os', 'lo", "popu', 'lation": "ma', 'ny", "note": ', '"x"}'], "o1"
        else:
            chunks, call_id = ['{"name": "Oslo", ', '"population": 709', '000, "note": "capital"}'], "o2"
        yield {1: DeltaToolCall(name=name, json_args=chunks[0], tool_call_id=call_id)}
        for chunk in chunks[1:]:
            yield {1: DeltaToolCall(json_args=chunk)}

    return chat_agent(stream, output_type=City, instructions="Answer about cities.")


@pytest.fixture
def store(tmp_path):
    store = SQLiteConversationStore.open(tmp_path / "history.db")
    yield store
    store.close()


async def run(session: ChatSession, prompt: str) -> Recording:
    async for _ in session.run_turn(prompt):
        pass
    return Recording(prompt=prompt, events=tuple(session.last_recording.events), turn=1)


async def test_a_turn_with_a_retry_a_stall_and_a_rejected_output(store):
    session = ChatSession(troubled_turn(), store, backoff=0.05, stall_notice=0.2, idle_timeout=5)
    report = inspect_turn(await run(session, "tell me about Oslo"))
    assert isinstance(report.ending, ev.TurnFinished)

    # The timeline, in time order: the request, the retry with its reason and wait, the retried request, the first
    # token, the stall, the rejected output, the second request, the validated output, the end.
    kinds = [entry.kind for entry in report.timeline]
    assert [e.t for e in report.timeline] == sorted(e.t for e in report.timeline)
    order = ["request", "retry", "request", "first token", "stall", "output", "request", "output", "end"]
    positions = []
    start = 0
    for kind in order:
        start = kinds.index(kind, start)
        positions.append(start)
        start += 1
    texts = [entry.text for entry in report.timeline]
    retry = report.timeline[positions[1]]
    assert retry.text.startswith("retry 1/3 after") and "HTTP 503" in retry.text and "overloaded" in retry.text
    assert retry.duration == report.retries[0].delay and 0.025 <= retry.duration <= 0.05
    assert "attempt 2" in texts[positions[2]]
    assert texts[positions[3]].startswith("text, ") and texts[positions[3]].endswith(" after the prompt")
    stall = report.timeline[positions[4]]
    assert stall.level == "warning" and stall.duration is not None and stall.duration >= 0.2
    assert texts[positions[5]].startswith("output rejected: population:")
    assert texts[positions[7]] == "output validated" and texts[-1].startswith("finished")
    # Each part starts and ends; tool runs aside, these are the text and the two outputs.
    assert [(p.kind, p.request) for p in report.parts] == [("text", 1), ("output", 1), ("output", 2)]
    assert report.parts[1].chunks == 5 and report.parts[2].chunks == 3

    # One stall, however many times the watchdog said so; the longest gap is the stall's silence.
    assert len(report.stalls) == 1 and report.stalls[0].seconds >= 0.2
    assert report.longest[0].seconds >= 0.35 and report.longest[0].after == "output"
    assert [g.seconds for g in report.longest] == sorted((g.seconds for g in report.longest), reverse=True)
    assert len(report.gaps) == 1 + 4 + 2  # within each response; the wait for a response's first chunk is its ttft

    # Usage per request: two requests (the first sent twice), tokens, tokens/s, and no price for a FunctionModel.
    first, second = report.requests
    assert (first.number, first.attempts, second.number, second.attempts) == (1, 2, 2, 1)
    assert first.usage is not None and first.usage.output_tokens > 0 and first.ttft is not None
    assert first.last_sent > first.sent
    assert first.tokens_per_second is not None  # streamed for longer than 50 ms (the stall)
    assert report.cost is None and format_cost(report.cost) == "cost unknown"
    assert report.tokens() == (first.usage.input_tokens + second.usage.input_tokens, report.ending.stats.output_tokens)

    # Structured output over time: each field's states as the JSON streamed, and the verdicts.
    rejected, accepted = report.outputs
    assert (rejected.verdict, accepted.verdict) == ("rejected", "validated")
    assert rejected.errors and rejected.errors[0].startswith("population: Input should be a valid integer")
    fields = {f.name: f for f in rejected.fields}
    assert list(fields) == ["name", "population", "note"] and all(f.required for f in fields.values())
    assert fields["population"].final == INVALID and fields["name"].final == COMPLETE
    assert fields["population"].errors == rejected.errors
    samples = rejected.samples
    assert samples[0].states == (MISSING, MISSING, MISSING)
    columns = list(zip(*(s.states for s in samples), strict=True))
    assert PARTIAL in columns[0] and PARTIAL in columns[1]  # "Os" then "lo": name was partial for a chunk
    assert columns[1][-1] == INVALID and columns[2][-1] == COMPLETE
    assert all(state == COMPLETE for state in accepted.samples[-1].states)
    # The diff between the rejected attempt and the accepted one.
    ((old, new, diff),) = report.diffs()
    assert (old, new) == (rejected, accepted)
    assert '-  "population": "many",' in diff and '+  "population": 709000,' in diff
    assert '+  "note": "capital"' in diff and '   "name": "Oslo",' in diff

    # What the stored recording says is what the live one said.
    (stored,) = await store.recordings(session.conversation.conversation_id)
    again = inspect_turn(stored)
    assert [e.text for e in again.timeline] == texts
    assert again.diffs()[0][2] == diff


async def test_the_request_as_sent_and_the_raw_events():
    session = ChatSession(troubled_turn(stall=0), None, backoff=0.01)
    recording = await run(session, "tell me about Oslo")
    report = inspect_turn(recording)
    sent = report.requests[1].request
    assert sent is not None and sent.instructions == "Answer about cities."
    readable = message_lines(sent.messages)
    assert readable[0] == ("user", "tell me about Oslo")
    assert any(who == "tool call" and text.startswith("final_result(") for who, text in readable)
    assert any(who == "tool result" and "(retried)" in text and "population" in text for who, text in readable)
    lines = [event_line(timed) for timed in recording.events]
    assert lines[0].split()[1:3] == ["request", "number=1"] and "tools=1" in lines[0]
    assert any("retrying" in line and "HTTP 503" in line for line in lines)
    assert "finished" in lines[-1]


def test_model_and_tool_text_is_made_inert():
    schema = {"properties": {"a\u202eb": {"type": "string"}}, "required": ["a\u202eb"]}
    events = [
        ev.OutputStarted(call_id="o", tool_name="final\x1b[2J", schema=schema),
        ev.OutputPartial(call_id="o", delta='{"a\u202eb": "\x1b]0;pwned\x07"}', chunks=['{"a\u202eb": "x"}']),
        ev.OutputRejected(call_id="o", error="a\u202eb: \x1b[31mbad"),
        ev.Notice("saved \x1b[2J elsewhere"),
        ev.TurnFailed(error="boom \x1b[2J"),
    ]
    report = inspect_turn(Recording(prompt="p", events=tuple(Timed(i * 0.1, e) for i, e in enumerate(events))))
    shown = [e.text for e in report.timeline] + [event_line(Timed(0, e)) for e in events]
    (attempt,) = report.outputs
    shown += [attempt.raw, attempt.tool_name, *attempt.errors, *(f.name for f in attempt.fields), *attempt.pretty()]
    for text in shown:
        assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert attempt.fields[0].final == INVALID  # the disguised name still matches its error


def test_a_large_turn_is_one_quick_pass():
    from benchmarks.inspector import synthetic

    recording = synthetic(17_000)
    report = inspect_turn(recording)
    assert len(report.gaps) > 16_000 and report.longest[0].seconds == pytest.approx(5.201)
    rejected, accepted = report.outputs
    assert [f.final for f in rejected.fields] == [COMPLETE, INVALID, COMPLETE]
    assert len(rejected.samples) <= 200 and len(report.gap_buckets(400)) == 400
    assert max(report.gap_buckets(400)) == max(report.gaps)
