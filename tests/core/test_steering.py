"""Steering: messages queued while a turn runs reach the run at its next model request (core, FunctionModel)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import DeltaToolCall

from xsus_tui.core import events as ev
from xsus_tui.core.export import to_markdown
from xsus_tui.core.recording import from_ndjson, to_ndjson
from xsus_tui.core.replay import past_turns
from xsus_tui.core.session import ChatSession
from xsus_tui.core.steering import is_steered
from xsus_tui.core.store import SQLiteConversationStore

from .helpers import chat_agent, collect, text_of


@pytest.fixture
def store(tmp_path):
    store = SQLiteConversationStore.open(tmp_path / "history.db")
    yield store
    store.close()


def prompts_in(request: ModelRequest) -> list[str]:
    return [p.content for p in request.parts if isinstance(p, UserPromptPart)]


def two_requests(seen: list, tool_entered: asyncio.Event, tool_release: asyncio.Event):
    """A model that calls a tool first (which waits to be released), then answers what its last request holds."""

    async def stream(messages, info):
        seen.append(list(messages))
        if len(seen) == 1:
            yield {0: DeltaToolCall(name="clock", json_args="{}", tool_call_id="c1")}
            return
        asked = [text for m in messages[1:] if isinstance(m, ModelRequest) for text in prompts_in(m)]
        yield f"answering {asked}"

    agent = chat_agent(stream)

    @agent.agent.tool_plain
    async def clock() -> str:
        tool_entered.set()
        await tool_release.wait()
        return "12:00"

    return agent


async def test_a_queued_message_is_in_the_second_request_and_stored_where_the_model_saw_it(store):
    seen: list = []
    entered, release = asyncio.Event(), asyncio.Event()
    session = ChatSession(two_requests(seen, entered, release), store)
    events: list[ev.TurnEvent] = []

    async def run():
        async for event in session.run_turn("what time is it"):
            events.append(event)

    task = asyncio.create_task(run())
    await entered.wait()
    queued = session.queue_message("also the time in Tokyo")
    assert [q.text for q in session.queue.items] == ["also the time in Tokyo"]
    release.set()
    await task

    # The second request carried it, after the tool's result.
    assert len(seen) == 2
    second = seen[1]
    last = second[-1]
    assert isinstance(last, ModelRequest)
    assert prompts_in(last) == ["also the time in Tokyo"]
    assert any(isinstance(p, ToolReturnPart) for m in second for p in getattr(m, "parts", ()))
    # The turn said when it was delivered, and which queued message it was; the queue is empty.
    steered = [e for e in events if isinstance(e, ev.Steered)]
    assert [(e.text, e.queued_id) for e in steered] == [("also the time in Tokyo", queued.id)]
    assert events.index(steered[0]) < next(i for i, e in enumerate(events) if isinstance(e, ev.TextDelta))
    assert "also the time in Tokyo" in text_of(events)
    assert isinstance(events[-1], ev.TurnFinished)
    assert not session.queue.items
    # Stored in that place: prompt, tool call, tool result, the steer (marked), the answer.
    stored = (await store.load(session.conversation.conversation_id)).messages
    kinds = [(m.kind, [p.part_kind for p in m.parts]) for m in stored]
    assert kinds == [
        ("request", ["user-prompt"]),
        ("response", ["tool-call"]),
        ("request", ["tool-return"]),
        ("request", ["user-prompt"]),
        ("response", ["text"]),
    ]
    assert is_steered(stored[3]) and not is_steered(stored[0])
    # Resumed, it shows as a prompt of its own where it was sent; the markdown export has it in order.
    turns = past_turns(stored)
    assert [t.prompt for t in turns] == ["what time is it", "also the time in Tokyo"]
    markdown = to_markdown(stored, title="t", conversation_id="c")
    assert markdown.index("what time is it") < markdown.index("12:00") < markdown.index("also the time in Tokyo")
    assert "**You** · *sent while the reply ran*\n\nalso the time in Tokyo" in markdown
    # The recording has the delivery between the two requests, and reads back.
    recording = session.turn_recording()
    assert recording is not None
    kinds = [type(t.event).__name__ for t in recording.events]
    assert kinds.index("Steered") < [i for i, k in enumerate(kinds) if k == "RequestSent"][1]
    second_sent = [t.event for t in recording.events if isinstance(t.event, ev.RequestSent)][1]
    assert prompts_in(second_sent.messages[-1]) == ["also the time in Tokyo"]
    (again,) = from_ndjson("".join(to_ndjson([recording])), history=recording.history)
    assert [type(t.event) for t in again.events] == [type(t.event) for t in recording.events]


async def test_a_message_queued_during_the_last_response_makes_one_more_request(store):
    seen: list = []
    streaming = asyncio.Event()

    async def stream(messages, info):
        seen.append(list(messages))
        if len(seen) == 1:
            yield "first "
            streaming.set()
            await asyncio.sleep(0.05)
            yield "answer"
        else:
            yield f"and now {prompts_in(messages[-1])}"

    session = ChatSession(chat_agent(stream), store)

    def queue_while_streaming(event, out):
        if isinstance(event, ev.TextDelta) and event.text == "first ":
            session.queue_message("one more thing")

    events = await collect(session, "hello", on_event=queue_while_streaming)
    assert len(seen) == 2 and prompts_in(seen[1][-1]) == ["one more thing"]
    # The answer that came before it is not marked as rejected: it was answered, then steered.
    assert not any(isinstance(e, ev.ResponseStarted) and e.rejected_text for e in events)
    assert text_of(events) == "first answerand now ['one more thing']"
    assert isinstance(events[-1], ev.TurnFinished)


async def test_a_follow_up_waits_for_the_next_turn_and_several_keep_their_order(store):
    seen: list = []
    entered, release = asyncio.Event(), asyncio.Event()
    session = ChatSession(two_requests(seen, entered, release), store)
    task = asyncio.create_task(collect(session, "start"))
    await entered.wait()
    session.queue_message("later, please", follow_up=True)
    first = session.queue_message("steer one")
    second = session.queue_message("steer two")
    release.set()
    events = await task
    assert [e.queued_id for e in events if isinstance(e, ev.Steered)] == [first.id, second.id]
    assert prompts_in(seen[1][-1]) == ["steer one", "steer two"]  # in the order queued
    # The follow-up was never sent: it is what runs next.
    assert all("later, please" not in str(m) for m in seen[1])
    follow_up = session.next_queued()
    assert follow_up is not None and follow_up.text == "later, please" and follow_up.follow_up
    assert session.next_queued() is None


async def test_taking_a_message_back_before_delivery_removes_it_from_the_run(store):
    seen: list = []
    entered, release = asyncio.Event(), asyncio.Event()
    session = ChatSession(two_requests(seen, entered, release), store)
    task = asyncio.create_task(collect(session, "start"))
    await entered.wait()
    kept = session.queue_message("keep me")
    dropped = session.queue_message("drop me")
    assert session.take_back(dropped.id) == dropped
    assert session.take_back(dropped.id) is None  # twice: nothing
    release.set()
    events = await task
    assert [e.text for e in events if isinstance(e, ev.Steered)] == ["keep me"]
    assert "drop me" not in str(seen[1])
    assert session.take_back(kept.id) is None  # delivered: too late


async def test_an_interrupt_gives_back_what_waits_and_a_steer_delivered_but_unanswered(store):
    seen: list = []
    entered = asyncio.Event()
    answering = asyncio.Event()

    async def stream(messages, info):
        seen.append(list(messages))
        if len(seen) == 1:
            yield {0: DeltaToolCall(name="clock", json_args="{}", tool_call_id="c1")}
            return
        answering.set()
        await asyncio.sleep(30)  # interrupted before a word
        yield "never"

    agent = chat_agent(stream)

    @agent.agent.tool_plain
    async def clock() -> str:
        entered.set()
        await asyncio.sleep(0.01)
        return "12:00"

    session = ChatSession(agent, store)
    task = asyncio.create_task(collect(session, "start"))
    await entered.wait()
    session.queue_message("delivered one")
    session.queue_message("a follow-up", follow_up=True)
    await answering.wait()
    session.cancel()
    events = await task
    assert isinstance(events[-1], ev.TurnCancelled)
    assert [e.text for e in events if isinstance(e, ev.Steered)] == ["delivered one"]
    back = session.take_queued()
    assert [(q.text, q.follow_up) for q in back] == [("delivered one", False), ("a follow-up", True)]
    # The unanswered steer is not left in the history to stack with the next prompt.
    stored = (await store.load(session.conversation.conversation_id)).messages
    assert not any(is_steered(m) for m in stored)
    assert "delivered one" not in str(session.conversation.messages)


async def test_a_steer_the_run_can_no_longer_take_runs_as_the_next_turn(store):
    session = ChatSession(chat_agent(_one_text("done")), store)
    await collect(session, "hi")  # no run now: nothing to deliver it into
    queued = session.queue_message("too late for that turn")
    assert session.next_queued() == queued
    events = await collect(session, queued.text)
    assert isinstance(events[-1], ev.TurnFinished)


async def test_a_steer_queued_while_the_prompt_is_saved_reaches_the_first_request(store):
    seen: list = []

    async def stream(messages, info):
        seen.append(list(messages))
        yield "ok"

    session = ChatSession(chat_agent(stream), store)
    turn = session.run_turn("first")
    session.queue_message("and second")  # before the run exists: handed over as it starts
    events = [event async for event in turn]
    assert prompts_in(seen[0][-1]) == ["first", "and second"]
    assert [e.text for e in events if isinstance(e, ev.Steered)] == ["and second"]
    assert not session.queue.items


def _one_text(text: str):
    async def stream(messages, info):
        yield text

    return stream


def test_steered_marker_is_metadata_the_model_never_sees():
    from xsus_tui.core.steering import steered_request

    request = steered_request("hi \ud83d")
    assert is_steered(request)
    assert request.parts[0].content == "hi \ufffd"  # a lone surrogate is made storable
    assert not is_steered(ModelResponse(parts=[TextPart("x")]))


async def test_the_demo_takes_up_the_time_in_tokyo_queued_while_its_tools_run(store, monkeypatch):
    from xsus_tui.core.agents import build_chat_agent

    monkeypatch.setenv("XSUS_DEMO_DELAY", "0")
    session = ChatSession(build_chat_agent("demo"), store)
    queued = False

    def queue_at_first_tool(event, out):
        nonlocal queued
        if isinstance(event, ev.ToolCallStarted) and not queued:
            queued = True
            session.queue_message("also show the time in Tokyo")

    events = await collect(session, "tools", on_event=queue_at_first_tool)
    assert isinstance(events[-1], ev.TurnFinished)
    assert [e.text for e in events if isinstance(e, ev.Steered)] == ["also show the time in Tokyo"]
    text = text_of(events)
    assert "You asked while I was working: *also show the time in Tokyo*" in text
    # Through the real clock tool, in Tokyo's zone, and the rest of the demo went on.
    tokyo = [e for e in events if isinstance(e, ev.ToolCallRunning) and e.args == {"timezone": "Asia/Tokyo"}]
    assert len(tokyo) == 1
    assert "In Tokyo it is **" in text and "JST" in text
    assert "Fixed: **1 / (7 − 6)" in text


async def test_the_demo_answers_the_time_in_a_city_asked_on_its_own(store, monkeypatch):
    from xsus_tui.core.agents import build_chat_agent

    monkeypatch.setenv("XSUS_DEMO_DELAY", "0")
    session = ChatSession(build_chat_agent("demo"), store)
    text = text_of(await collect(session, "what time is it in Paris?"))
    assert "In Paris it is **" in text


async def test_a_steered_turn_plays_back_offline_with_its_steer_delivered_again(store):
    from xsus_tui.core.playback import MAX, Playback

    seen: list = []
    entered, release = asyncio.Event(), asyncio.Event()
    session = ChatSession(two_requests(seen, entered, release), store)
    task = asyncio.create_task(collect(session, "what time is it"))
    await entered.wait()
    session.queue_message("and in Tokyo")
    release.set()
    recorded = await task
    recording = session.turn_recording()
    assert recording is not None

    playback = Playback(recording, speed=MAX)
    replaying = ChatSession(playback.chat_agent)
    playback.attach(replaying)
    events = await collect(replaying, recording.prompt)
    assert text_of(events) == text_of(recorded)
    assert [e.text for e in events if isinstance(e, ev.Steered)] == ["and in Tokyo"]
    assert prompts_in(replaying.conversation.messages[3]) == ["and in Tokyo"]
    assert isinstance(events[-1], ev.TurnFinished)


async def test_the_inspector_reads_a_steered_turn(store):
    from xsus_tui.core.inspect import inspect_turn

    seen: list = []
    entered, release = asyncio.Event(), asyncio.Event()
    session = ChatSession(two_requests(seen, entered, release), store)
    task = asyncio.create_task(collect(session, "what time is it"))
    await entered.wait()
    session.queue_message("and in Tokyo")
    release.set()
    await task
    recording = session.turn_recording()
    assert recording is not None
    report = inspect_turn(recording)
    assert len(report.requests) == 2


async def test_the_demo_takes_a_prompt_after_structured_output_or_an_interrupted_approval_as_a_new_one(store):
    """pydantic-ai sends the results that ended the turn before (its output tool's, or a call an interrupt cut
    short) in one request with the next prompt: the demo must not answer it as a message typed while tools ran."""
    from xsus_tui.core.agents import build_chat_agent

    session = ChatSession(build_chat_agent("demo"), store)
    await collect(session, "structured")
    reply = text_of(await collect(session, "recap"))
    assert "while I was working" not in reply and "earlier messages" in reply
    events = []
    async for event in session.run_turn("note"):  # a tool that asks for approval: interrupted while it waits
        events.append(event)
        if isinstance(event, ev.ApprovalRequested):
            session.cancel()
    reply = text_of(await collect(session, "recap"))
    assert "while I was working" not in reply and "earlier messages" in reply
