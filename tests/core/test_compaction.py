"""/compact in the engine: the summary request, the compacted history, the old branch kept, faults."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import CompactionPart, ModelRequest, ModelResponse, TextPart, ToolCallPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall

from xsus_tui.core import compaction
from xsus_tui.core.agents import build_chat_agent
from xsus_tui.core.compaction import CompactionCancelled, NothingToCompact
from xsus_tui.core.replay import past_turns
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore

from .helpers import chat_agent, collect, text_of

SUMMARY = "The user asked three things; the answers were given."


@pytest.fixture
def store(tmp_path):
    return SQLiteConversationStore.open(tmp_path / "history.db")


class Model:
    """A FunctionModel stream that answers turns, calls a tool on 'tool', and writes summaries when asked; it keeps
    what each request was sent."""

    def __init__(self, summary: str = SUMMARY, *, tool_result: str = "42") -> None:
        self.summary = summary
        self.tool_result = tool_result
        self.requests: list[tuple[list[Any], AgentInfo]] = []
        self.summary_gate: asyncio.Event | None = None
        self.summary_error: Exception | None = None

    async def __call__(self, messages, info: AgentInfo):
        self.requests.append((list(messages), info))
        last = messages[-1]
        prompt = next((p.content for p in last.parts if isinstance(p, UserPromptPart)), None)
        if isinstance(prompt, str) and prompt.startswith(compaction.SUMMARY_REQUEST):
            if self.summary_error is not None:
                raise self.summary_error
            yield self.summary[: len(self.summary) // 2]
            if self.summary_gate is not None:
                await self.summary_gate.wait()
            yield self.summary[len(self.summary) // 2 :]
            return
        if prompt == "tool":
            yield {0: DeltaToolCall(name="lookup", json_args="{}", tool_call_id="call-1")}
            return
        yield f"answer to {prompt or 'the tool'}"


def session_for(store, model: Model) -> ChatSession:
    agent = chat_agent(model)
    tool_result = model.tool_result

    @agent.agent.tool_plain
    def lookup() -> str:
        return tool_result

    return ChatSession(agent, store)


async def three_turns(session: ChatSession) -> None:
    for prompt in ("first question", "tool", "third question"):
        await collect(session, prompt)


async def test_older_turns_become_a_summary_and_the_full_conversation_stays_stored(store):
    model = Model()
    session = session_for(store, model)
    await three_turns(session)
    before = list(session.conversation.messages)
    conversation_id = session.conversation.conversation_id

    done = await session.compact()

    assert (done.turns, done.summary, done.kept) == (2, SUMMARY, 1)
    # The model was asked in one plain request: a transcript of the two turns, no tools, our instructions.
    messages, info = model.requests[-1]
    assert len(messages) == 1 and info.function_tools == [] and info.instructions == compaction.SUMMARY_INSTRUCTIONS
    asked = messages[0].parts[0].content
    assert "first question" in asked and "`lookup`" in asked and "answer to first question" in asked
    assert "third question" not in asked  # the kept turn is not summarized
    # The compacted history: the summary at the head of the kept turn's request, then that turn as it was.
    compacted = session.conversation.messages
    first = compacted[0]
    assert isinstance(first, ModelRequest) and isinstance(first.parts[0], CompactionPart)
    assert first.parts[0].content == SUMMARY and first.parts[1].content == "third question"
    assert compacted[1:] == before[-1:]
    # Stored: the compacted branch is the conversation now, and the old one is kept as another branch.
    loaded = await store.load(conversation_id)
    assert [type(p) for p in loaded.messages[0].parts] == [CompactionPart, UserPromptPart]
    record = await store.read_record(conversation_id)
    old = [await store.read_history(tip) for tip in record.branches]
    assert any([e.message for e in history] == before for history in old)
    # The next turn sends the summary and the kept turn, not the turns it replaced.
    await collect(session, "fourth")
    sent, _ = model.requests[-1]
    assert isinstance(sent[0].parts[0], CompactionPart)
    assert not any(isinstance(p, UserPromptPart) and p.content == "first question" for m in sent for p in m.parts)
    # Resumed, the summary shows above the turn it precedes.
    turns = past_turns((await store.load(conversation_id)).messages)
    assert [(t.prompt, t.summary, t.summarized) for t in turns] == [
        ("third question", SUMMARY, 2),
        ("fourth", None, None),
    ]


async def test_a_second_compaction_summarizes_the_first_summary_too(store):
    model = Model()
    session = session_for(store, model)
    await three_turns(session)
    await session.compact()
    await collect(session, "fourth")
    model.summary = "Second summary."
    done = await session.compact()
    asked = model.requests[-1][0][0].parts[0].content
    assert "Summary of the earlier conversation" in asked and SUMMARY in asked
    part = session.conversation.messages[0].parts[0]
    assert part.content == "Second summary." and compaction.summarized_turns(part) == 3 and done.turns == 1
    assert done.summarized == 3
    assert sum(isinstance(p, CompactionPart) for m in session.conversation.messages for p in m.parts) == 1


async def test_keeping_more_turns_and_a_focus(store):
    model = Model()
    session = session_for(store, model)
    await three_turns(session)
    done = await session.compact(keep_turns=2, focus="the numbers")
    asked = model.requests[-1][0][0].parts[0].content
    assert "focus on: the numbers" in asked and "`lookup`" not in asked
    assert done.turns == 1
    assert [t.prompt for t in past_turns(session.conversation.messages)] == ["tool", "third question"]


async def test_nothing_to_compact_changes_nothing(store):
    model = Model()
    session = session_for(store, model)
    with pytest.raises(NothingToCompact):
        await session.compact()
    await collect(session, "only turn")
    revision = session.conversation.revision
    with pytest.raises(NothingToCompact, match="only 1 turn here"):
        await session.compact()
    assert session.conversation.revision == revision and len(model.requests) == 1


async def test_cancel_stops_the_summary_and_changes_nothing(store):
    model = Model()
    session = session_for(store, model)
    await three_turns(session)
    before, revision = list(session.conversation.messages), session.conversation.revision
    model.summary_gate = asyncio.Event()
    heard: list[str] = []
    compacting = asyncio.ensure_future(session.compact(on_text=heard.append))
    while not heard:  # the first half of the summary has streamed
        await asyncio.sleep(0.01)
    session.cancel()
    with pytest.raises(CompactionCancelled):
        await asyncio.wait_for(compacting, 2)
    assert session.conversation.messages == before and session.conversation.revision == revision
    assert (await store.load(session.conversation.conversation_id)).messages == before
    # The session goes on as before: the cancel belonged to the compaction, not to the next turn.
    events = await collect(session, "after")
    assert text_of(events) == "answer to after"


async def test_a_failing_model_changes_nothing(store):
    model = Model()
    session = session_for(store, model)
    session.retries = 0
    await three_turns(session)
    before = list(session.conversation.messages)
    model.summary_error = ModelHTTPError(400, "function", {"error": {"message": "context too long"}})
    with pytest.raises(ModelHTTPError):
        await session.compact()
    assert session.conversation.messages == before
    model.summary_error = None
    model.summary = "   "
    with pytest.raises(ValueError, match="empty summary"):
        await session.compact()
    assert (await store.load(session.conversation.conversation_id)).messages == before


async def test_long_tool_results_are_cut_in_the_summary_request_and_odd_text_is_stored(store):
    model = Model(summary="Odd \ud83d text \u202e and \u200b kept", tool_result="x" * 10_000)
    session = session_for(store, model)
    await three_turns(session)
    await session.compact()
    asked = model.requests[-1][0][0].parts[0].content
    assert "x" * compaction.TOOL_RESULT_CHARS in asked and "x" * (compaction.TOOL_RESULT_CHARS + 1) not in asked
    assert "8,000 more characters" in asked
    stored = (await store.load(session.conversation.conversation_id)).messages[0].parts[0].content
    assert stored == session.conversation.messages[0].parts[0].content and "\u202e" in stored
    stored.encode()  # the lone surrogate was made storable


async def test_the_demo_model_writes_a_summary_of_what_was_asked(store):
    session = ChatSession(build_chat_agent("demo"), store)
    for prompt in ("hello", "tell me a joke", "recap"):
        await collect(session, prompt)
    done = await session.compact()
    assert "2 turns" in done.summary and "- hello" in done.summary and "- tell me a joke" in done.summary
    events = await collect(session, "recap please")
    assert "after a summary of the earlier conversation" in text_of(events)


def test_a_response_only_history_or_tool_call_turns_are_planned_by_prompts():
    messages = [
        ModelRequest(parts=[UserPromptPart("a")]),
        ModelResponse(parts=[ToolCallPart("t", {}, tool_call_id="1")]),
        ModelRequest(parts=[UserPromptPart("b")]),
        ModelResponse(parts=[TextPart("B")]),
    ]
    split = compaction.plan(messages, keep_turns=1)
    assert split.turns == 1 and split.older == tuple(messages[:2]) and split.kept == tuple(messages[2:])
    with pytest.raises(NothingToCompact):
        compaction.plan(messages, keep_turns=2)
