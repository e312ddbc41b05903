"""Conversations on disk: an SQLite `pydantic_ai.conversation_store.ConversationStore`.

The store keeps pydantic-ai's own message format (each `ModelMessage` as the JSON that
`ModelMessagesTypeAdapter` writes), one row per message entry linked to its parent, and one row per
conversation pointing at its newest entry. pydantic-ai's base class works out which messages are new,
where a history branches, and checks revisions; this file reads and writes rows, and saves a
conversation that only grew since its last save without looking at its earlier messages (see `save`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

import pydantic
from pydantic_ai.conversation import Conversation
from pydantic_ai.conversation_store import (
    ConversationConflict,
    ConversationEntry,
    ConversationRecord,
    ConversationStore,
)
from pydantic_ai.messages import ModelMessage, ModelRequest, UserPromptPart
from pydantic_ai.run import AgentRunResult

# Where pydantic-ai marks which messages of a Conversation are stored. Private, so tests/core/test_store.py
# checks that pydantic-ai still reads the mark `save` leaves.
try:
    from pydantic_ai._conversation_marks import _STORED as _MARK
except ImportError:  # pragma: no cover - another pydantic-ai: every save takes the base class's way
    _MARK = None

_MESSAGE = pydantic.TypeAdapter(
    ModelMessage, config=pydantic.ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")
)
_RECORD = pydantic.TypeAdapter(ConversationRecord)
SCHEMA_VERSION = 1
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
"""


class StoreError(Exception):
    """The history database cannot be used; the message names the file."""


@dataclass(frozen=True)
class ConversationSummary:
    """One line of `xsus history list`."""

    _: KW_ONLY
    conversation_id: str
    """The conversation's identifier (a UUID7, so it sorts by creation time)."""
    title: str
    """The first line of the first prompt."""
    created_at: datetime
    """When the conversation was first saved."""
    updated_at: datetime
    """When it was last saved."""
    messages: int
    """How many messages its current history holds."""


def _title_of(entries: Sequence[ConversationEntry]) -> str | None:
    for entry in entries:
        if isinstance(entry.message, ModelRequest):
            for part in entry.message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str) and part.content.strip():
                    return part.content.strip().splitlines()[0][:100]
    return None


def _create_private(path: Path) -> None:
    """Create `path` readable by its owner only (the history holds everything said)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class SQLiteConversationStore(ConversationStore):
    """Conversations in one SQLite file (WAL mode, so two `xsus` processes can share it)."""

    def __init__(self, path: Path | str, *, connection: sqlite3.Connection) -> None:
        self.path = Path(path)
        self._db = connection
        self.moved_aside: Path | None = None
        """Where a corrupt database was moved when this store started a fresh one."""

    @classmethod
    def open(cls, path: Path | str) -> SQLiteConversationStore:
        """Open (creating if needed) the database at `path`.

        A file that is not a usable SQLite database is moved aside (never deleted) and a fresh one
        started; `moved_aside` then says where the old file went.
        """
        path = Path(path)
        try:
            return cls._connect(path)
        except sqlite3.DatabaseError as error:
            if not path.exists():
                raise StoreError(f"cannot open history database {path}: {error}") from error
            aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            path.rename(aside)
            for suffix in ("-wal", "-shm"):
                side = path.with_name(path.name + suffix)
                if side.exists():
                    side.rename(aside.with_name(aside.name + suffix))
            store = cls._connect(path)
            store.moved_aside = aside
            return store
        except OSError as error:
            raise StoreError(f"cannot open history database {path}: {error.strerror or error}") from error

    @classmethod
    def _connect(cls, path: Path) -> SQLiteConversationStore:
        _create_private(path)
        db = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{path} was written by a newer xsus (schema {version}); upgrade xsus-tui")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("SELECT count(*) FROM conversations").fetchone()
        except BaseException:
            db.close()
            raise
        return cls(path, connection=db)

    def close(self) -> None:
        self._db.close()

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
            parent_id = record.head_id
            new_entries: list[ConversationEntry] = []
            for message in stored.log[index:count]:
                entry = ConversationEntry(parent_id=parent_id, message=message)
                new_entries.append(entry)
                parent_id = entry.id
            updated = ConversationRecord(
                conversation_id=conversation_id,
                head_id=parent_id,
                usage=conversation.usage,
                deferred_tool_requests=conversation.deferred_tool_requests,
                scope=scope if scope is not None else record.scope,
                forked_from=record.forked_from,
                forked_at=record.forked_at,
                branches=list(record.branches),
            )
            await self.write_record(updated, new_entries=new_entries, expected_revision=expected_revision)
        except BaseException:
            del stored.log[index:]
            raise
        conversation.revision = updated.revision
        conversation.new_message_index = count
        conversation.__dict__[_MARK] = _Stored(stored.log, count)
        return new_entries

    async def load(
        self, conversation_id: str, *, limit: int | None = None, scope: str | None = None
    ) -> Conversation | None:
        conversation = await super().load(conversation_id, limit=limit, scope=scope)
        if conversation is not None:
            _track(conversation)
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

    # -- ConversationStore primitives -----------------------------------------------------------

    async def read_record(self, conversation_id: str) -> ConversationRecord | None:
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
        return [_RECORD.validate_json(row[0]) for row in self._db.execute(sql, params)]

    async def write_record(
        self,
        record: ConversationRecord,
        *,
        new_entries: Sequence[ConversationEntry] = (),
        expected_revision: str | None,
    ) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "SELECT revision, created_at, title FROM conversations WHERE conversation_id = ?",
                (record.conversation_id,),
            ).fetchone()
            if (row[0] if row else None) != expected_revision:
                raise ConversationConflict(record.conversation_id)
            new_ids = {entry.id for entry in new_entries}
            if record.head_id is not None and record.head_id not in new_ids:
                if db.execute("SELECT 1 FROM entries WHERE id = ?", (record.head_id,)).fetchone() is None:
                    raise ConversationConflict(record.conversation_id)
            db.executemany(
                "INSERT INTO entries (id, parent_id, kind, message) VALUES (?, ?, ?, ?)",
                [(e.id, e.parent_id, e.kind, _MESSAGE.dump_json(e.message).decode()) for e in new_entries],
            )
            updated = record.updated_at.isoformat()
            title = (row[2] if row else None) or _title_of(new_entries)
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
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def delete_record(self, conversation_id: str, *, expected_revision: str) -> None:
        # Entries are kept: a fork or a concurrent save may still point into them.
        cursor = self._db.execute(
            "DELETE FROM conversations WHERE conversation_id = ? AND revision = ?",
            (conversation_id, expected_revision),
        )
        if cursor.rowcount == 0:
            raise ConversationConflict(conversation_id)

    async def read_entry(self, entry_id: str) -> ConversationEntry:
        row = self._db.execute("SELECT id, parent_id, kind, message FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise LookupError(entry_id)
        return _entry(row)

    async def read_history(self, head_id: str | None, *, limit: int | None = None) -> list[ConversationEntry]:
        """The whole chain up to `head_id` in one recursive query instead of one query per entry."""
        if head_id is None:
            return []
        rows = self._db.execute(
            "WITH RECURSIVE chain(id, parent_id, kind, message, depth) AS ("
            " SELECT id, parent_id, kind, message, 0 FROM entries WHERE id = ?"
            " UNION ALL SELECT e.id, e.parent_id, e.kind, e.message, chain.depth + 1"
            " FROM entries e JOIN chain ON e.id = chain.parent_id"
            + (" WHERE chain.depth + 1 < ?" if limit is not None else "")
            + ") SELECT id, parent_id, kind, message FROM chain ORDER BY depth DESC",
            (head_id, limit) if limit is not None else (head_id,),
        ).fetchall()
        if not rows or (limit != 0 and rows[-1][0] != head_id):
            raise LookupError(head_id)
        entries = [_entry(row) for row in rows]
        return entries[-limit:] if limit is not None and limit < len(entries) else entries

    # -- beyond the ABC: listing for the CLI and the UI ---------------------------------------------

    def latest_id(self) -> str | None:
        row = self._db.execute(
            "SELECT conversation_id FROM conversations ORDER BY updated_at DESC, conversation_id DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    def summaries(self, *, limit: int | None = None) -> list[ConversationSummary]:
        sql = (
            "SELECT c.conversation_id, c.title, c.created_at, c.updated_at, json_extract(c.record, '$.head_id')"
            " FROM conversations c ORDER BY c.updated_at DESC, c.conversation_id DESC"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        out = []
        for conversation_id, title, created, updated, head in self._db.execute(sql).fetchall():
            count = self._db.execute(
                "WITH RECURSIVE chain(id, parent_id) AS (SELECT id, parent_id FROM entries WHERE id = ?"
                " UNION ALL SELECT e.id, e.parent_id FROM entries e JOIN chain ON e.id = chain.parent_id)"
                " SELECT count(*) FROM chain",
                (head,),
            ).fetchone()[0]
            out.append(
                ConversationSummary(
                    conversation_id=conversation_id,
                    title=title or "(empty)",
                    created_at=datetime.fromisoformat(created),
                    updated_at=datetime.fromisoformat(updated),
                    messages=count,
                )
            )
        return out

    def resolve_id(self, prefix: str) -> str:
        """The full id of the one conversation whose id starts with `prefix`."""
        rows = self._db.execute(
            "SELECT conversation_id FROM conversations WHERE conversation_id LIKE ? ESCAPE '\\' LIMIT 2",
            (prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
        ).fetchall()
        if not rows:
            raise KeyError(f"no conversation with id {prefix!r}")
        if len(rows) > 1:
            raise KeyError(f"{prefix!r} matches more than one conversation; give more of the id")
        return rows[0][0]


def _entry(row: tuple[str, str | None, str, str]) -> ConversationEntry:
    return ConversationEntry(id=row[0], parent_id=row[1], message=_MESSAGE.validate_json(row[3]))


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
    mark = conversation.__dict__.get(_MARK)
    if isinstance(mark, tuple) and len(mark) == conversation.new_message_index:
        conversation.__dict__[_MARK] = _Stored(list(mark), len(mark))


def _grown(conversation: Conversation) -> tuple[_Stored, int] | None:
    """If `conversation`'s marked messages are still its first ones: the mark, with the messages after it
    appended to its log (to be taken back if the save fails), and how many messages there are now."""
    mark = conversation.__dict__.get(_MARK) if _MARK is not None else None
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
