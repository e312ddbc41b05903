"""The history database under faults: odd text, locks, full disks, read-only homes, other people's folders.

A healthy database is never moved aside, a lock never freezes the event loop, and a save that fails
keeps the conversation usable and retries with the next save.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelRequest, TextPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

from xsus_tui.core.agents import ChatAgent, build_chat_agent
from xsus_tui.core.events import Notice, Saving, TextDelta, TurnFailed, TurnFinished
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore, StoreError

EMOJI_SPLIT = ["Here: ", "\ud83d", "\ude00 done, and a lone \udc00 too."]
"""What a provider sends when it escapes 😀 as a surrogate pair and cuts the pair between two chunks."""


def chunks_agent(chunks: list[str]) -> ChatAgent:
    async def stream(messages, info: AgentInfo):
        for chunk in chunks:
            yield chunk

    return ChatAgent(agent=Agent(FunctionModel(stream_function=stream)), label="chunks")


async def run(session: ChatSession, prompt: str) -> list:
    async with asyncio.timeout(20):
        return [event async for event in session.run_turn(prompt)]


def texts(messages) -> list[str]:
    out = []
    for message in messages:
        for part in message.parts:
            if isinstance(part, UserPromptPart | TextPart):
                out.append(part.content)
    return out


# -- 1. unusual text ------------------------------------------------------------------------------------


async def test_an_emoji_split_into_lone_surrogates_is_stored_and_the_chat_goes_on(tmp_path: Path) -> None:
    store = SQLiteConversationStore.open(tmp_path / "history.db")
    session = ChatSession(chunks_agent(EMOJI_SPLIT), store)
    events = await run(session, "emoji please \ud83d")
    shown = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert shown == "Here: 😀 done, and a lone \ufffd too."
    assert isinstance(events[-1], TurnFinished)
    assert session.unsaved == 0
    events = await run(session, "and again")  # before: every later save failed the same way
    assert isinstance(events[-1], TurnFinished)
    loaded = await store.load(session.conversation.conversation_id)
    assert texts(loaded.messages) == [
        "emoji please \ufffd",
        "Here: 😀 done, and a lone \ufffd too.",
        "and again",
        "Here: 😀 done, and a lone \ufffd too.",
    ]
    store.close()


async def test_a_tool_result_with_lone_surrogates_is_stored(tmp_path: Path) -> None:
    async def stream(messages, info: AgentInfo):
        if len(messages) == 1:
            yield {0: DeltaToolCall(name="shout", json_args="{}", tool_call_id="c1")}
        else:
            yield "ok"

    agent = Agent(FunctionModel(stream_function=stream))

    @agent.tool_plain
    def shout() -> dict:
        return {"text": "half \ud83d", "\udc00key": ["\ud83d\ude00"]}

    store = SQLiteConversationStore.open(tmp_path / "history.db")
    session = ChatSession(ChatAgent(agent=agent, label="t"), store)
    events = await run(session, "go")
    assert isinstance(events[-1], TurnFinished)
    assert session.unsaved == 0
    loaded = await store.load(session.conversation.conversation_id)
    returned = loaded.messages[2].parts[0].content
    assert returned == {"text": "half \ufffd", "\ufffdkey": ["😀"]}
    store.close()


# -- 2. a healthy database is never moved aside ------------------------------------------------------


def make_db(path: Path) -> None:
    SQLiteConversationStore.open(path).close()


def moved_aside(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if ".corrupt-" in p.name)


def test_a_locked_database_is_reported_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    make_db(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")  # a rollback journal: an exclusive lock stops readers too
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError) as caught:
            SQLiteConversationStore.open(path, busy_timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(path) in str(caught.value) and "locked by another process" in str(caught.value)
    assert moved_aside(path) == []
    SQLiteConversationStore.open(path).close()  # still the same, usable file


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    store = SQLiteConversationStore.open(path)
    assert store.moved_aside is not None and store.moved_aside.read_bytes().startswith(b"this is not")
    store.close()


def test_a_database_that_fails_quick_check_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    make_db(path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = DELETE")
    db.executemany(
        "INSERT INTO entries (id, parent_id, kind, message) VALUES (?, NULL, 'message', ?)",
        [(str(i), "x" * 500) for i in range(200)],
    )
    db.commit()
    db.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[page * 2 : page * 2 + 200] = b"\xff" * 200  # scribble over a table page's header
    path.write_bytes(bytes(data))
    store = SQLiteConversationStore.open(path)
    assert store.moved_aside is not None
    assert store.summaries() == []
    store.close()


def test_a_newer_schema_is_refused_not_moved(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    make_db(path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreError, match="newer xsus"):
        SQLiteConversationStore.open(path)
    assert moved_aside(path) == []


# -- 3. the store never freezes the event loop ----------------------------------------------------------


async def test_a_save_waiting_on_a_lock_leaves_the_loop_free_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    store = SQLiteConversationStore.open(path, busy_timeout=30)
    heard: list = []
    session = ChatSession(build_chat_agent("demo"), store, on_status=heard.append)
    await run(session, "hello")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing: our save has to wait
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    events: list = []

    async def second() -> list:
        async for event in session.run_turn("second"):
            events.append(event)
        return events

    turn = asyncio.create_task(second())
    async with asyncio.timeout(10):  # the turn's stream says that its save waits, while it waits
        while not any(isinstance(e, Saving) for e in events):
            await asyncio.sleep(0.02)
    before = ticks
    async with asyncio.timeout(10):
        while ticks < before + 20:  # the loop keeps running while the save waits
            await asyncio.sleep(0.01)
    assert not turn.done()
    holder.execute("ROLLBACK")
    holder.close()
    events = await turn
    ticker.cancel()
    assert isinstance(events[-1], TurnFinished)
    saving = [e for e in events if isinstance(e, Saving)]
    assert saving[-1].done and not any(s.done for s in saving[:-1]) and heard == []
    loaded = await store.load(session.conversation.conversation_id)
    assert texts(loaded.messages)[::2] == ["hello", "second"]
    store.close()


# -- 4. a save that fails loses nothing and says so -----------------------------------------------------


def fill_up(store: SQLiteConversationStore) -> None:
    """Make the database full, the way a full disk does (SQLITE_FULL): no page can be added."""
    pages = store._worker.call(lambda: store._db.execute("PRAGMA page_count").fetchone()[0])
    store._worker.call(lambda: store._db.execute(f"PRAGMA max_page_count = {pages}"))


def make_room(store: SQLiteConversationStore) -> None:
    store._worker.call(lambda: store._db.execute("PRAGMA max_page_count = 1073741823"))


async def test_a_prompt_that_cannot_be_saved_is_not_sent_and_comes_back(tmp_path: Path) -> None:
    store = SQLiteConversationStore.open(tmp_path / "history.db")
    session = ChatSession(build_chat_agent("demo"), store)
    await run(session, "first")
    fill_up(store)
    events = await run(session, "x" * 20_000)
    assert isinstance(events[-1], TurnFailed) and events[-1].unsent
    assert "disk is full" in events[-1].error
    assert len(session.conversation.messages) == 2  # not kept to be sent with the next prompt
    make_room(store)
    await run(session, "third")
    loaded = await store.load(session.conversation.conversation_id)
    prompts = [m.parts[0].content for m in loaded.messages if isinstance(m, ModelRequest)]
    assert prompts == ["first", "third"]  # one prompt per turn, never two in a row
    store.close()


async def test_a_reply_that_cannot_be_saved_stays_and_goes_with_the_next_save(tmp_path: Path) -> None:
    store = SQLiteConversationStore.open(tmp_path / "history.db")
    notices: list[str] = []
    long_reply = chunks_agent(["word " * 20_000])
    session = ChatSession(long_reply, store, on_notice=notices.append)
    events = await run(session, "first")
    assert isinstance(events[-1], TurnFinished)
    fill_up(store)
    events = await run(session, "second")  # the prompt fits, the 100 KB reply does not
    assert isinstance(events[-1], TurnFinished)
    assert session.unsaved == 1 and "disk is full" in session.save_error
    # Said during the turn: in its stream, before its ending (which stays last).
    assert isinstance(events[-2], Notice) and "Not saved yet (the disk is full)" in events[-2].text
    assert notices == []
    make_room(store)
    assert await session.flush()  # as at quit
    assert session.unsaved == 0 and session.save_error is None
    assert notices[-1].startswith("Saved")
    loaded = await store.load(session.conversation.conversation_id)
    assert len(loaded.messages) == 4 and loaded.messages[-1].parts[0].content == "word " * 20_000
    store.close()


async def test_a_failed_write_checkpoints_the_wal_so_the_space_is_usable_again(tmp_path: Path) -> None:
    store = SQLiteConversationStore.open(tmp_path / "history.db")
    session = ChatSession(chunks_agent(["word " * 20_000]), store)
    await run(session, "first")
    wal = tmp_path / "history.db-wal"
    assert wal.stat().st_size > 100_000
    fill_up(store)
    await run(session, "second")
    assert session.unsaved
    assert wal.stat().st_size == 0  # WAL truncated after the failed write
    store.close()


# -- 11. leave other people's folders alone ------------------------------------------------------------


def test_an_existing_folder_and_database_keep_their_modes(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    SQLiteConversationStore.open(shared / "history.db").close()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "history.db").stat().st_mode) == 0o600  # created by us: private
    os.chmod(shared / "history.db", 0o640)
    SQLiteConversationStore.open(shared / "history.db").close()
    assert stat.S_IMODE((shared / "history.db").stat().st_mode) == 0o640


def test_a_new_folder_is_private(tmp_path: Path) -> None:
    SQLiteConversationStore.open(tmp_path / "new" / "history.db").close()
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def test_open_does_not_wait_for_a_writer_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    make_db(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO entries (id, parent_id, kind, message) VALUES ('x', NULL, 'message', '{}')")
    try:
        started = time.monotonic()
        store = SQLiteConversationStore.open(path, busy_timeout=5)
        assert time.monotonic() - started < 2
        assert store.summaries() == []
        store.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
