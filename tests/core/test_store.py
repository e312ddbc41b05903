"""The SQLite ConversationStore: round trips, listing, conflicts, corruption, privacy."""

from __future__ import annotations

import copy
import os
import stat

import pytest
from pydantic_ai import conversation_store
from pydantic_ai._conversation_marks import stored_boundary
from pydantic_ai.conversation import Conversation
from pydantic_ai.conversation_store import ConversationConflict, InMemoryConversationStore
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


async def test_saving_a_grown_conversation_makes_no_pass_over_its_history(store, monkeypatch):
    """What keeps saving a turn flat (benchmarks/store.py): no pass over the stored messages."""
    conversation = Conversation(messages=[m for i in range(50) for m in turn(f"p{i}", f"r{i}")])
    await store.save(conversation)
    loaded = await store.load(conversation.conversation_id)

    def no_pass(*args, **kwargs):
        raise AssertionError("a pass over the whole history")

    async def no_history(*args, **kwargs):
        no_pass()

    monkeypatch.setattr(store, "read_history", no_history)
    monkeypatch.setattr(store, "read_entry", no_history)
    # pydantic-ai's base class checks and marks the stored messages one by one: 90% of a save at 10,000 turns.
    monkeypatch.setattr(conversation_store, "stored_boundary", no_pass)
    monkeypatch.setattr(conversation_store, "mark_stored", no_pass)
    for i in range(3):  # as a ChatSession saves: the prompt, then the reply
        prompt, reply = turn(f"more {i}", f"reply {i}")
        loaded.messages.append(prompt)
        assert [e.message for e in await store.save(loaded)] == [prompt]
        loaded.messages.append(reply)
        assert [e.message for e in await store.save(loaded)] == [reply]
        # pydantic-ai still reads the stored mark the store leaves (its own check, at the next run).
        assert loaded.new_message_index == stored_boundary(loaded) == len(loaded.messages)
    monkeypatch.undo()
    again = await store.load(conversation.conversation_id)
    assert again.messages == loaded.messages and len(again.messages) == 106
    record = await store.read_record(conversation.conversation_id)
    assert record.branches == [] and again.revision == loaded.revision


async def _history_edits(store, messages: list, edited: ModelResponse, more: list) -> list:
    """Saves after every kind of change to a conversation; what each stored, as comparable values."""
    trace = []

    async def save(conversation, *, marked=True):
        entries = await store.save(conversation)
        record = await store.read_record(conversation.conversation_id)
        branches = [[e.message for e in await store.read_history(tip)] for tip in record.branches]
        loaded = await store.load(conversation.conversation_id)
        index = conversation.new_message_index
        mark = stored_boundary(conversation) if marked else "not compared"
        trace.append(([e.message for e in entries], loaded.messages, branches, index, mark))

    conversation = Conversation(messages=messages[:2])
    await save(conversation)  # new
    conversation.messages += messages[2:4]
    await save(conversation)  # grown
    await save(conversation)  # unchanged
    conversation.messages[1] = edited
    await save(conversation)  # rewritten: a branch
    conversation.messages[0] = copy.deepcopy(conversation.messages[0])
    conversation.messages += messages[4:6]
    # An equal copy, and grown. The SQLite store's mark keeps the stored object, so pydantic-ai, which checks
    # the mark by identity, compares this conversation with the store at its next run instead of trusting it.
    await save(conversation, marked=False)
    del conversation.messages[-2:]
    await save(conversation)  # shortened: a branch
    conversation.messages += messages[6:8]
    await save(conversation)
    del conversation.messages[2:4]
    conversation.messages += messages[2:4]
    await save(conversation)  # as long as before, other messages
    stale = copy.copy(conversation)
    conversation.messages.append(messages[0])
    await save(conversation)
    with pytest.raises(ConversationConflict):
        await store.save(stale)  # a stale copy that shares the messages list
    branched = await store.branch(conversation.conversation_id, at=3, expected_revision=conversation.revision)
    branched.messages += more[:2]
    await save(branched)
    fork = await store.fork(conversation.conversation_id, at=2)
    fork.messages += more[2:]
    await save(fork)
    await save(copy.deepcopy(fork))
    return trace


async def test_saves_store_what_pydantic_ais_base_class_stores(store):
    """`save` only skips work: after every kind of edit it stores what pydantic-ai's own store stores."""
    messages = [m for i in range(4) for m in turn(f"p{i}", f"r{i}")]
    edits = (messages, ModelResponse(parts=[TextPart("edited")]), turn("after branch", "b") + turn("in fork", "f"))
    assert await _history_edits(store, *edits) == await _history_edits(InMemoryConversationStore(), *edits)


async def test_a_conflicting_save_leaves_the_copy_able_to_fork(tmp_path):
    path = tmp_path / "shared.db"
    a, b = SQLiteConversationStore.open(path), SQLiteConversationStore.open(path)
    conversation = Conversation(messages=turn("p", "r"))
    await a.save(conversation)
    copy_a = await a.load(conversation.conversation_id)
    copy_b = await b.load(conversation.conversation_id)
    copy_a.messages += turn("from a", "ra")
    await a.save(copy_a)
    copy_b.messages += turn("from b", "rb")
    for _ in range(2):
        with pytest.raises(ConversationConflict):
            await b.save(copy_b)
        assert copy_b.new_message_index == stored_boundary(copy_b) == 2
    # What ChatSession does on a conflict: continue as a fork of the shared part.
    fork = await b.fork(conversation.conversation_id, at=copy_b.new_message_index)
    fork.messages.extend(copy_b.messages[2:])
    await b.save(fork)
    assert (await a.load(fork.conversation_id)).messages == copy_b.messages
    assert (await a.load(conversation.conversation_id)).messages == copy_a.messages
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


def test_a_column_another_process_added_meanwhile_is_taken_as_there():
    """Two processes opening one database both add the new columns: the second's ALTER finds it added already."""
    import sqlite3

    from xsus_tui.core.db import add_columns

    real = sqlite3.connect(":memory:")
    real.execute("CREATE TABLE t (a INTEGER)")

    class Stale:  # it looked before the other process added `b`
        def execute(self, sql, *args):
            if sql.startswith("PRAGMA table_info"):
                return iter([(0, "a")])
            return real.execute(sql, *args)

    real.execute("ALTER TABLE t ADD COLUMN b INTEGER")
    add_columns(Stale(), "t", {"b": "INTEGER", "c": "REAL"})
    assert [row[1] for row in real.execute("PRAGMA table_info(t)")] == ["a", "b", "c"]
