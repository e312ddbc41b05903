"""The history database under faults, as the user sees them: a lock never freezes the keys, a save that
fails loses nothing and says so."""

from __future__ import annotations

import sqlite3
import time

from xsus_tui.core.agents import build_chat_agent
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore
from xsus_tui.ui.app import XsusApp

from .helpers import SIZE, screen_text, send, wait_for, wait_idle


def app_with_store(home, **open_options) -> tuple[XsusApp, SQLiteConversationStore]:
    home.mkdir(parents=True, exist_ok=True)
    store = SQLiteConversationStore.open(home / "history.db", **open_options)
    return XsusApp(ChatSession(build_chat_agent("demo"), store)), store


async def test_a_locked_database_leaves_typing_and_esc_working_and_says_so(xsus_home):
    app, store = app_with_store(xsus_home, busy_timeout=30)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "hello")
        await wait_idle(pilot)
        holder = sqlite3.connect(xsus_home / "history.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process in a write transaction
        try:
            await send(pilot, "second")
            await wait_for(pilot, lambda: "waiting for the history database" in screen.status.note, within=10)
            await pilot.press(*"still typing")  # keys work while the save waits
            await wait_for(pilot, lambda: screen.prompt.text == "still typing")
            assert "waiting for the history database" in screen_text(app)
            started = time.monotonic()
            await pilot.press("escape")  # and Esc stops the turn at once, lock or not: nothing is sent
            await wait_idle(pilot, within=10)
            assert time.monotonic() - started < 2  # not the 30 s the save would wait
            assert screen.status.state == "interrupted" and screen.status.note == ""
            # The prompt is offered again, above what was typed meanwhile, which is kept.
            assert screen.prompt.text == "second\nstill typing"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    conversation = await store.load(store.latest_id())
    prompts = [m.parts[0].content for m in conversation.messages if m.kind == "request"]
    assert prompts == ["hello"]
    store.close()


async def test_a_reply_that_cannot_be_saved_stays_on_screen_with_one_line(xsus_home):
    app, store = app_with_store(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "hello")
        await wait_idle(pilot)
        pages = store._worker.call(lambda: store._db.execute("PRAGMA page_count").fetchone()[0])
        store._worker.call(lambda: store._db.execute(f"PRAGMA max_page_count = {pages}"))
        await send(pilot, "long")
        await wait_idle(pilot, within=20)
        assert screen.status.state == "idle"
        await wait_for(pilot, lambda: "Not saved yet (the disk is full)" in screen_text(app))
        assert screen.session.unsaved == 1
        store._worker.call(lambda: store._db.execute("PRAGMA max_page_count = 1073741823"))
        await send(pilot, "hello")  # the next save takes the unsaved reply along
        await wait_idle(pilot)
        assert screen.session.unsaved == 0
        await wait_for(pilot, lambda: "everything in this conversation is on disk" in screen_text(app))
    conversation = await store.load(store.latest_id())
    assert len(conversation.messages) == 6
    store.close()
