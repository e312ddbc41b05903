"""The history's integrity check run ahead (`db.passes_quick_check`, beside the imports), and the open it spares."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from xsus_tui.core.db import passes_quick_check
from xsus_tui.core.store import SQLiteConversationStore

from .test_store_faults import make_db


def scribbled(path: Path) -> None:
    """A database whose table page is damaged (as in test_store_faults): `quick_check` fails on it."""
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
    data[4096 * 2 : 4096 * 2 + 200] = b"\xff" * 200
    path.write_bytes(bytes(data))


def statements_at_open(path: Path, **options) -> list[str]:
    """The SQL the store's own connection ran while opening `path`."""
    seen: list[str] = []
    connect = sqlite3.connect

    def traced(*args, **kwargs):
        db = connect(*args, **kwargs)
        db.set_trace_callback(seen.append)
        return db

    sqlite3.connect = traced
    try:
        SQLiteConversationStore.open(path, **options).close()
    finally:
        sqlite3.connect = connect
    return seen


def test_only_a_database_that_passes_is_called_checked(tmp_path: Path) -> None:
    good, bad, junk = tmp_path / "good.db", tmp_path / "bad.db", tmp_path / "junk.db"
    make_db(good)
    scribbled(bad)
    junk.write_bytes(b"not sqlite \xff\xfe" * 300)
    assert passes_quick_check(good)
    assert not passes_quick_check(bad)
    assert not passes_quick_check(junk)
    assert not passes_quick_check(tmp_path / "missing.db") and not (tmp_path / "missing.db").exists()
    assert not passes_quick_check(tmp_path)  # a folder


def test_a_locked_database_is_not_called_checked(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    make_db(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert not passes_quick_check(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_opening_checked_skips_the_check_and_unchecked_still_runs_it(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    make_db(path)
    assert any("quick_check" in sql for sql in statements_at_open(path))
    assert not any("quick_check" in sql for sql in statements_at_open(path, checked=True))


def test_a_damaged_database_is_still_moved_aside_when_the_check_ahead_failed(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    scribbled(path)
    store = SQLiteConversationStore.open(path, checked=passes_quick_check(path))
    try:
        assert store.moved_aside is not None and store.summaries() == []
    finally:
        store.close()
