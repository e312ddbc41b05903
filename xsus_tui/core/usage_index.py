"""Each conversation's token and price totals, kept in the history database beside `index`'s counts (stdlib only).

Per entry, the totals of its chain (the entry and every message before it): `u_input`, `u_output`, `u_cached`,
`u_cost` (USD, the prices known), `u_unpriced` (responses genai-prices could not price) and `u_responses`. An
entry's totals are its parent's plus its own message's, so saving a turn costs the same at any length, and a
conversation's totals are its head's: the current branch, like its message count (a reply replaced by another
version, or a branch left, is not counted; a fork counts the history it shares). `refresh` copies the head's into
the conversation's row, so a list of 10,000 conversations stays one query.

The columns came after schema 2 without a schema version (an older xsus leaves them alone, as it does the
`recordings` table): NULL means not counted yet. `add` counts the entries a save inserts (and, first, any
ancestors an older xsus left uncounted); `fill`, when the store is opened for writing, counts what is left in
batches, each its own transaction. A reader that finds no columns, or NULL, shows no totals rather than zero.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from .db import add_columns
from .usage import UsageTotals, of_stored

ENTRY_COLUMNS = ("u_input", "u_output", "u_cached", "u_cost", "u_unpriced", "u_responses")
CONVERSATION_COLUMNS = ("input_tokens", "output_tokens", "cached_tokens", "cost", "unpriced", "responses")
_KINDS = ("INTEGER", "INTEGER", "INTEGER", "REAL", "INTEGER", "INTEGER")
BATCH = 2000

Price = Callable[[dict[str, Any]], float | None]
"""Prices a stored response that has no `usage.cost` (see `pricing.Pricer.stored`)."""


def _row(total: UsageTotals) -> tuple[int, int, int, float, int, int]:
    return (
        total.input_tokens,
        total.output_tokens,
        total.cache_read_tokens,
        total.cost,
        total.unpriced,
        total.responses,
    )


def _totals(row: Sequence[Any]) -> UsageTotals | None:
    if row[0] is None:
        return None
    return UsageTotals(
        input_tokens=row[0],
        output_tokens=row[1] or 0,
        cache_read_tokens=row[2] or 0,
        cost=row[3] or 0.0,
        unpriced=row[4] or 0,
        responses=row[5] or 0,
    )


def has_columns(db: sqlite3.Connection) -> bool:
    have = {row[1] for row in db.execute("PRAGMA table_info(conversations)")}
    return set(CONVERSATION_COLUMNS) <= have


def create(db: sqlite3.Connection) -> None:
    """Add the columns where missing (only then: a writer's lock can't stop an open that has nothing to write)."""
    for table, columns in (("entries", ENTRY_COLUMNS), ("conversations", CONVERSATION_COLUMNS)):
        add_columns(db, table, dict(zip(columns, _KINDS, strict=True)))


_SELECT = ", ".join(ENTRY_COLUMNS)
_SET = ", ".join(f"{column} = ?" for column in ENTRY_COLUMNS)


def _chain_totals(
    db: sqlite3.Connection, entry_id: str | None, known: dict[str, UsageTotals], price: Price | None
) -> UsageTotals:
    """The totals up to `entry_id`, counting (and storing) those of any uncounted ancestors first, oldest first."""
    pending: list[tuple[str, str]] = []
    base = UsageTotals()
    while entry_id is not None:
        if entry_id in known:
            base = known[entry_id]
            break
        row = db.execute(f"SELECT parent_id, message, {_SELECT} FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            break
        if (counted := _totals(row[2:])) is not None:
            base = counted
            break
        pending.append((entry_id, row[1]))
        entry_id = row[0]
    for pending_id, message in reversed(pending):
        base = base + of_stored(_load(message), price)
        db.execute(f"UPDATE entries SET {_SET} WHERE id = ?", (*_row(base), pending_id))
        known[pending_id] = base
    return base


def _load(message: str) -> dict[str, Any]:
    try:
        data = json.loads(message)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def add(db: sqlite3.Connection, rows: Sequence[tuple[str, str | None, str, str]], price: Price | None) -> None:
    """Count entries just inserted (in order, each after its parent): `(id, parent_id, kind, message)` rows."""
    known: dict[str, UsageTotals] = {}
    for entry_id, parent_id, _kind, message in rows:
        total = _chain_totals(db, parent_id, known, price) + of_stored(_load(message), price)
        known[entry_id] = total
        db.execute(f"UPDATE entries SET {_SET} WHERE id = ?", (*_row(total), entry_id))


def refresh(db: sqlite3.Connection, conversation_id: str, price: Price | None = None) -> None:
    """The conversation's totals: its head's (counted first if it isn't yet)."""
    row = db.execute(
        "SELECT json_extract(record, '$.head_id') FROM conversations WHERE conversation_id = ?", (conversation_id,)
    ).fetchone()
    if row is None:
        return
    total = _chain_totals(db, row[0], {}, price) if row[0] is not None else UsageTotals()
    db.execute(
        f"UPDATE conversations SET {', '.join(f'{c} = ?' for c in CONVERSATION_COLUMNS)} WHERE conversation_id = ?",
        (*_row(total), conversation_id),
    )


def needs_fill(db: sqlite3.Connection) -> bool:
    """Conversations whose totals are not counted yet (stored before these columns, or by an older xsus)."""
    return db.execute("SELECT 1 FROM conversations WHERE responses IS NULL LIMIT 1").fetchone() is not None


def fill(db: sqlite3.Connection, begin: Callable[[], None], price: Price | None) -> None:
    """Count every conversation not counted yet, `BATCH` at a time, each batch its own transaction (a kill or a
    lock midway leaves the rest for the next open)."""
    while True:
        ids = [
            row[0]
            for row in db.execute(
                "SELECT conversation_id FROM conversations WHERE responses IS NULL LIMIT ?", (BATCH // 20,)
            ).fetchall()
        ]
        if not ids:
            return
        begin()
        try:
            for conversation_id in ids:
                refresh(db, conversation_id, price)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


def totals_of(db: sqlite3.Connection, conversation_ids: Sequence[str]) -> dict[str, UsageTotals]:
    """The kept totals of these conversations (those counted; none when the columns don't exist yet)."""
    if not conversation_ids or not has_columns(db):
        return {}
    out: dict[str, UsageTotals] = {}
    columns = ", ".join(CONVERSATION_COLUMNS)
    for start in range(0, len(conversation_ids), 500):  # SQLite's limit on parameters
        chunk = conversation_ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        for row in db.execute(
            f"SELECT conversation_id, {columns} FROM conversations WHERE conversation_id IN ({marks})", chunk
        ):
            if (total := _totals(row[1:])) is not None:
                out[row[0]] = total
    return out
