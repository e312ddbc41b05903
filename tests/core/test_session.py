"""The turn engine with FunctionModel: streaming, tools, structured output, cancel, failure, history."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai import ModelRetry
from pydantic_ai.exceptions import ModelAPIError
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.models.function import DeltaThinkingPart, DeltaToolCall

from xsus_tui.core import events as ev
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore

from .helpers import chat_agent, collect, text_of, text_stream


@pytest.fixture
def store(tmp_path):
    store = SQLiteConversationStore.open(tmp_path / "history.db")
    yield store
    store.close()


def response_texts(messages) -> list[str]:
    return [
        "".join(p.content for p in m.parts if isinstance(p, TextPart)) for m in messages if isinstance(m, ModelResponse)
    ]


async def test_text_streams_delta_by_delta_and_is_saved(store):
    chunks = ["# Title\n\n", "Some ", "**bold** ", "text."]
    session = ChatSession(chat_agent(text_stream(chunks)), store)
    events = await collect(session, "hi")
    assert [e.text for e in events if isinstance(e, ev.TextDelta)] == chunks
    finished = events[-1]
    assert isinstance(finished, ev.TurnFinished)
    assert finished.output == "".join(chunks)
    assert finished.stats.requests == 1 and finished.stats.output_tokens > 0
    assert finished.stats.ttft is not None and finished.stats.ttft < finished.stats.duration
    stored = await store.load(session.conversation.conversation_id)
    assert response_texts(stored.messages) == ["".join(chunks)]
    assert stored.messages[0].parts[0].content == "hi"


async def test_thinking_then_text(store):
    async def stream(messages, info):
        yield {0: DeltaThinkingPart(content="Let me ")}
        yield {0: DeltaThinkingPart(content="think.")}
        yield "Answer."

    events = await collect(ChatSession(chat_agent(stream), store), "q")
    thinking = [e.text for e in events if isinstance(e, ev.ThinkingDelta)]
    assert "".join(thinking) == "Let me think."
    first_text = next(i for i, e in enumerate(events) if isinstance(e, ev.TextDelta))
    assert all(isinstance(e, ev.ThinkingDelta) for e in events[:first_text])


def calculator(expression: str) -> str:
    if "/0" in expression.replace(" ", ""):
        raise ModelRetry("division by zero")
    return str(eval(expression, {"__builtins__": {}}))  # test-only, fixed inputs


def now() -> str:
    return "12:00"


async def test_multi_step_turn_with_two_calls_in_one_step_and_a_recovered_tool_error(store):
    async def stream(messages, info):
        step = sum(isinstance(m, ModelResponse) for m in messages)
        if step == 0:
            yield "Checking. "
            yield {1: DeltaToolCall(name="calculator", json_args='{"expres', tool_call_id="a")}
            yield {1: DeltaToolCall(json_args='sion": "2+3"}')}
            yield {2: DeltaToolCall(name="now", json_args="{}", tool_call_id="b")}
        elif step == 1:
            yield {1: DeltaToolCall(name="calculator", json_args='{"expression": "1/0"}', tool_call_id="c")}
        else:
            yield "Done: 5."

    session = ChatSession(chat_agent(stream, tools=[calculator, now]), store)
    events = await collect(session, "go")
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "TextDelta"
    started = [e for e in events if isinstance(e, ev.ToolCallStarted)]
    assert [e.tool_name for e in started] == ["calculator", "now", "calculator"]
    deltas = [e.delta for e in events if isinstance(e, ev.ToolArgsDelta) and e.call_id == "a"]
    assert started[0].args + "".join(deltas) == '{"expression": "2+3"}'
    running = {e.call_id: e.args for e in events if isinstance(e, ev.ToolCallRunning)}
    assert running["a"] == {"expression": "2+3"}
    finished = {e.call_id: e for e in events if isinstance(e, ev.ToolCallFinished)}
    assert finished["a"].result == "5" and finished["a"].ok and finished["a"].duration is not None
    assert finished["b"].result == "12:00"
    assert finished["c"].error == "division by zero" and not finished["c"].ok
    # Both calls of the first step started before either finished: they ran as one step.
    b_started = next(i for i, e in enumerate(events) if isinstance(e, ev.ToolCallStarted) and e.call_id == "b")
    assert kinds.index("ToolCallFinished") > b_started
    assert text_of(events) == "Checking. Done: 5."
    assert isinstance(events[-1], ev.TurnFinished) and events[-1].stats.requests == 3


class City(BaseModel):
    name: str
    population: int
    tags: list[str] = []


async def test_structured_output_fills_in_field_by_field(store):
    async def stream(messages, info):
        name = info.output_tools[0].name
        yield {0: DeltaToolCall(name=name, json_args='{"name": "Par', tool_call_id="o")}
        yield {0: DeltaToolCall(json_args='is", "tags": ["old"]')}
        yield {0: DeltaToolCall(json_args=', "population": 2100000}')}

    events = await collect(ChatSession(chat_agent(stream, output_type=City), store), "city")
    started = [e for e in events if isinstance(e, ev.OutputStarted)]
    assert len(started) == 1 and started[0].schema["title"] == "City"
    partials = [e for e in events if isinstance(e, ev.OutputPartial)]
    assert partials[0].value == {"name": "Par"} and partials[0].missing == ("population",)
    assert partials[1].value == {"name": "Paris", "tags": ["old"]} and partials[1].missing == ("population",)
    assert partials[-1].missing == ()
    validated = [e for e in events if isinstance(e, ev.OutputValidated)]
    assert validated[0].value == {"name": "Paris", "population": 2100000, "tags": ["old"]}
    assert not any(isinstance(e, ev.ToolCallStarted) for e in events)
    assert isinstance(events[-1].output, City)


async def test_structured_output_after_text_is_still_recognised(store):
    async def stream(messages, info):
        yield "Here it is: "
        yield {1: DeltaToolCall(name=info.output_tools[0].name, json_args='{"name": "Oslo", "population": 1}')}

    events = await collect(ChatSession(chat_agent(stream, output_type=[str, City]), store), "city")
    assert any(isinstance(e, ev.OutputStarted) for e in events)
    assert not any(isinstance(e, ev.ToolCallStarted) for e in events)


async def test_cancel_mid_stream_keeps_and_saves_the_partial_reply(store):
    chunks = [f"word{i} " for i in range(200)]
    session = ChatSession(chat_agent(text_stream(chunks, delay=0.005)), store)

    def cancel_after_five(event, seen):
        if sum(isinstance(e, ev.TextDelta) for e in seen) == 5:
            session.cancel()

    events = await collect(session, "long", on_event=cancel_after_five)
    ending = events[-1]
    assert isinstance(ending, ev.TurnCancelled)
    assert ending.partial_text == text_of(events)
    assert 5 <= len(ending.partial_text.split()) < 20
    stored = await store.load(session.conversation.conversation_id)
    last = stored.messages[-1]
    assert isinstance(last, ModelResponse) and last.state == "interrupted"
    assert response_texts(stored.messages)[-1] == ending.partial_text  # exactly what was shown
    # The next prompt works and the model receives the partial reply.
    seen: list = []
    session.chat_agent = chat_agent(text_stream(["ok"], seen=seen))
    events = await collect(session, "next")
    assert isinstance(events[-1], ev.TurnFinished)
    assert ending.partial_text in response_texts(seen[0])
    record = await store.read_record(session.conversation.conversation_id)
    assert record.branches == []


async def test_cancel_before_the_first_delta(store):
    async def stream(messages, info):
        await asyncio.sleep(10)
        yield "never"

    session = ChatSession(chat_agent(stream), store)
    task = asyncio.ensure_future(collect(session, "slow"))
    await asyncio.sleep(0.05)
    session.cancel()
    events = await asyncio.wait_for(task, 1)
    assert isinstance(events[-1], ev.TurnCancelled) and events[-1].partial_text == ""
    assert events[-1].unsent and session.conversation.messages == []  # offered again, not left unanswered
    record = await store.read_record(session.conversation.conversation_id)
    branch = await store.read_history(record.branches[0])
    assert branch[-1].message.parts[0].content == "slow"  # still on disk


async def test_failure_mid_stream_keeps_the_partial_reply(store):
    async def stream(messages, info):
        yield "Half "
        yield "a reply"
        raise ModelAPIError("function", "connection dropped")

    session = ChatSession(chat_agent(stream), store)
    events = await collect(session, "x")
    ending = events[-1]
    assert isinstance(ending, ev.TurnFailed)
    assert "connection dropped" in ending.error and ending.partial_text == "Half a reply"
    stored = await store.load(session.conversation.conversation_id)
    assert response_texts(stored.messages) == ["Half a reply"]
    assert isinstance(session.conversation.messages[-1], ModelResponse)
    events = await collect(session, "again")  # the session is usable afterwards
    assert isinstance(events[-1], ev.TurnFailed) and not session.busy


async def test_consumer_cancelled_mid_stream_still_saves(store):
    """The app quitting cancels the worker that consumes the turn: the partial reply must be saved."""
    session = ChatSession(chat_agent(text_stream([f"w{i} " for i in range(500)], delay=0.005)), store)
    shown: list[str] = []

    async def consume():
        async for event in session.run_turn("quit soon"):
            if isinstance(event, ev.TextDelta):
                shown.append(event.text)

    task = asyncio.ensure_future(consume())
    async with asyncio.timeout(10):
        while len(shown) < 5:  # mid-stream, however loaded the machine
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stored = await store.load(session.conversation.conversation_id)
    saved = response_texts(stored.messages)[-1]
    assert saved.startswith("".join(shown)) and len(saved) > 0
    assert not session.busy


async def test_prompt_is_on_disk_before_the_model_is_called(store):
    on_disk_at_call: list[list[str]] = []
    session: ChatSession

    async def stream(messages, info):
        stored = await store.load(session.conversation.conversation_id)
        on_disk_at_call.append(
            [
                p.content
                for m in stored.messages
                if isinstance(m, ModelRequest)
                for p in m.parts
                if isinstance(p, UserPromptPart)
            ]
        )
        yield "ok"

    session = ChatSession(chat_agent(stream), store)
    await collect(session, "remember me")
    assert on_disk_at_call == [["remember me"]]


async def test_resumed_conversation_sends_the_full_earlier_replies(store):
    long_reply = [f"sentence {i}. " for i in range(300)]
    first = ChatSession(chat_agent(text_stream(long_reply)), store)
    await collect(first, "tell me a lot")
    seen: list[Any] = []
    loaded = await store.load(store.latest_id())
    second = ChatSession(chat_agent(text_stream(["sure"], seen=seen)), store, conversation=loaded)
    events = await collect(second, "follow-up")
    assert isinstance(events[-1], ev.TurnFinished)
    sent = seen[0]
    assert response_texts(sent)[0] == "".join(long_reply)
    prompts = [p.content for m in sent if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart)]
    assert prompts == ["tell me a lot", "follow-up"]
    again = await store.load(loaded.conversation_id)
    assert len(again.messages) == 4


async def test_failure_before_any_output_takes_the_prompt_back_without_losing_it(store):
    async def refused(messages, info):
        raise ConnectionError("refused")
        yield ""

    seen: list = []
    session = ChatSession(chat_agent(text_stream(["first answer"], seen=seen)), store, retries=0)
    await collect(session, "first")
    session.chat_agent = chat_agent(refused)
    events = await collect(session, "are you there?")
    ending = events[-1]
    assert isinstance(ending, ev.TurnFailed) and ending.unsent and "refused" in ending.error
    assert ending.stats.input_tokens == 0 and ending.stats.output_tokens == 0
    record = await store.read_record(session.conversation.conversation_id)
    assert len(record.branches) == 1  # the unanswered prompt is kept on disk, off the main history
    branch = await store.read_history(record.branches[0])
    assert branch[-1].message.parts[0].content == "are you there?"
    # Sending it again does not repeat it in what the model receives.
    session.chat_agent = chat_agent(text_stream(["yes"], seen=seen))
    await collect(session, "are you there?")
    prompts = [
        p.content for m in seen[-1] if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart)
    ]
    assert prompts == ["first", "are you there?"]


async def test_failure_after_output_records_the_error_and_counts_no_negative_tokens(store):
    async def breaks(messages, info):
        yield "partial "
        raise ModelAPIError("function", "stream cut")

    session = ChatSession(chat_agent(text_stream(["a long first answer " * 20])), store)
    await collect(session, "first")
    session.chat_agent = chat_agent(breaks)
    ending = (await collect(session, "second"))[-1]
    assert isinstance(ending, ev.TurnFailed) and not ending.unsent
    assert ending.stats.output_tokens >= 0 and ending.stats.input_tokens >= 0
    stored = await store.load(session.conversation.conversation_id)
    last = stored.messages[-1]
    assert isinstance(last, ModelResponse) and last.metadata[ev.ERROR_METADATA_KEY] == ending.error


async def test_a_long_conversation_is_not_stopped_by_the_per_run_request_limit(store):
    session = ChatSession(chat_agent(text_stream(["ok"])), store)
    for turn in range(60):  # pydantic-ai's default limit is 50 requests, counted from the carried usage
        events = await collect(session, f"turn {turn}")
        assert isinstance(events[-1], ev.TurnFinished), events[-1]


async def test_a_conversation_continued_elsewhere_goes_on_as_a_fork(tmp_path):
    path = tmp_path / "shared.db"
    first_store, second_store = SQLiteConversationStore.open(path), SQLiteConversationStore.open(path)
    first = ChatSession(chat_agent(text_stream(["one"])), first_store)
    await collect(first, "start")
    loaded = await second_store.load(first.conversation.conversation_id)
    notices: list[str] = []
    second = ChatSession(chat_agent(text_stream(["two"])), second_store, conversation=loaded, on_notice=notices.append)
    await collect(first, "first continues")
    events = await collect(second, "second continues")
    assert isinstance(events[-1], ev.TurnFinished)
    # Said during the turn, so in its stream (when the prompt was saved, before the reply); not to on_notice.
    assert isinstance(events[0], ev.Notice) and "new conversation" in events[0].text
    assert [e for e in events if isinstance(e, ev.Notice)] == [events[0]] and notices == []
    assert second.conversation.conversation_id != first.conversation.conversation_id
    original = await first_store.load(first.conversation.conversation_id)
    fork = await first_store.load(second.conversation.conversation_id)
    prompts = lambda c: [  # noqa: E731
        p.content for m in c.messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart)
    ]
    assert prompts(original) == ["start", "first continues"]
    assert prompts(fork) == ["start", "second continues"]
    first_store.close()
    second_store.close()


@pytest.mark.parametrize("wrapper", ["native", "prompted"])
async def test_structured_output_written_as_text_fills_the_output_panel(store, wrapper):
    from pydantic_ai import NativeOutput, PromptedOutput

    from xsus_tui.core.agents import text_output_schema

    calls: list[int] = []

    async def stream(messages, info):
        calls.append(1)
        if len(calls) == 1:
            yield '{"name": "Oslo"'  # invalid: population is missing, so pydantic-ai asks again
            yield "}"
        else:
            yield '{"name": "Par'
            yield 'is", "population": 2100000}'

    output = NativeOutput(City) if wrapper == "native" else PromptedOutput(City)
    agent = chat_agent(stream, output_type=output)
    agent.text_output = text_output_schema(agent.agent)
    assert agent.text_output["title"] == "City"
    events = await collect(ChatSession(agent, store), "city")
    assert not any(isinstance(e, ev.TextDelta) for e in events)
    started = [e for e in events if isinstance(e, ev.OutputStarted)]
    rejected = [e for e in events if isinstance(e, ev.OutputRejected)]
    assert len(started) == 2 and [r.call_id for r in rejected] == [started[0].call_id]
    partials = [e for e in events if isinstance(e, ev.OutputPartial) and e.call_id == started[1].call_id]
    assert partials[0].value == {"name": "Par"} and partials[0].missing == ("population",)
    validated = [e for e in events if isinstance(e, ev.OutputValidated)]
    assert validated[-1].call_id == started[1].call_id
    assert validated[-1].value == {"name": "Paris", "population": 2100000, "tags": []}


@dataclasses.dataclass
class Point:
    x: int
    y: int


@pytest.mark.parametrize(
    ("output_type", "args", "expected"),
    [
        (Point, '{"x": 1, "y": 2}', {"x": 1, "y": 2}),
        (list[int], '{"response": [1, 2, 3]}', [1, 2, 3]),
        ([Point, City], '{"name": "Rome", "population": 3}', {"name": "Rome", "population": 3, "tags": []}),
    ],
)
async def test_other_output_types_stream_into_the_output_events(store, output_type, args, expected):
    async def stream(messages, info):
        name = next(t.name for t in info.output_tools if "City" in t.name) if len(info.output_tools) > 1 else None
        name = name or info.output_tools[0].name
        for start in range(0, len(args), 5):
            yield {
                0: DeltaToolCall(name=name if start == 0 else None, json_args=args[start : start + 5], tool_call_id="o")
            }

    events = await collect(ChatSession(chat_agent(stream, output_type=output_type), store), "go")
    assert any(isinstance(e, ev.OutputStarted) for e in events)
    assert len([e for e in events if isinstance(e, ev.OutputPartial)]) >= 3
    assert [e.value for e in events if isinstance(e, ev.OutputValidated)] == [expected]


async def test_a_tool_that_raises_fails_the_turn_with_its_panel_marked(store):
    def broken(path: str) -> str:
        raise PermissionError(f"cannot read {path}")

    async def stream(messages, info):
        yield {0: DeltaToolCall(name="broken", json_args='{"path": "/root/x"}', tool_call_id="b")}

    events = await collect(ChatSession(chat_agent(stream, tools=[broken]), store), "read it")
    finished = [e for e in events if isinstance(e, ev.ToolCallFinished)]
    assert finished and finished[0].error and not finished[0].ok
    ending = events[-1]
    assert isinstance(ending, ev.TurnFailed) and "cannot read /root/x" in ending.error


async def test_a_rejected_tool_output_is_reported_and_the_retry_validates(store):
    from pydantic_ai import ToolOutput

    calls: list[int] = []

    async def stream(messages, info):
        calls.append(1)
        name = info.output_tools[0].name
        args = '{"name": "Oslo", "population": "many"}' if len(calls) == 1 else '{"name": "Oslo", "population": 7}'
        yield {0: DeltaToolCall(name=name, json_args=args, tool_call_id=f"o{len(calls)}")}

    agent = chat_agent(stream, output_type=ToolOutput(City, name="city"))
    assert list(agent.output_tools) == ["city"]
    events = await collect(ChatSession(agent, store), "city")
    rejected = [e for e in events if isinstance(e, ev.OutputRejected)]
    assert [r.call_id for r in rejected] == ["o1"] and "population" in rejected[0].error
    assert [e.value for e in events if isinstance(e, ev.OutputValidated)] == [
        {"name": "Oslo", "population": 7, "tags": []}
    ]
