"""Conversations on disk: an SQLite `pydantic_ai.conversation_store.ConversationStore`.

The store keeps pydantic-ai's own message format (each `ModelMessage` as the JSON that
`ModelMessagesTypeAdapter` writes), one row per message entry linked to its parent, and one row per
conversation pointing at its newest entry. pydantic-ai's base class works out which messages are new,
where a history branches, and checks revisions; this file only reads and writes rows.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from pathlib import Path

import pydantic
from pydantic_ai.conversation_store import (
    ConversationConflict,
    ConversationEntry,
    ConversationRecord,
    ConversationStore,
)
from pydantic_ai.messages import ModelMessage, ModelRequest, UserPromptPart

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
