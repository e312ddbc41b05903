"""Conversations on disk: an SQLite `pydantic_ai.conversation_store.ConversationStore`.

The store keeps pydantic-ai's own message format (each `ModelMessage` as the JSON that
`ModelMessagesTypeAdapter` writes), one row per message entry linked to its parent, and one row per
conversation pointing at its newest entry. pydantic-ai's base class works out which messages are new,
where a history branches, and checks revisions; this file reads and writes rows, and saves a
conversation that only grew since its last save without looking at its earlier messages (see `save`).

Every SQLite call runs on the store's own thread (`db.DbThread`), so a lock or a slow disk never
freezes the event loop. A reply still streaming is checkpointed into `partials` (see `checkpoint`);
a checkpoint left by a process that died is added to its conversation as an interrupted reply the
next time the database is opened for writing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import pydantic
from pydantic_ai.conversation import Conversation
from pydantic_ai.conversation_store import (
    ConversationConflict,
    ConversationEntry,
    ConversationRecord,
    ConversationStore,
)
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, UserPromptPart
from pydantic_ai.run import AgentRunResult

from . import adapters, index, usage_index
from .compat import STORED_MARK, set_stored_mark, stored_mark
from .db import (
    BUSY_STEP,
    BUSY_TIMEOUT,
    CorruptDatabase,
    DbThread,
    StoreError,
    cause_of,
    connect_readonly,
    create_private,
    no_search_index,
    open_error,
    primary_code,
)
from .index import ConversationSummary, ConversationTree, SearchHit
from .pricing import Pricer
from .recording import Recording, pack, unpack

__all__ = ["ConversationSummary", "ConversationTree", "SQLiteConversationStore", "SearchHit", "StoreError"]

T = TypeVar("T")

# Where pydantic-ai marks which messages of a Conversation are stored (private: see compat.py).
_MARK = STORED_MARK

# Built on first use, or in the background once the chat is up (adapters.py).
_MESSAGES, _RECORD = adapters.MESSAGES, adapters.RECORD
SCHEMA_VERSION = index.SCHEMA_VERSION
_TABLES = {"entries", "conversations", "partials"}
"""Schema 1's tables; schema 2 adds its own (`index.create`)."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    parent_id TEXT,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS conversations (
    conversation_id TEXT PRIMARY KEY,
    revision TEXT NOT NULL,
    scope TEXT,
    updated_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    title TEXT,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations(updated_at);
CREATE TABLE IF NOT EXISTS partials (
    conversation_id TEXT PRIMARY KEY,
    revision TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    messages TEXT NOT NULL
);
"""
_RECORDINGS = """
CREATE TABLE IF NOT EXISTS recordings (
    entry_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    header TEXT NOT NULL,
    events BLOB NOT NULL,
    parts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS recording_parts (
    hash TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
"""
"""One recording per turn version, keyed by its prompt's entry (so it follows the entry to a fork); the event lines
compressed (`recording.pack`). Added without a schema version: an older xsus leaves the table alone."""
RECOVERED_METADATA_KEY = "xsus_recovered"
"""Set on a reply that was taken from a checkpoint after xsus stopped mid-reply."""


def _title_of(entries: Sequence[ConversationEntry]) -> str | None:
    for entry in entries:
        if isinstance(entry.message, ModelRequest):
            for part in entry.message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str) and part.content.strip():
                    return index.title_of(part.content)
    return None


class SQLiteConversationStore(ConversationStore):
    """Conversations in one SQLite file (WAL mode, so two `xsus` processes can share it)."""

    def __init__(self, path: Path | str, *, worker: DbThread, connection: sqlite3.Connection, readonly: bool = False):
        self.path = Path(path)
        self._worker = worker
        self._db = connection
        self.readonly = readonly
        """Opened read-only (a reading command on a folder xsus can't write): no saves."""
        self.moved_aside: Path | None = None
        """Where a corrupt database was moved when this store started a fresh one."""
        self.busy_timeout = BUSY_TIMEOUT
        """Seconds a write waits for another process's lock before it fails."""
        self._give_up = threading.Event()
        """Set by `stop_waiting()`: a write waiting for a lock gives up now."""
        self.may_be_stale = False
        """Read-only from a folder where SQLite can't keep its `-shm`: the latest saves (in the WAL) may be missing."""
        self.recovered: list[str] = []
        """Conversations that got back a reply cut short when xsus stopped (from its checkpoint), at open."""
        self.schema = SCHEMA_VERSION
        """The schema the file is in: 1 for a store read-only that xsus has not indexed yet (no search)."""
        self.agent_label: str | None = None
        """What the app runs (an `--agent` target), recorded with each conversation it saves to."""
        self._pricer = Pricer()
        """Prices stored responses that carry no cost, for the conversations' totals (`usage_index`)."""

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        busy_timeout: float = BUSY_TIMEOUT,
        readonly: bool = False,
        progress: Callable[[int, int], None] | None = None,
        checked: bool = False,
    ) -> SQLiteConversationStore:
        """Open (creating if needed) the database at `path`; blocks until it is open.

        A file that is not an SQLite database or fails `PRAGMA quick_check` is moved aside (never deleted) and
        a fresh one started; `moved_aside` then says where the old file went. Anything else that stops it
        opening (a lock, a full disk, a read-only folder, permissions) raises `StoreError` naming the file and
        the cause, and leaves the file as it was. `readonly` opens an existing database for reading only.

        A database written before schema 2 is indexed for listing and search first (`index.migrate`), telling
        `progress(done, total)` how many messages are done. `checked`: the file has just passed `quick_check`
        (`db.passes_quick_check`: the chat runs it while pydantic-ai imports), so it is not checked again.
        """
        path = Path(path)
        worker = DbThread()
        try:
            if readonly:
                db, immutable = worker.call(lambda: connect_readonly(path, busy_timeout))
                store = cls(path, worker=worker, connection=db, readonly=True)
                store.schema = worker.call(lambda: db.execute("PRAGMA user_version").fetchone()[0])
                store.may_be_stale = immutable and path.with_name(path.name + "-wal").exists()
                return store
            moved_aside = None
            try:
                db = worker.call(lambda: _connect(path, busy_timeout, check=not checked))
            except CorruptDatabase:
                moved_aside = _move_aside(path)
                db = worker.call(lambda: _connect(path, busy_timeout))
            store = cls(path, worker=worker, connection=db)
            store.busy_timeout = busy_timeout
            store.moved_aside = moved_aside
            store.schema = worker.call(lambda: store._migrate(progress))
            store.recovered = worker.call(store._recover_checkpoints)
            worker.call(lambda: store._purge_deleted(False))
            return store
        except BaseException:
            worker.stop(0)
            raise

    def _migrate(self, progress: Callable[[int, int], None] | None) -> int:
        """On the database thread at open: index what a schema-1 store holds (once); the schema it is in now."""
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version >= SCHEMA_VERSION:
            self._count_usage()
            return version
        index.migrate(db, self._begin, progress)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._count_usage()
        return SCHEMA_VERSION

    def _count_usage(self) -> None:
        """At open: count the token and price totals of conversations stored without them (see `usage_index`).
        Another process's lock leaves them for a later open rather than holding this one up."""
        if not usage_index.needs_fill(self._db):
            return
        try:
            usage_index.fill(self._db, lambda: self._db.execute("BEGIN IMMEDIATE"), self._pricer.stored)
        except sqlite3.OperationalError:
            pass

    def stop_waiting(self) -> None:
        """Make a write that is waiting for another process's lock give up now (StoreError), rather than at the
        busy timeout: the user pressed Esc, or is quitting. SQLite's own busy wait can't be cut short, so writes
        wait in steps of `BUSY_STEP` (see `_begin`)."""
        self._give_up.set()

    def close(self, timeout: float | None = None) -> bool:
        """Finish what is queued, purge what this process deleted (`delete_soft`) and close; False if the database
        was still busy after `timeout` seconds (its thread is a daemon: it never keeps the process alive; what
        it did not purge is purged at the next open)."""
        db = self._db
        self.stop_waiting()

        def close() -> None:
            if not self.readonly:
                self._purge_deleted(True)  # what this process deleted can't be brought back any more
                _free_space(db)  # leave no WAL behind
            db.close()

        try:
            self._worker.submit(close)
        except StoreError:
            return True  # closed already
        return self._worker.stop(timeout)

    async def _run(self, call: Callable[[], T], doing: str = "use") -> T:
        """`call` on the database thread; an SQLite or OS error becomes a one-line StoreError."""
        try:
            return await self._worker.run(call)
        except (sqlite3.Error, OSError) as error:
            raise self._error(error, doing) from error

    def _call(self, call: Callable[[], T], doing: str = "read") -> T:
        try:
            return self._worker.call(call)
        except (sqlite3.Error, OSError) as error:
            raise self._error(error, doing) from error

    def _error(self, error: BaseException, doing: str) -> StoreError:
        cause = cause_of(error)
        return StoreError(f"could not {doing} the history database {self.path}: {cause}", cause=cause)

    # -- saving a conversation that grew, in time that does not grow with it ----------------------

    async def save(
        self, conversation: Conversation | AgentRunResult[Any], *, scope: str | None = None
    ) -> list[ConversationEntry]:
        """pydantic-ai's `ConversationStore.save`, without a pass over the whole history when the conversation
        only grew since this store loaded or saved it (which is every save a ChatSession makes).

        The base class checks that the stored messages are still the conversation's first ones by comparing
        them one by one in Python, and marks them stored by copying them all: with 10,000 turns that was 90%
        of the cost of saving one, 10x the cost with 10 turns (benchmarks/store.py). Here what this store
        loaded or saved is kept in one list that grows with each save (`_Stored`, behind pydantic-ai's
        mark), so the check is one list comparison in C and the mark is updated without a copy. The rows
        written, the revision check and the conversation's `revision` and `new_message_index` afterwards
        are those of the base class. Anything else (a new conversation, a run's result, a rewritten
        history) goes to the base class.

        The comparison is `==`, which takes an equal copy of a stored message for the message itself. The
        base class compares such a copy with the stored history instead, by `==` too, and appends the same
        messages; the one difference is that the mark keeps the stored object, so pydantic-ai, which checks
        the mark by identity, compares the conversation with the store at its next run instead.
        """
        if not isinstance(conversation, Conversation):
            return await super().save(conversation, scope=scope)
        grown = _grown(conversation) if conversation.revision is not None else None
        if grown is None:
            entries = await super().save(conversation, scope=scope)
            _track(conversation)
            return entries
        stored, count = grown
        index = len(stored)
        conversation_id = conversation.conversation_id
        expected_revision = conversation.revision
        try:
            record = await self.read_record(conversation_id)
            if record is None or record.revision != expected_revision or scope is not None and record.scope != scope:
                raise ConversationConflict(conversation_id)
            new_entries, updated = _appended(
                record,
                stored.log[index:count],
                usage=conversation.usage,
                deferred_tool_requests=conversation.deferred_tool_requests,
                scope=scope if scope is not None else record.scope,
            )
            await self.write_record(updated, new_entries=new_entries, expected_revision=expected_revision)
        except BaseException:
            del stored.log[index:]
            raise
        conversation.revision = updated.revision
        conversation.new_message_index = count
        set_stored_mark(conversation, _Stored(stored.log, count))
        return new_entries

    async def load(
        self, conversation_id: str, *, limit: int | None = None, scope: str | None = None
    ) -> Conversation | None:
        """pydantic-ai's `load`. Opened read-only, a reply a crashed process left in its checkpoint is added to
        the conversation in memory (the store can't take it), so an export shows what was on screen."""
        try:
            conversation = await super().load(conversation_id, limit=limit, scope=scope)
        except pydantic.ValidationError as error:
            cause = "a stored message is damaged"
            raise StoreError(
                f"conversation {conversation_id[:13]} can't be read: {cause} ({error.title})", cause=cause
            ) from error
        if conversation is not None:
            _track(conversation)
            if self.readonly and limit is None:
                conversation.messages.extend(await self.pending_reply(conversation_id, conversation.revision))
        return conversation

    async def branch(
        self,
        conversation_id: str,
        *,
        at: int | None = None,
        from_entry: str | None = None,
        expected_revision: str | None,
        scope: str | None = None,
    ) -> Conversation:
        conversation = await super().branch(
            conversation_id, at=at, from_entry=from_entry, expected_revision=expected_revision, scope=scope
        )
        _track(conversation)
        return conversation

    async def fork(
        self,
        conversation_id: str,
        *,
        at: int | None = None,
        from_entry: str | None = None,
        new_conversation_id: str | None = None,
        scope: str | None = None,
        source_scope: str | None = None,
    ) -> Conversation:
        conversation = await super().fork(
            conversation_id,
            at=at,
            from_entry=from_entry,
            new_conversation_id=new_conversation_id,
            scope=scope,
            source_scope=source_scope,
        )
        _track(conversation)
        return conversation

    # -- ConversationStore primitives (each runs on the database thread) ----------------------------

    async def read_record(self, conversation_id: str) -> ConversationRecord | None:
        return await self._run(lambda: self._record_row(conversation_id), "read")

    def _record_row(self, conversation_id: str) -> ConversationRecord | None:
        row = self._db.execute(
            "SELECT record FROM conversations WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        return None if row is None else _RECORD.validate_json(row[0])

    async def read_records(self, *, scope: str | None = None, limit: int | None = None) -> Sequence[ConversationRecord]:
        sql = "SELECT record FROM conversations"
        params: list[object] = []
        if scope is not None:
            sql += " WHERE scope = ?"
            params.append(scope)
        sql += " ORDER BY updated_at DESC, conversation_id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = await self._run(lambda: self._db.execute(sql, params).fetchall(), "read")
        return [_RECORD.validate_json(row[0]) for row in rows]

    async def write_record(
        self,
        record: ConversationRecord,
        *,
        new_entries: Sequence[ConversationEntry] = (),
        expected_revision: str | None,
    ) -> None:
        # Serialized here, on the caller's side: a message that can't be stored fails before any SQL runs.
        rows = [(e.id, e.parent_id, e.kind, adapters.message_json(e.message)) for e in new_entries]
        title = _title_of(new_entries)
        await self._run(lambda: self._write_record(record, rows, expected_revision, title), "save to")

    def _write_record(
        self,
        record: ConversationRecord,
        rows: list[tuple[str, str | None, str, str]],
        expected_revision: str | None,
        title: str | None,
    ) -> None:
        if self.readonly:
            raise StoreError(f"the history database {self.path} is open read-only", cause="it is read-only here")
        db = self._db
        self._begin()
        try:
            row = db.execute(
                "SELECT revision, created_at, title FROM conversations WHERE conversation_id = ?",
                (record.conversation_id,),
            ).fetchone()
            if (row[0] if row else None) != expected_revision:
                raise ConversationConflict(record.conversation_id)
            new_ids = {entry_row[0] for entry_row in rows}
            if record.head_id is not None and record.head_id not in new_ids:
                if db.execute("SELECT 1 FROM entries WHERE id = ?", (record.head_id,)).fetchone() is None:
                    raise ConversationConflict(record.conversation_id)
            db.executemany("INSERT INTO entries (id, parent_id, kind, message) VALUES (?, ?, ?, ?)", rows)
            index.add_entries(db, record.conversation_id, rows)
            usage_index.add(db, rows, self._pricer.stored)
            updated = record.updated_at.isoformat()
            title = (row[2] if row else None) or title
            db.execute(
                "INSERT INTO conversations (conversation_id, revision, scope, updated_at, created_at, title, record)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(conversation_id) DO UPDATE SET revision = excluded.revision, scope = excluded.scope,"
                " updated_at = excluded.updated_at, title = excluded.title, record = excluded.record",
                (
                    record.conversation_id,
                    record.revision,
                    record.scope,
                    updated,
                    row[1] if row else updated,
                    title,
                    _RECORD.dump_json(record).decode(),
                ),
            )
            index.refresh(db, record.conversation_id, agent=self.agent_label if rows else None)
            usage_index.refresh(db, record.conversation_id, self._pricer.stored)
            # The turn a checkpoint was kept for is saved now: in the same transaction, so never both or neither.
            db.execute("DELETE FROM partials WHERE conversation_id = ?", (record.conversation_id,))
            db.execute("COMMIT")
        except BaseException as error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                _free_space(db)
            raise

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """On the database thread: BEGIN IMMEDIATE (waiting as `_begin` does), COMMIT, or ROLLBACK on any error."""
        db = self._db
        self._begin()
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _begin(self) -> None:
        """BEGIN IMMEDIATE, waiting up to `busy_timeout` for another process's lock in `BUSY_STEP` steps, so that
        `stop_waiting()` can cut the wait short."""
        deadline = time.monotonic() + self.busy_timeout
        try:
            while True:
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as error:
                    if primary_code(error) != "SQLITE_BUSY" or time.monotonic() >= deadline:
                        raise
                    if self._give_up.is_set():
                        raise sqlite3.OperationalError("interrupted while waiting for a lock") from error
        finally:
            self._give_up.clear()

    async def delete_record(self, conversation_id: str, *, expected_revision: str) -> None:
        # Entries are kept: a fork or a concurrent save may still point into them (`delete_now` purges them).
        def delete() -> int:
            self._db.execute("DELETE FROM partials WHERE conversation_id = ?", (conversation_id,))
            return self._db.execute(
                "DELETE FROM conversations WHERE conversation_id = ? AND revision = ?",
                (conversation_id, expected_revision),
            ).rowcount

        if await self._run(delete, "save to") == 0:
            raise ConversationConflict(conversation_id)

    async def read_entry(self, entry_id: str) -> ConversationEntry:
        row = await self._run(
            lambda: self._db.execute(
                "SELECT id, parent_id, kind, message FROM entries WHERE id = ?", (entry_id,)
            ).fetchone(),
            "read",
        )
        if row is None:
            raise LookupError(entry_id)
        return _entry(row)

    async def read_history(self, head_id: str | None, *, limit: int | None = None) -> list[ConversationEntry]:
        """The whole chain up to `head_id` in one recursive query instead of one query per entry."""
        if head_id is None:
            return []
        rows = await self._run(lambda: self._chain(head_id, limit), "read")
        if not rows or (limit != 0 and rows[-1][0] != head_id):
            raise LookupError(head_id)
        entries = [_entry(row) for row in rows]
        return entries[-limit:] if limit is not None and limit < len(entries) else entries

    def _chain(self, head_id: str, limit: int | None) -> list[Any]:
        return self._db.execute(
            "WITH RECURSIVE chain(id, parent_id, kind, message, depth) AS ("
            " SELECT id, parent_id, kind, message, 0 FROM entries WHERE id = ?"
            " UNION ALL SELECT e.id, e.parent_id, e.kind, e.message, chain.depth + 1"
            " FROM entries e JOIN chain ON e.id = chain.parent_id"
            + (" WHERE chain.depth + 1 < ?" if limit is not None else "")
            + ") SELECT id, parent_id, kind, message FROM chain ORDER BY depth DESC",
            (head_id, limit) if limit is not None else (head_id,),
        ).fetchall()

    # -- checkpoints of a reply while it streams ---------------------------------------------------

    async def checkpoint(self, conversation_id: str, *, revision: str, messages: Sequence[ModelMessage]) -> None:
        """Keep what a turn has produced so far (`messages`, after the stored history at `revision`), so a crash
        loses at most what came since. The turn's final save replaces it; if this process dies first, the next
        open adds it to the conversation as an interrupted reply (`recovered`)."""
        data = _MESSAGES.dump_json(list(messages)).decode()
        now = datetime.now().astimezone().isoformat()
        pid, host = os.getpid(), socket.gethostname()

        def write() -> None:
            self._db.execute(
                "INSERT OR REPLACE INTO partials (conversation_id, revision, pid, host, updated_at, messages)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, revision, pid, host, now, data),
            )

        await self._run(write, "save to")

    async def pending_reply(self, conversation_id: str, revision: str | None) -> list[ModelMessage]:
        """What a process that died while streaming left in its checkpoint for the conversation at `revision`,
        not added to it yet (the database was read-only, or the disk full, when it was opened); empty if none."""
        if revision is None:
            return []

        def read() -> Any:
            return self._db.execute(
                "SELECT pid, host, messages FROM partials WHERE conversation_id = ? AND revision = ?",
                (conversation_id, revision),
            ).fetchone()

        try:
            row = await self._run(read, "read")
        except StoreError:
            return []  # an older database without the table, read-only: nothing to add
        if row is None or _writer_alive(row[0], row[1]):
            return []
        return _recovered(_MESSAGES.validate_json(row[2]))

    def _recover_checkpoints(self) -> list[str]:
        """On the database thread at open: add the checkpoints of processes that died to their conversations."""
        db = self._db
        recovered = []
        for conversation_id, revision, pid, host, data in db.execute(
            "SELECT conversation_id, revision, pid, host, messages FROM partials"
        ).fetchall():
            if _writer_alive(pid, host):
                continue
            try:
                if self._recover(conversation_id, revision, data):
                    recovered.append(conversation_id)
            except sqlite3.Error:  # a full disk, say: the checkpoint stays for the next open
                continue
        return recovered

    def _recover(self, conversation_id: str, revision: str, data: str) -> bool:
        """Add one dead process's checkpoint to its conversation; whether a reply was added."""
        db = self._db
        record = self._record_row(conversation_id)
        if record is None or record.revision != revision:  # saved (or rewritten) since: nothing to add
            db.execute("DELETE FROM partials WHERE conversation_id = ? AND revision = ?", (conversation_id, revision))
            return False
        entries, updated = _appended(record, _recovered(_MESSAGES.validate_json(data)))
        rows = [(e.id, e.parent_id, e.kind, adapters.message_json(e.message)) for e in entries]
        self._write_record(updated, rows, revision, _title_of(entries))
        return bool(entries)

    # -- beyond the ABC: listing for the CLI and the UI (blocking: not for the event loop's hot path) ---

    def latest_id(self) -> str | None:
        row = self._call(
            lambda: self._db.execute(
                "SELECT conversation_id FROM conversations ORDER BY updated_at DESC, conversation_id DESC LIMIT 1"
            ).fetchone()
        )
        return row[0] if row else None

    def summaries(self, *, limit: int | None = None) -> list[ConversationSummary]:
        return self._call(lambda: self._summaries(limit))

    def _summaries(self, limit: int | None, offset: int = 0, title: str = "") -> list[ConversationSummary]:
        return index.summaries(self._db, self.schema, limit=limit, offset=offset, title=title)

    async def page(self, *, limit: int = 50, offset: int = 0, title: str = "") -> list[ConversationSummary]:
        """Conversations newest first, `limit` from `offset`; only those whose title contains `title`."""
        return await self._run(lambda: self._summaries(limit, offset, title), "read")

    async def summary(self, conversation_id: str) -> ConversationSummary | None:
        def read() -> ConversationSummary | None:
            row = self._db.execute(
                f"SELECT {index.SUMMARY_COLUMNS} FROM conversations WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                return None
            totals = usage_index.totals_of(self._db, [conversation_id])
            return dataclasses.replace(index.summary(row), usage=totals.get(conversation_id))

        return await self._run(read, "read")

    async def search(self, text: str, *, limit: int = 50, offset: int = 0) -> list[SearchHit]:
        """The messages that match `text` (FTS5 syntax, or plain words when it isn't), newest first."""
        if self.schema < 2:
            raise no_search_index(self.path)
        return await self._run(lambda: index.search(self._db, text, limit=limit, offset=offset), "search")

    async def tree(self, conversation_id: str, *, if_branched: bool = False) -> ConversationTree | None:
        """The conversation's turns with every version of each (see `index.ConversationTree`); with `if_branched`
        an empty tree, read at no cost, for a conversation that never branched."""
        return await self._run(lambda: index.tree(self._db, conversation_id, if_branched=if_branched), "read")

    async def texts(self, entry_ids: Sequence[str]) -> dict[str, str]:
        """The start of what each entry says, on one line (for the tree's lines)."""
        return await self._run(lambda: index.texts_of(self._db, entry_ids), "read")

    async def rename(self, conversation_id: str, title: str) -> str:
        """Give a conversation a title of one line; returns it. KeyError if there is no such conversation."""
        title = " ".join(title.split())[:200]
        if not title:
            raise ValueError("a title can't be empty")

        def write() -> int:
            with self._transaction() as db:
                return db.execute(
                    "UPDATE conversations SET title = ? WHERE conversation_id = ?", (title, conversation_id)
                ).rowcount

        if await self._run(write, "save to") == 0:
            raise KeyError(conversation_id)
        return title

    # -- deleting, with an undo while the app runs ---------------------------------------------------

    async def delete_soft(self, conversation_id: str) -> ConversationSummary:
        """Take a conversation out of every list and search, keeping it until `purge_deleted` (the app calls
        it at quit) so that `undelete` can bring it back. KeyError if there is no such conversation."""
        pid, host = os.getpid(), socket.gethostname()
        now = datetime.now().astimezone().isoformat()

        def write() -> Any:
            with self._transaction() as db:
                row = db.execute(
                    "SELECT conversation_id, revision, scope, updated_at, created_at, title, record, turns, messages,"
                    " preview, model, agent FROM conversations WHERE conversation_id = ?",
                    (conversation_id,),
                ).fetchone()
                if row is None:
                    raise KeyError(conversation_id)
                db.execute(
                    "INSERT OR REPLACE INTO deleted (conversation_id, pid, host, deleted_at, row)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (conversation_id, pid, host, now, json.dumps(row)),
                )
                db.execute("DELETE FROM conversations WHERE conversation_id = ?", (conversation_id,))
                db.execute("DELETE FROM partials WHERE conversation_id = ?", (conversation_id,))
                return row

        row = await self._run(write, "save to")
        return index.summary((row[0], row[5], row[4], row[3], row[8], row[7], row[9], row[10], row[11]))

    async def undelete(self, conversation_id: str) -> None:
        """Bring back a conversation `delete_soft` took out. KeyError if it is not kept (any more)."""

        def write() -> None:
            with self._transaction() as db:
                kept = db.execute("SELECT row FROM deleted WHERE conversation_id = ?", (conversation_id,)).fetchone()
                if kept is None:
                    raise KeyError(conversation_id)
                db.execute(
                    "INSERT INTO conversations (conversation_id, revision, scope, updated_at, created_at, title,"
                    " record, turns, messages, preview, model, agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    json.loads(kept[0]),
                )
                db.execute("DELETE FROM deleted WHERE conversation_id = ?", (conversation_id,))
                usage_index.refresh(db, conversation_id, self._pricer.stored)

        await self._run(write, "save to")

    async def delete_now(self, conversation_id: str) -> ConversationSummary:
        """Delete a conversation and the messages only it holds, for good."""
        deleted = await self.delete_soft(conversation_id)
        await self._run(lambda: self._purge(conversation_id), "save to")
        return deleted

    def purge_deleted(self, *, mine: bool = True) -> None:
        """Delete for good what `delete_soft` kept (blocking; at quit, or at open for processes that died)."""
        self._call(lambda: self._purge_deleted(mine), "save to")

    def _purge_deleted(self, mine: bool) -> None:
        if self.readonly or self.schema < 2:
            return
        for conversation_id, pid, host in self._db.execute("SELECT conversation_id, pid, host FROM deleted").fetchall():
            ours = pid == os.getpid() and host == socket.gethostname()
            if ours if mine else not _writer_alive(pid, host):
                try:
                    self._purge(conversation_id)
                except sqlite3.Error:  # a full disk, a lock: it stays deleted, and is purged at a later open
                    continue

    def _purge(self, conversation_id: str) -> None:
        """Delete a deleted conversation's entries, their search rows, and its `deleted` row, sparing the entries a
        fork still reaches."""
        with self._transaction() as db:
            spared: dict[str, str] = {}  # entry -> the fork that reaches it
            for fork_id, record in db.execute(
                "SELECT conversation_id, record FROM conversations"
                " WHERE json_extract(record, '$.forked_from') IS NOT NULL ORDER BY created_at"
            ).fetchall():
                data = json.loads(record)
                for tip in [data.get("head_id"), *(data.get("branches") or [])]:
                    if tip is not None:
                        for (entry_id,) in db.execute(index._CHAIN_IDS, (tip,)):
                            spared.setdefault(entry_id, fork_id)
            rows = db.execute("SELECT rowid, id FROM entries WHERE conversation_id = ?", (conversation_id,)).fetchall()
            gone = [(rowid,) for rowid, entry_id in rows if entry_id not in spared]
            db.executemany("DELETE FROM search WHERE rowid = ?", gone)
            db.executemany(
                "DELETE FROM recordings WHERE entry_id = ?",
                [(entry_id,) for _, entry_id in rows if entry_id not in spared],
            )
            db.executemany("DELETE FROM entries WHERE rowid = ?", gone)
            # What a fork still uses is its own now: searching finds it there.
            db.executemany(
                "UPDATE entries SET conversation_id = ? WHERE rowid = ?",
                [(spared[entry_id], rowid) for rowid, entry_id in rows if entry_id in spared],
            )
            db.execute("DELETE FROM deleted WHERE conversation_id = ?", (conversation_id,))

    # -- import and the whole tree -----------------------------------------------------------------------

    async def import_messages(self, messages: Sequence[ModelMessage], *, title: str | None = None) -> str:
        """Store `messages` as a new conversation; returns its id."""
        conversation = Conversation(messages=list(messages))
        await self.save(conversation)
        if title:
            await self.rename(conversation.conversation_id, title)
        return conversation.conversation_id

    async def all_entries(self, conversation_id: str) -> tuple[ConversationRecord, list[ConversationEntry]] | None:
        """The conversation's record and every entry of its tree (its history and the branches it left), each
        after its parent."""

        def read() -> Any:
            record = self._record_row(conversation_id)
            if record is None:
                return None
            tips = [tip for tip in [record.head_id, *record.branches] if tip is not None]
            ids = set(index.tree_nodes(self._db, tips))
            rows = [
                row
                for row in self._db.execute(
                    "SELECT e.id, e.parent_id, e.kind, e.message FROM entries e WHERE e.id IN"
                    " (SELECT value FROM json_each(?)) ORDER BY e.rowid",
                    (json.dumps(sorted(ids)),),
                ).fetchall()
            ]
            return record, rows

        found = await self._run(read, "read")
        if found is None:
            return None
        record, rows = found
        return record, [_entry(row) for row in rows]

    async def import_tree(self, entries: Sequence[ConversationEntry], head_id: str | None, *, title: str | None) -> str:
        """Store a whole tree (what `all_entries` gave, from another store) as a new conversation, with new entry
        ids; its head is `head_id`'s copy and every other leaf a branch it left. Returns its id."""
        new_ids: dict[str, str] = {}
        copies = []
        for entry in entries:  # each after its parent
            if entry.parent_id is not None and entry.parent_id not in new_ids:
                raise ValueError(f"entry {entry.id} comes before its parent {entry.parent_id}, or has none")
            copy = ConversationEntry(parent_id=new_ids.get(entry.parent_id or ""), message=entry.message)
            copies.append(copy)
            new_ids[entry.id] = copy.id
        parents = {entry.parent_id for entry in entries}
        leaves = [new_ids[entry.id] for entry in entries if entry.id not in parents]
        head = new_ids.get(head_id) if head_id else (leaves[-1] if leaves else None)
        record = ConversationRecord(
            conversation_id=Conversation().conversation_id,
            head_id=head,
            branches=[leaf for leaf in leaves if leaf != head],
        )
        await self.write_record(record, new_entries=copies, expected_revision=None)
        if title:
            await self.rename(record.conversation_id, title)
        return record.conversation_id

    # -- recordings ------------------------------------------------------------------------------------

    async def save_recording(self, recording: Recording) -> None:
        """Keep a turn's recording (replacing one kept for the same prompt entry)."""
        if recording.entry_id is None:
            raise ValueError("a recording is kept by its prompt's entry id")
        created = recording.started_at or datetime.now().astimezone().isoformat()

        def write() -> None:
            if self.readonly:
                raise StoreError(f"the history database {self.path} is open read-only", cause="it is read-only here")
            packed = pack(recording)  # on the database thread: encoding 17,000 events is not the event loop's work
            with self._transaction() as db:
                db.executemany(
                    "INSERT OR IGNORE INTO recording_parts (hash, data) VALUES (?, ?)", list(packed.parts.items())
                )
                db.execute(
                    "INSERT OR REPLACE INTO recordings (entry_id, created_at, header, events, parts)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (recording.entry_id, created, packed.header, packed.body, json.dumps(sorted(packed.parts))),
                )

        await self._run(write, "save to")

    async def recordings(
        self, conversation_id: str, *, all_branches: bool = False, turn: int | None = None
    ) -> list[Recording]:
        """The recordings of the conversation's turns as it stands (every version's with `all_branches`; only turn
        `turn`'s, 1 = the first, when given), oldest first, each with its history (the conversation up to its prompt).
        Only those asked for are decoded."""

        def read() -> list[tuple[str, bytes, list[Any], dict[str, str]]]:
            try:
                rows = self._db.execute(
                    "SELECT r.entry_id, r.header, r.events, r.parts"
                    " FROM recordings r JOIN entries e ON e.id = r.entry_id"
                    " WHERE e.conversation_id = ?"
                    + (" AND json_extract(r.header, '$.turn') = ?" if turn is not None else "")
                    + " ORDER BY r.created_at, e.depth",
                    (conversation_id,) if turn is None else (conversation_id, turn),
                ).fetchall()
            except sqlite3.OperationalError as error:  # a database no xsus with recordings has written to
                if "no such table" in str(error):
                    return []
                raise
            if not all_branches:
                record = self._record_row(conversation_id)
                current = {row[0] for row in self._chain(record.head_id, None)} if record and record.head_id else set()
                rows = [row for row in rows if row[0] in current]
            found = []
            for entry_id, header, body, refs in rows:
                keys = json.loads(refs)
                parts = dict(
                    self._db.execute(
                        f"SELECT hash, data FROM recording_parts WHERE hash IN ({','.join('?' * len(keys))})", keys
                    ).fetchall()
                )
                found.append((header, body, self._chain(entry_id, None), parts))
            return found

        recordings = []
        decoded: dict[str, Any] = {}  # each entry read once: the recordings share their histories' messages
        for header, body, chain, parts in await self._run(read, "read"):
            history = [
                decoded.get(row[0]) or decoded.setdefault(row[0], adapters.message_from_json(row[3])) for row in chain
            ]
            recordings.append(unpack(header, body, history, parts))
        return recordings

    def resolve_id(self, prefix: str) -> str:
        """The full id of the one conversation whose id starts with `prefix`."""
        return self._call(lambda: index.resolve_id(self._db, prefix))


# -- opening ------------------------------------------------------------------------------------------


def _connect(path: Path, busy_timeout: float, *, check: bool = True) -> sqlite3.Connection:
    """On the database thread: open `path` for reading and writing, creating it (0600) and its tables; with `check`,
    fail with CorruptDatabase unless it passes `quick_check`."""
    if path.is_dir():
        raise StoreError(f"cannot open the history database {path}: it is a folder", cause="it is a folder")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        cause = "no permission to read and write it"
        raise StoreError(f"cannot open the history database {path}: {cause}", cause=cause)
    try:
        create_private(path)
    except OSError as error:
        raise StoreError(
            f"cannot open the history database {path}: {cause_of(error)}", cause=cause_of(error)
        ) from error
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout, check_same_thread=False)
    except sqlite3.Error as error:
        raise open_error(path, error) from error
    try:
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")  # opening waits the whole timeout
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{path} was written by a newer xsus (schema {version}); upgrade xsus-tui")
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        if not _TABLES <= tables:  # only write the schema when something is missing: a lock then can't stop a read
            db.executescript(_SCHEMA)
        if "recordings" not in tables:
            db.executescript(_RECORDINGS)
        if not usage_index.has_columns(db):
            usage_index.create(db)
        if version < SCHEMA_VERSION:
            index.create(db)
            if not index.needs_migration(db):  # else SQLiteConversationStore._migrate sets it, once indexed
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("SELECT count(*) FROM conversations").fetchone()
        # Damage that the queries above did not touch would show later, mid-chat: check the file now
        # (about 70 ms per 100 MB), before anything is written into it.
        if check and (verdict := db.execute("PRAGMA quick_check").fetchone()[0]) != "ok":
            db.close()
            raise CorruptDatabase(f"{path} fails SQLite's quick_check ({verdict})")
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_STEP * 1000)}")  # then writes wait in steps (`_begin`)
    except sqlite3.Error as error:
        db.close()
        raise open_error(path, error) from error
    except BaseException:
        db.close()
        raise
    return db


def _move_aside(path: Path) -> Path:
    """Rename a corrupt database (and its -wal and -shm files) out of the way; never delete it."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        path.rename(aside)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.rename(aside.with_name(aside.name + suffix))
    except OSError as error:
        cause = cause_of(error)
        raise StoreError(f"{path} is damaged and could not be moved aside: {cause}", cause=cause) from error
    return aside


def _free_space(db: sqlite3.Connection) -> None:
    """After a failed write (a full disk, say): checkpoint the WAL into the database and truncate it, so the
    space the failed transaction took is usable again. Best effort."""
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error:
        pass


def _writer_alive(pid: int, host: str) -> bool:
    """Whether the process that wrote a checkpoint may still be running (and about to save it)."""
    if host != socket.gethostname() or pid == os.getpid():
        return True  # another machine's process can't be checked; our own is alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is dead too
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return True


def _recovered(messages: list[ModelMessage]) -> list[ModelMessage]:
    """A checkpoint's messages, the last response marked as cut short when xsus stopped."""
    for position in range(len(messages) - 1, -1, -1):
        message = messages[position]
        if isinstance(message, ModelResponse):
            metadata = {**(message.metadata or {}), RECOVERED_METADATA_KEY: "xsus stopped before this reply finished"}
            messages[position] = _replace(message, metadata=metadata)
            break
    return messages


def _replace(message: ModelResponse, **changes: Any) -> ModelResponse:
    import dataclasses

    return dataclasses.replace(message, **changes)


def _appended(
    record: ConversationRecord, messages: Sequence[ModelMessage], **changes: Any
) -> tuple[list[ConversationEntry], ConversationRecord]:
    """Entries for `messages` chained after the record's head, and the record that ends with them (a new
    revision; `changes` for its usage, deferred tool requests or scope)."""
    parent_id = record.head_id
    entries = []
    for message in messages:
        entries.append(entry := ConversationEntry(parent_id=parent_id, message=message))
        parent_id = entry.id
    fields = {
        "usage": record.usage,
        "deferred_tool_requests": record.deferred_tool_requests,
        "scope": record.scope,
        **changes,
    }
    updated = ConversationRecord(
        conversation_id=record.conversation_id,
        head_id=parent_id,
        forked_from=record.forked_from,
        forked_at=record.forked_at,
        branches=list(record.branches),
        **fields,
    )
    return entries, updated


def _entry(row: tuple[str, str | None, str, str]) -> ConversationEntry:
    return ConversationEntry(id=row[0], parent_id=row[1], message=adapters.message_from_json(row[3]))


class _Stored(Sequence[ModelMessage]):
    """The first `length` messages of `log`: what pydantic-ai's mark on a conversation holds (a tuple there).

    `log` only grows while a prefix of it is marked, so a mark stays what it was when it was made; saving
    appends the new messages to the log instead of copying the whole history into a new tuple.
    """

    def __init__(self, log: list[ModelMessage], length: int) -> None:
        self.log = log
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[ModelMessage]:
        return islice(self.log, self.length)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self)[index]
        return self.log[range(self.length)[index]]


def _track(conversation: Conversation) -> None:
    """Put the messages pydantic-ai marked stored on `conversation` into a `_Stored` that later saves can grow."""
    if _MARK is None:  # pragma: no cover
        return
    mark = stored_mark(conversation)
    if isinstance(mark, tuple) and len(mark) == conversation.new_message_index:
        set_stored_mark(conversation, _Stored(list(mark), len(mark)))


def _grown(conversation: Conversation) -> tuple[_Stored, int] | None:
    """If `conversation`'s marked messages are still its first ones: the mark, with the messages after it
    appended to its log (to be taken back if the save fails), and how many messages there are now."""
    mark = stored_mark(conversation)
    messages = conversation.messages
    if not isinstance(mark, _Stored) or len(mark) != conversation.new_message_index or type(messages) is not list:
        return None
    log, index = mark.log, len(mark)
    if len(log) != index or len(messages) < index:
        return None  # another copy of this conversation grew the log since, or this one lost messages
    log.extend(messages[index:])
    try:
        if messages == log:  # one comparison in C: each pair is the same object (or else equal)
            return mark, len(log)
    except BaseException:
        del log[index:]
        raise
    del log[index:]
    return None
