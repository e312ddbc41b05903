"""The history database read-only, without pydantic-ai: what `xsus history list`, `search` and `tree` need.

Importing pydantic-ai takes about a second, and `SQLiteConversationStore` can't be had without it. Listing,
searching and the tree of versions only read what schema 2 keeps beside the messages (`index`), so this
reader answers them from the same queries with the standard library alone (`xsus history list` in about
a tenth of the time). It opens the file as the store's read-only open does (`db.connect_readonly`), on the
calling thread: a command-line tool has no event loop to keep free.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from . import index, usage_index
from .db import StoreError, cause_of, connect_readonly, no_search_index
from .index import ConversationSummary, ConversationTree, SearchHit


class HistoryReader:
    """A read-only view of the history database (never writes, creates or moves anything)."""

    def __init__(self, path: Path, connection: sqlite3.Connection, *, schema: int, may_be_stale: bool) -> None:
        self.path = path
        self._db = connection
        self.schema = schema
        """1 for a store xsus has not indexed yet: listing works (slower), search does not."""
        self.may_be_stale = may_be_stale
        """Read from a folder where SQLite can't keep its `-shm`: the latest saves (in the WAL) may be missing."""

    @classmethod
    def open(cls, path: Path | str, *, busy_timeout: float = 2.0) -> HistoryReader:
        """StoreError (one line naming the file and the cause) if it can't be read."""
        path = Path(path)
        db, immutable = connect_readonly(path, busy_timeout)
        try:
            schema = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as error:
            db.close()
            raise StoreError(f"could not read the history database {path}: {cause_of(error)}") from error
        stale = immutable and path.with_name(path.name + "-wal").exists()
        return cls(path, db, schema=schema, may_be_stale=stale)

    def close(self) -> None:
        self._db.close()

    def _read(self, call, doing: str = "read"):
        try:
            return call()
        except sqlite3.Error as error:
            cause = cause_of(error)
            raise StoreError(f"could not {doing} the history database {self.path}: {cause}", cause=cause) from error

    def summaries(self, *, limit: int | None = None, offset: int = 0, title: str = "") -> list[ConversationSummary]:
        return self._read(lambda: index.summaries(self._db, self.schema, limit=limit, offset=offset, title=title))

    def search(self, text: str, *, limit: int = 50, offset: int = 0) -> list[SearchHit]:
        """As `SQLiteConversationStore.search`."""
        if self.schema < 2:
            raise no_search_index(self.path)
        return self._read(lambda: index.search(self._db, text, limit=limit, offset=offset), "search")

    def resolve_id(self, prefix: str) -> str:
        """The full id of the one conversation whose id starts with `prefix`; KeyError with a message otherwise."""
        return self._read(lambda: index.resolve_id(self._db, prefix))

    def summary(self, conversation_id: str) -> ConversationSummary | None:
        def read() -> ConversationSummary | None:
            if self.schema < 2:
                found = [s for s in index.summaries(self._db, 1, limit=None) if s.conversation_id == conversation_id]
                return found[0] if found else None
            row = self._db.execute(
                f"SELECT {index.SUMMARY_COLUMNS} FROM conversations WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                return None
            found = index.summary(row)
            return replace(found, usage=usage_index.totals_of(self._db, [conversation_id]).get(conversation_id))

        return self._read(read)

    def tree(self, conversation_id: str) -> ConversationTree | None:
        """As `SQLiteConversationStore.tree` (a schema-1 file has no turn numbers: run xsus once to index it)."""
        return self._read(lambda: index.tree(self._db, conversation_id))

    def texts(self, entry_ids: Sequence[str]) -> dict[str, str]:
        return self._read(lambda: index.texts_of(self._db, entry_ids))
