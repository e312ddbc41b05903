"""The SQLite ConversationStore: round trips, listing, conflicts, corruption, privacy."""

from __future__ import annotations

import os
import stat

import pytest
from pydantic_ai.conversation import Conversation
from pydantic_ai.conversation_store import ConversationConflict
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, ThinkingPart, ToolCallPart, UserPromptPart

from xsus_tui.core.store import SQLiteConversationStore


def turn(prompt: str, reply: str) -> list:
    return [ModelRequest(parts=[UserPromptPart(prompt)]), ModelResponse(parts=[TextPart(reply)])]


@pytest.fixture
def store(tmp_path):
    store = SQLiteConversationStore.open(tmp_path / "data" / "history.db")
    yield store
    store.close()


async def test_round_trip_keeps_pydantic_ai_messages(store):
    conversation = Conversation(messages=turn("hello", "hi there"))
    conversation.messages[1].parts.insert(0, ThinkingPart("hmm"))
    conversation.messages[1].parts.append(ToolCallPart("calc", {"x": 1}, tool_call_id="t1"))
    await store.save(conversation)
    loaded = await store.load(conversation.conversation_id)
    assert loaded.messages == conversation.messages
    # A later save appends only the new messages.
    added = turn("again", "sure")
    loaded.messages += added
    entries = await store.save(loaded)
    assert len(entries) == 2
    again = await store.load(conversation.conversation_id)
    assert again.messages == conversation.messages + added
    record = await store.read_record(again.conversation_id)
    tail = await store.read_history(record.head_id, limit=2)
    assert [e.message for e in tail] == again.messages[-2:]


async def test_listing_is_newest_first_with_titles_and_counts(store):
    first = Conversation(messages=turn("First question\nsecond line", "a"))
    await store.save(first)
    second = Conversation(messages=turn("Second", "b") + turn("more", "c"))
    await store.save(second)
    rows = store.summaries()
    assert [r.title for r in rows] == ["Second", "First question"]
    assert [r.messages for r in rows] == [4, 2]
    assert store.latest_id() == second.conversation_id
    assert store.resolve_id(first.conversation_id[:30]) == first.conversation_id
    with pytest.raises(KeyError):
        store.resolve_id("nope")


async def test_concurrent_writers_do_not_overwrite_each_other(tmp_path):
    path = tmp_path / "shared.db"
    a, b = SQLiteConversationStore.open(path), SQLiteConversationStore.open(path)
    conversation = Conversation(messages=turn("p", "r"))
    await a.save(conversation)
    copy_a = await a.load(conversation.conversation_id)
    copy_b = await b.load(conversation.conversation_id)
    copy_a.messages += turn("from a", "ra")
    await a.save(copy_a)
    copy_b.messages += turn("from b", "rb")
    with pytest.raises(ConversationConflict):
        await b.save(copy_b)
    final = await b.load(conversation.conversation_id)
    assert len(final.messages) == 4
    a.close()
    b.close()


async def test_corrupt_database_is_moved_aside_not_deleted(tmp_path):
    path = tmp_path / "history.db"
    path.write_bytes(b"this is not a database" * 100)
    store = SQLiteConversationStore.open(path)
    assert store.moved_aside is not None and store.moved_aside.exists()
    assert store.moved_aside.read_bytes().startswith(b"this is not a database")
    await store.save(Conversation(messages=turn("fresh", "start")))
    assert len(store.summaries()) == 1
    store.close()


def test_files_are_private(tmp_path):
    store = SQLiteConversationStore.open(tmp_path / "private" / "history.db")
    assert stat.S_IMODE(os.stat(tmp_path / "private").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    store.close()
