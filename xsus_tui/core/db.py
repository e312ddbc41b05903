"""The history database's connection: opened, classified and used from one worker thread.

SQLite calls block: a lock held by another process waits out the busy timeout, a slow disk waits for
the disk. On the event loop that froze typing, Esc and Ctrl+Q. Here one daemon thread owns the one
connection and runs every call in order; the event loop awaits `run()` and stays free. (A daemon
thread, so a call stuck in a lock never keeps the process from exiting.)

`open_connection` tells a damaged file from a healthy one that can't be used right now: only a file
that is not an SQLite database, or fails `PRAGMA quick_check`, counts as corrupt (`CorruptDatabase`).
A lock, a full disk, a read-only folder or a permission problem is a `StoreError` whose message names
the file and the cause, and the file is left as it was.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from ..paths import ensure_private_dir

T = TypeVar("T")

BUSY_TIMEOUT = 10.0
"""Seconds a write waits for another process's lock before it fails (the status line shows the wait)."""
BUSY_STEP = 0.1
"""Seconds of each of SQLite's own busy waits within that: between them, a wait can be given up."""

_CORRUPT_CODES = {"SQLITE_NOTADB", "SQLITE_CORRUPT"}
_CAUSES = {
    "SQLITE_BUSY": "it is locked by another process",
    "SQLITE_LOCKED": "it is locked by another connection",
    "SQLITE_FULL": "the disk is full",
    "SQLITE_READONLY": "it is read-only here",
    "SQLITE_CANTOPEN": "it cannot be opened (check the folder exists and is writable)",
    "SQLITE_PERM": "permission denied",
    "SQLITE_AUTH": "permission denied",
    "SQLITE_IOERR": "a disk I/O error",
    "SQLITE_INTERRUPT": "the operation was interrupted",
}


class StoreError(Exception):
    """The history database cannot be used right now; the message is one line naming the file and the cause."""

    def __init__(self, message: str, *, cause: str | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        """The cause alone ("the disk is full"), for a status line."""


class CorruptDatabase(StoreError):
    """The file is not an SQLite database, or fails `PRAGMA quick_check`."""


def primary_code(error: BaseException) -> str:
    """SQLite's primary result code name: SQLITE_IOERR for SQLITE_IOERR_WRITE."""
    name = getattr(error, "sqlite_errorname", None) or ""
    return "_".join(name.split("_")[:2])


def cause_of(error: BaseException) -> str:
    """A short, user-facing cause for an SQLite or OS error ("the disk is full")."""
    if isinstance(error, StoreError):
        return getattr(error, "cause", None) or str(error)
    if isinstance(error, sqlite3.Error):
        if (code := primary_code(error)) in _CAUSES:
            return _CAUSES[code]
        text = str(error)
        if "locked" in text:
            return _CAUSES["SQLITE_BUSY"]
        if "full" in text:
            return _CAUSES["SQLITE_FULL"]
        if "readonly" in text or "read-only" in text:
            return _CAUSES["SQLITE_READONLY"]
        return text or type(error).__name__
    if isinstance(error, OSError):
        if error.errno == 28:
            return _CAUSES["SQLITE_FULL"]
        return (error.strerror or str(error)).lower()
    return str(error) or type(error).__name__


def is_corruption(error: BaseException) -> bool:
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    if code := primary_code(error):
        return code in _CORRUPT_CODES
    text = str(error)
    return "not a database" in text or "malformed" in text


def passes_quick_check(path: Path) -> bool:
    """Whether `path` is an SQLite database that passes `PRAGMA quick_check` now (read-only; False when it can't
    tell: locked, missing). Standard library only, and SQLite lets other threads run meanwhile: the chat checks
    its history this way while pydantic-ai imports (about 70 ms per 100 MB), then opens it `checked`."""
    return path.is_file() and _passes_check(path, timeout=0.1, unsure=False)


def quick_check(path: Path) -> bool:
    """Whether `path` opens as an SQLite database and passes `PRAGMA quick_check` (read-only); True when it can't
    tell (locked, say): it is not known to be corrupt."""
    return _passes_check(path, timeout=1.0, unsure=True)


def _passes_check(path: Path, *, timeout: float, unsure: bool) -> bool:
    """`PRAGMA quick_check` on `path` opened read-only: whether it says ok; `unsure` when it failed for a reason
    other than corruption; False when it can't be opened."""
    try:
        db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=timeout)
    except sqlite3.Error:
        return False
    try:
        return db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    except sqlite3.Error as error:
        return unsure and not is_corruption(error)
    finally:
        db.close()


class DbThread:
    """One daemon thread that runs every call on the database connection, in order."""

    def __init__(self, name: str = "xsus-history") -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()
        self._stopped = False

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            call, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                future.set_exception(error)

    def submit(self, call: Callable[[], T]) -> concurrent.futures.Future[T]:
        if self._stopped:
            raise StoreError("the history database is closed")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._calls.put((call, future))
        return future

    def call(self, call: Callable[[], T]) -> T:
        """Run `call` on the thread and wait for it (for code that is not on an event loop)."""
        if threading.current_thread() is self._thread:
            return call()
        return self.submit(call).result()

    async def run(self, call: Callable[[], T]) -> T:
        """Run `call` on the thread; the event loop stays free meanwhile."""
        return await asyncio.wrap_future(self.submit(call))

    def stop(self, timeout: float | None = None) -> bool:
        """Let queued calls finish, then end the thread; False if it is still busy after `timeout`."""
        if not self._stopped:
            self._stopped = True
            self._calls.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()


def create_private(path: Path) -> bool:
    """Create `path` readable by its owner only, unless it exists (its mode is then left alone).

    Its folder is created 0700 when missing. Returns whether the file was created now.
    """
    ensure_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def connect_readonly(path: Path, busy_timeout: float) -> tuple[sqlite3.Connection, bool]:
    """On the database thread: open an existing database for reading only, also in a folder xsus can't write.

    Returns the connection and whether it reads the file as immutable: a WAL database needs its `-shm` file,
    and where that can't be created (a read-only folder) the file is read as it is, without the `-wal`'s
    latest transactions.
    """
    if not path.exists():
        raise StoreError(f"there is no history database at {path} yet", cause="it does not exist")
    uri = f"file:{quote(str(path))}"
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=busy_timeout, check_same_thread=False)
        db.execute("SELECT count(*) FROM conversations").fetchone()
        return db, False
    except sqlite3.Error as error:
        if primary_code(error) not in ("SQLITE_CANTOPEN", "SQLITE_READONLY"):
            raise open_error(path, error) from error
    try:
        db = sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)
        db.execute("SELECT count(*) FROM conversations").fetchone()
        return db, True
    except sqlite3.Error as error:
        raise open_error(path, error) from error


def open_error(path: Path, error: sqlite3.Error, *, check: bool = True) -> StoreError:
    if check and is_corruption(error) and not quick_check(path):
        return CorruptDatabase(f"{path} is not a usable SQLite database ({error})")
    cause = cause_of(error)
    return StoreError(f"cannot open the history database {path}: {cause}", cause=cause)


def no_search_index(path: Path) -> StoreError:
    """Searching a schema-1 database opened read-only (xsus has not indexed it yet)."""
    return StoreError(
        f"the history database {path} has no search index yet: start xsus once to build it",
        cause="no search index yet",
    )


def add_columns(db: sqlite3.Connection, table: str, columns: dict[str, str]) -> None:
    """Add the columns `table` lacks. Another process opening the same database may add one between our look and
    our ALTER: that one is there, as wanted."""
    have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    for name, kind in columns.items():
        if name not in have:
            try:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError as error:
                if "duplicate column name" not in str(error):
                    raise
