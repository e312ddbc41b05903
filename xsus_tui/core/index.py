"""What the history database keeps beside pydantic-ai's entries to list, search and branch conversations.

Schema 2 adds, on the database thread (`SQLiteConversationStore` calls these with its connection):

- per entry: the conversation that stored it, its depth in its chain (messages up to it) and its turn
  (user prompts up to it), so a conversation's message and turn counts are those of its head entry, and
  a search hit knows its turn without walking its chain;
- per conversation: `turns`, `messages`, a one-line `preview`, the `model` that answered last and the
  `agent` the app ran, kept up to date by every write, so a list of 10,000 conversations is one query;
- `search`: an FTS5 table (trigram tokenizer: substrings, code and punctuation, any script) over what
  was said in each entry (prompts, replies, thinking, tool calls and results), rowid = the entry's rowid;
- `deleted`: conversations deleted in a running app, kept until the app quits so the delete can be undone.

A store written by schema 1 is migrated once when it is opened for writing, in batches, with progress.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import datetime
from typing import Any

from . import db as db_module
from . import usage_index
from .usage import UsageTotals

SCHEMA_VERSION = 2

INDEXED_CHARS = 64_000
"""At most this much of one message's text is searchable (a tool result of a whole file is cut there)."""
PREVIEW_CHARS = 160
TITLE_CHARS = 60
MAX_TERMS = 32
"""Words of a query searched for (a pasted page would make an FTS5 query that takes seconds)."""
MARK_START, MARK_END = "\x02", "\x03"
"""Around each match in a search snippet."""

SCHEMA_2 = """
CREATE INDEX IF NOT EXISTS entries_parent ON entries(parent_id);
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5(text, folded, tokenize='trigram');
CREATE TABLE IF NOT EXISTS deleted (
    conversation_id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    deleted_at TEXT NOT NULL,
    row TEXT NOT NULL
);
"""
ENTRY_COLUMNS = {"conversation_id": "TEXT", "depth": "INTEGER", "turn": "INTEGER"}
CONVERSATION_COLUMNS = {
    "turns": "INTEGER NOT NULL DEFAULT 0",
    "messages": "INTEGER NOT NULL DEFAULT 0",
    "preview": "TEXT",
    "model": "TEXT",
    "agent": "TEXT",
}


# -- what a message says -------------------------------------------------------------------------------


def message_text(data: dict[str, Any]) -> tuple[str, bool]:
    """The searchable text of one stored message (its JSON, as a dict) and whether it holds a user prompt."""
    pieces: list[str] = []
    prompt = False
    for part in data.get("parts") or ():
        kind = part.get("part_kind")
        if kind == "user-prompt":
            prompt = True
            pieces.append(_content_text(part.get("content")))
        elif kind in ("text", "thinking"):
            pieces.append(str(part.get("content") or ""))
        elif kind == "tool-call":
            args = part.get("args")
            pieces.append(f"{part.get('tool_name', '')} {args if isinstance(args, str) else _json(args)}")
        elif kind in ("tool-return", "retry-prompt", "builtin-tool-return"):
            pieces.append(f"{part.get('tool_name') or ''} {_content_text(part.get('content'))}".strip())
    text = "\n".join(piece for piece in pieces if piece)
    return text[:INDEXED_CHARS], prompt


def searchable(data: dict[str, Any]) -> tuple[str, str, bool]:
    """`message_text`, the same text without its accents when it has any (else ""), so `cafe` finds `café` (the
    trigram tokenizer of the SQLite at hand may not remove diacritics itself: that came with 3.45), and whether
    it holds a user prompt. The two go in separate columns, so a snippet shows one of them, not both."""
    text, prompt = message_text(data)
    folded = without_accents(text)
    return text, (folded if folded != text else ""), prompt


def without_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return unicodedata.normalize("NFC", stripped) if stripped != decomposed else text


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(item, (str, dict)) for item in content):
        return " ".join(item if isinstance(item, str) else _item_name(item) for item in content)
    return _json(content)


def _item_name(item: dict[str, Any]) -> str:
    """A file or URL in a prompt: its name, not its bytes (an attached text file: its name, from its metadata)."""
    attached = (item.get("metadata") or {}).get("xsus_attachment") if isinstance(item.get("metadata"), dict) else None
    if isinstance(attached, dict):
        return "" if attached.get("label") else str(attached.get("name") or "")
    return str(item.get("url") or item.get("identifier") or item.get("kind") or "")


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)[:INDEXED_CHARS]
    except (TypeError, ValueError):
        return str(value)[:INDEXED_CHARS]


def one_line(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters, cut at a word with an ellipsis."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


def title_of(text: str) -> str:
    """A new conversation's title: its first prompt's first line, shortened."""
    lines = [line for line in text.splitlines() if line.strip()]
    return one_line(lines[0] if lines else "", TITLE_CHARS)


# -- schema 2 ------------------------------------------------------------------------------------------


def create(db: sqlite3.Connection) -> None:
    """Add what schema 2 keeps to a database whose schema-1 tables exist (new or old: see `migrate`)."""
    db_module.add_columns(db, "entries", ENTRY_COLUMNS)
    db_module.add_columns(db, "conversations", CONVERSATION_COLUMNS)
    db.executescript(SCHEMA_2)


def needs_migration(db: sqlite3.Connection) -> bool:
    """Entries stored before schema 2 that are not indexed yet."""
    return db.execute("SELECT 1 FROM entries WHERE depth IS NULL LIMIT 1").fetchone() is not None


def migrate(db: sqlite3.Connection, begin: Callable[[], None], progress: Callable[[int, int], None] | None) -> None:
    """Index the entries a schema-1 store holds: depth, turn, owner and search text, in batches of their own
    transactions (a kill midway leaves the rest for the next open), then each conversation's counts."""
    total = db.execute("SELECT count(*) FROM entries WHERE depth IS NULL").fetchone()[0]
    done = 0
    known: dict[str, tuple[int, int]] = {}
    owners = _owners(db)
    while True:
        rows = db.execute(
            "SELECT rowid, id, parent_id, message FROM entries WHERE depth IS NULL ORDER BY rowid LIMIT 2000"
        ).fetchall()
        if not rows:
            break
        begin()
        try:
            for rowid, entry_id, parent_id, message in rows:
                depth, turn = _position(db, known, parent_id)
                text, folded, prompt = searchable(json.loads(message))
                turn += prompt
                known[entry_id] = (depth + 1, turn)
                db.execute(
                    "UPDATE entries SET depth = ?, turn = ?, conversation_id = ? WHERE rowid = ?",
                    (depth + 1, turn, owners.get(entry_id), rowid),
                )
                if text and owners.get(entry_id):
                    db.execute(
                        "INSERT OR REPLACE INTO search (rowid, text, folded) VALUES (?, ?, ?)", (rowid, text, folded)
                    )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        done += len(rows)
        if progress is not None:
            progress(done, total)
    begin()
    try:
        for (conversation_id,) in db.execute("SELECT conversation_id FROM conversations").fetchall():
            refresh(db, conversation_id)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _position(db: sqlite3.Connection, known: dict[str, tuple[int, int]], parent_id: str | None) -> tuple[int, int]:
    if parent_id is None:
        return 0, 0
    if parent_id in known:
        return known[parent_id]
    row = db.execute("SELECT depth, turn FROM entries WHERE id = ?", (parent_id,)).fetchone()
    return (row[0] or 0, row[1] or 0) if row else (0, 0)


def _owners(db: sqlite3.Connection) -> dict[str, str]:
    """Which conversation stored each entry, as far as schema 1 can tell: the oldest conversation whose
    history or branches reach it (a fork shares its source's entries; the source keeps them)."""
    owners: dict[str, str] = {}
    for conversation_id, record in db.execute(
        "SELECT conversation_id, record FROM conversations ORDER BY created_at, conversation_id"
    ).fetchall():
        data = json.loads(record)
        for tip in [data.get("head_id"), *(data.get("branches") or [])]:
            if tip is None:
                continue
            for (entry_id,) in db.execute(_CHAIN_IDS, (tip,)):
                if entry_id in owners:
                    break  # the rest of this chain is someone's already
                owners[entry_id] = conversation_id
    return owners


_CHAIN_IDS = (
    "WITH RECURSIVE chain(id, parent_id) AS (SELECT id, parent_id FROM entries WHERE id = ?"
    " UNION ALL SELECT e.id, e.parent_id FROM entries e JOIN chain ON e.id = chain.parent_id) SELECT id FROM chain"
)


# -- keeping it in step on every write -----------------------------------------------------------------


def add_entries(db: sqlite3.Connection, conversation_id: str, rows: Sequence[tuple[str, str | None, str, str]]) -> None:
    """Index entries just inserted (in order, each after its parent) for `conversation_id`."""
    known: dict[str, tuple[int, int]] = {}
    for entry_id, parent_id, _kind, message in rows:
        depth, turn = _position(db, known, parent_id)
        text, folded, prompt = searchable(json.loads(message))
        turn += prompt
        known[entry_id] = (depth + 1, turn)
        rowid = db.execute(
            "UPDATE entries SET depth = ?, turn = ?, conversation_id = ? WHERE id = ? RETURNING rowid",
            (depth + 1, turn, conversation_id, entry_id),
        ).fetchone()[0]
        if text:
            db.execute("INSERT INTO search (rowid, text, folded) VALUES (?, ?, ?)", (rowid, text, folded))


def refresh(db: sqlite3.Connection, conversation_id: str, *, agent: str | None = None) -> None:
    """Recompute a conversation's counts, preview and model from its head (after a save or a branch)."""
    row = db.execute(
        "SELECT json_extract(record, '$.head_id') FROM conversations WHERE conversation_id = ?", (conversation_id,)
    ).fetchone()
    if row is None:
        return
    turns = messages = 0
    preview = model = None
    entry_id = row[0]
    looked = 0
    while entry_id is not None and looked < 12 and (preview is None or model is None):
        entry = db.execute("SELECT parent_id, depth, turn, message FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if entry is None:
            break
        if looked == 0:
            messages, turns = entry[1] or 0, entry[2] or 0
        data = json.loads(entry[3])
        if model is None and data.get("kind") == "response" and data.get("model_name"):
            model = data["model_name"]
        if preview is None and data.get("kind") == "response":
            if text := reply_text(data).strip():
                preview = one_line(plain_markdown(text), PREVIEW_CHARS)
        entry_id = entry[0]
        looked += 1
    db.execute(
        "UPDATE conversations SET turns = ?, messages = ?, preview = ?, model = COALESCE(?, model),"
        " agent = COALESCE(?, agent) WHERE conversation_id = ?",
        (turns, messages, preview, model, agent, conversation_id),
    )
    # A fork (it stored no prompt of its own) is titled by the first prompt of its history. Looked for only while
    # it has no title: the walk to the first turn grows with the history, and every save comes here.
    untitled = db.execute(
        "SELECT 1 FROM conversations WHERE conversation_id = ? AND title IS NULL", (conversation_id,)
    ).fetchone()
    if turns and untitled:
        db.execute(
            "UPDATE conversations SET title = ? WHERE conversation_id = ? AND title IS NULL",
            (_first_prompt(db, row[0]), conversation_id),
        )


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _first_prompt(db: sqlite3.Connection, head_id: str) -> str | None:
    found = db.execute(
        "WITH RECURSIVE chain(id, parent_id, turn, depth) AS ("
        " SELECT id, parent_id, turn, depth FROM entries WHERE id = ?"
        " UNION ALL SELECT e.id, e.parent_id, e.turn, e.depth FROM entries e JOIN chain ON e.id = chain.parent_id)"
        " SELECT message FROM entries WHERE id = (SELECT id FROM chain WHERE turn = 1 ORDER BY depth LIMIT 1)",
        (head_id,),
    ).fetchall()
    for (message,) in found:
        for part in json.loads(message).get("parts") or ():
            if part.get("part_kind") == "user-prompt" and isinstance(content := part.get("content"), str | list):
                if isinstance(content, list):  # a prompt with files: its text, else the files' names
                    typed = " ".join(item for item in content if isinstance(item, str))
                    content = typed if typed.strip() else _content_text(content)
                return title_of(content) or None
    return None


def reply_text(data: dict[str, Any]) -> str:
    """What a response says to the user: its text parts (not its thinking, nor its tool calls)."""
    parts = data.get("parts") or ()
    return "\n".join(str(part.get("content") or "") for part in parts if part.get("part_kind") == "text")


_MARKUP = re.compile(r"(^|\s)(#{1,6}|>|[-*+]|\d+[.)])\s+|\*\*|__|`+|~~|!?\[([^\]]*)\]\([^)]*\)")


_TABLE_RULE = re.compile(r"\|?(\s*:?-{3,}:?\s*\|)+\s*(:?-{3,}:?)?")
_EMPHASIS = re.compile(r"(?<![\w*_])[*_](\S(?:[^*_\n]*\S)?)[*_](?![\w*_])")


def plain_markdown(text: str) -> str:
    """Markdown's marks taken out, for a one-line preview: `# Title` -> `Title`, `[text](url)` -> `text`,
    `*word*` -> `word`, a table's rules and bars -> spaces."""
    text = _TABLE_RULE.sub(" ", text)
    text = _MARKUP.sub(lambda match: (match.group(1) or "") + (match.group(3) or ""), text)
    return _EMPHASIS.sub(r"\1", text).replace("|", " ")


# -- listing and searching -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationSummary:
    """One conversation in `xsus history list` and the browser."""

    _: KW_ONLY
    conversation_id: str
    """The conversation's identifier (a UUID7, so it sorts by creation time)."""
    title: str
    """Its title: the first prompt, shortened, unless renamed."""
    created_at: datetime
    updated_at: datetime
    messages: int
    """How many messages its current branch holds."""
    turns: int = 0
    """How many prompts its current branch holds."""
    preview: str = ""
    """The start of its last reply, on one line."""
    model: str | None = None
    """The model that answered last."""
    agent: str | None = None
    """The agent it was last run with (`--agent`), if any."""
    usage: UsageTotals | None = None
    """Tokens and price over its current branch (`usage_index`); None when not counted yet."""


SUMMARY_COLUMNS = "conversation_id, title, created_at, updated_at, messages, turns, preview, model, agent"


def summary(row: Sequence[Any]) -> ConversationSummary:
    return ConversationSummary(
        conversation_id=row[0],
        title=row[1] or "(empty)",
        created_at=datetime.fromisoformat(row[2]),
        updated_at=datetime.fromisoformat(row[3]),
        messages=row[4] or 0,
        turns=row[5] or 0,
        preview=row[6] or "",
        model=row[7],
        agent=row[8],
    )


def list_summaries(
    db: sqlite3.Connection, *, limit: int | None, offset: int = 0, title: str = ""
) -> list[ConversationSummary]:
    sql = f"SELECT {SUMMARY_COLUMNS} FROM conversations"
    params: list[Any] = []
    if title:
        sql += " WHERE title LIKE ? ESCAPE '\\'"
        params.append(f"%{like_escape(title)}%")
    sql += " ORDER BY updated_at DESC, conversation_id DESC LIMIT ? OFFSET ?"
    params += [-1 if limit is None else limit, offset]
    return [summary(row) for row in db.execute(sql, params).fetchall()]


def summaries(
    db: sqlite3.Connection, schema: int, *, limit: int | None, offset: int = 0, title: str = ""
) -> list[ConversationSummary]:
    """Conversations newest first; from a schema-1 file read-only (not indexed yet), each history's messages counted."""
    if schema >= 2:
        found = list_summaries(db, limit=limit, offset=offset, title=title)
        totals = usage_index.totals_of(db, [s.conversation_id for s in found])
        return [replace(s, usage=totals.get(s.conversation_id)) for s in found] if totals else found
    sql = (
        "SELECT c.conversation_id, c.title, c.created_at, c.updated_at, json_extract(c.record, '$.head_id')"
        " FROM conversations c ORDER BY c.updated_at DESC, c.conversation_id DESC LIMIT ? OFFSET ?"
    )
    out = []
    for conversation_id, name, created, updated, head in db.execute(
        sql, (-1 if limit is None else limit, offset)
    ).fetchall():
        count = db.execute(
            "WITH RECURSIVE chain(id, parent_id) AS (SELECT id, parent_id FROM entries WHERE id = ?"
            " UNION ALL SELECT e.id, e.parent_id FROM entries e JOIN chain ON e.id = chain.parent_id)"
            " SELECT count(*) FROM chain",
            (head,),
        ).fetchone()[0]
        if not title or title.casefold() in (name or "").casefold():
            out.append(summary((conversation_id, name, created, updated, count, 0, "", None, None)))
    return out


def resolve_id(db: sqlite3.Connection, prefix: str) -> str:
    """The full id of the one conversation whose id starts with `prefix`; KeyError (with a message) otherwise."""
    rows = db.execute(
        "SELECT conversation_id FROM conversations WHERE conversation_id LIKE ? ESCAPE '\\' LIMIT 2",
        (like_escape(prefix) + "%",),
    ).fetchall()
    if not rows:
        raise KeyError(f"no conversation with id {prefix!r}")
    if len(rows) > 1:
        raise KeyError(f"{prefix!r} matches more than one conversation; give more of the id")
    return rows[0][0]


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class SearchHit:
    """One message that matches a search."""

    _: KW_ONLY
    conversation: ConversationSummary
    entry_id: str
    """The matching message's entry: open the conversation there (it may be on another branch)."""
    turn: int
    """Its turn (1 = the first prompt) in its branch."""
    snippet: str
    """Its text around the match, on one line, each match between MARK_START and MARK_END."""
    role: str
    """"you" for a prompt, "reply" for a response, "tool" for a tool result."""
    said_at: datetime | None = None
    """When the message was sent or received (its timestamp), if it has one."""


_OPERATORS = re.compile(r'["()*^:]|\b(AND|OR|NOT|NEAR)\b')


def fts_queries(text: str) -> list[str]:
    """The FTS5 queries to try for what the user typed, best first. Words (at least 3 characters each, the
    trigram's size) must all appear, anywhere in the text, as typed (case aside); a query written in FTS5's
    own syntax (quotes, AND/OR/NOT, NEAR, parentheses) is tried first as written."""
    queries = []
    if _OPERATORS.search(text) and len(text) <= 500:  # (a longer one is a paste, not a query someone wrote)
        queries.append(text)
    if plain := plain_query(text):
        queries.append(plain)
    return queries


def plain_query(text: str) -> str:
    """Each word of `text` as an FTS5 string: all must appear, as typed. A word shorter than a trigram can't be
    searched alone, so it goes with its neighbours as one string (`chat 2`, `a cat`)."""
    groups: list[list[str]] = []
    short_before = False
    for word in text.split():
        short = len(word) < 3
        if groups and (short or short_before):
            groups[-1].append(word)
        else:
            groups.append([word])
        short_before = short
    strings = list(dict.fromkeys(" ".join(group) for group in groups))[:MAX_TERMS]  # each once, and not thousands
    return " ".join('"' + string.replace('"', '""') + '"' for string in strings if len(string) >= 3)


def search(db: sqlite3.Connection, text: str, *, limit: int, offset: int = 0) -> list[SearchHit]:
    """The messages of live conversations that match `text`, newest first. A query FTS5 can't parse (or that finds
    nothing read as FTS5) is searched as plain words; words shorter than three characters can't be searched."""
    columns = ", ".join(f"c.{column}" for column in SUMMARY_COLUMNS.split(", "))
    queries = fts_queries(text)
    plain = plain_query(text)
    for query in queries:
        try:
            rows = db.execute(
                f"SELECT snippet(search, -1, '{MARK_START}', '{MARK_END}', '…', 48), e.id, e.turn,"
                " json_extract(e.message, '$.kind'), instr(e.message, '\"part_kind\":\"user-prompt\"'), "
                " COALESCE(json_extract(e.message, '$.timestamp'), json_extract(e.message, '$.parts[0].timestamp')), "
                + columns
                + " FROM search JOIN entries e ON e.rowid = search.rowid"
                " JOIN conversations c ON c.conversation_id = e.conversation_id"
                " WHERE search MATCH ? ORDER BY search.rowid DESC LIMIT ? OFFSET ?",
                (query, limit, offset),
            ).fetchall()
        except sqlite3.OperationalError:
            if query == plain:
                raise  # the plain words, each quoted: always valid, so this is the database's own trouble
            continue  # not FTS5 syntax after all: the next way of reading it
        if not rows:
            continue  # read as FTS5 it found nothing ("(x)" is the word x, too short): try it as typed
        return [
            SearchHit(
                conversation=summary(row[6:]),
                entry_id=row[1],
                turn=row[2] or 0,
                snippet=" ".join(row[0].split()),
                role="reply" if row[3] == "response" else "you" if row[4] else "tool",
                said_at=_moment(row[5]),
            )
            for row in rows
        ]
    return []


# -- branches ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """An entry of a conversation's tree: enough to tell turns and their versions apart."""

    id: str
    parent_id: str | None
    turn: int
    order: int
    """Its rowid: later entries were stored later."""


@dataclass(frozen=True)
class Version:
    """One version of a turn: a prompt and the reply that began after it (regenerating makes another reply to the
    same prompt; editing a prompt makes another prompt after the same turn)."""

    prompt_id: str
    reply_id: str | None
    """The reply's first message; None when the prompt was never answered."""
    tip: str
    """The newest last entry below this version: branching there shows it and what followed it."""
    turn: int


@dataclass
class ConversationTree:
    """A conversation's turns with every version stored for each (`ConversationStore.branch` leaves the old
    history in the store; this finds it again)."""

    nodes: dict[str, Node]
    head_id: str | None
    children: dict[str | None, list[Node]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    """The start of what some entries say (the prompts and first replies), filled in by the store."""

    def __post_init__(self) -> None:
        ordered = sorted(self.nodes.values(), key=lambda node: node.order)
        for node in ordered:
            self.children.setdefault(node.parent_id, []).append(node)
        # The newest leaf below each entry, in one pass from the newest entry back (a child is stored after its
        # parent, so it comes first here).
        self._tips: dict[str, Node] = {}
        for node in reversed(ordered):
            below = [self._tips[child.id] for child in self.children.get(node.id, ())]
            self._tips[node.id] = max(below, key=lambda leaf: leaf.order) if below else node

    def is_prompt(self, node: Node) -> bool:
        parent = self.nodes.get(node.parent_id) if node.parent_id else None
        return node.turn > (parent.turn if parent else 0)

    def tip_under(self, entry_id: str) -> str:
        """The newest leaf at or below `entry_id`."""
        return self._tips[entry_id].id

    def versions(self, parent_id: str | None, *, keep: Iterable[str] = ()) -> list[Version]:
        """The versions of the turn that follows `parent_id` (None: the first turn), oldest first. A prompt that
        was never answered counts only when it is on the current branch (`keep`)."""
        keep = keep if isinstance(keep, set | frozenset) else set(keep)
        out = []
        for prompt in self.children.get(parent_id, []):
            if not self.is_prompt(prompt):
                continue
            replies = [child for child in self.children.get(prompt.id, []) if not self.is_prompt(child)]
            if not replies:
                if prompt.id in keep:
                    out.append(Version(prompt.id, None, prompt.id, prompt.turn))
                continue
            out.extend(Version(prompt.id, reply.id, self.tip_under(reply.id), prompt.turn) for reply in replies)
        return out

    def current_path(self) -> list[str]:
        """The entries of the current branch, first to head."""
        path = []
        entry_id = self.head_id
        while entry_id is not None and entry_id in self.nodes:
            path.append(entry_id)
            entry_id = self.nodes[entry_id].parent_id
        path.reverse()
        return path

    def turns(self) -> list[tuple[list[Version], int]]:
        """For each turn of the current branch: its versions and which of them is shown."""
        path = self.current_path()
        on_path = set(path)
        out = []
        for index, entry_id in enumerate(path):
            node = self.nodes[entry_id]
            if not self.is_prompt(node):
                continue
            reply = (
                path[index + 1] if index + 1 < len(path) and not self.is_prompt(self.nodes[path[index + 1]]) else None
            )
            versions = self.versions(node.parent_id, keep=on_path)
            shown = next(
                (i for i, v in enumerate(versions) if v.prompt_id == entry_id and v.reply_id == reply), len(versions)
            )
            if shown == len(versions):
                versions.append(Version(entry_id, reply, self.head_id or entry_id, node.turn))
            out.append((versions, shown))
        return out

    def lines(self) -> list[TreeLine]:
        """The whole tree, one line per version of a turn, depth-first, the current branch first at each fork."""
        on_path = set(self.current_path())
        out: list[TreeLine] = []
        # A stack, not recursion: a conversation of thousands of turns is that deep.
        stack: list[tuple[str | None, int] | TreeLine] = [(None, 0)]
        while stack:
            item = stack.pop()
            if isinstance(item, TreeLine):
                out.append(item)
                continue
            parent_id, indent = item
            versions = self.versions(parent_id, keep=on_path)
            current = [v for v in versions if (v.reply_id or v.prompt_id) in on_path]
            ordered = current + [v for v in versions if v not in current]
            for version in reversed(ordered):
                shown = version in current
                depth = indent + (0 if shown or len(ordered) == 1 else 1)
                stack.extend((end, depth) for end in reversed(self._turn_ends(version)))
                stack.append(
                    TreeLine(
                        version=version,
                        indent=depth,
                        current=shown,
                        position=versions.index(version) + 1,
                        of=len(versions),
                    )
                )
        return out

    def _turn_ends(self, version: Version) -> list[str]:
        """The entries below a version after which the next turn's prompts come (one, unless the turn itself
        branched midway)."""
        start = version.reply_id or version.prompt_id
        ends = []
        stack = [start]
        while stack:
            node_id = stack.pop()
            below = self.children.get(node_id, [])
            if any(self.is_prompt(child) for child in below):
                ends.append(node_id)
            stack.extend(child.id for child in below if not self.is_prompt(child))
        return ends


@dataclass(frozen=True)
class TreeLine:
    version: Version
    indent: int
    current: bool
    """On the branch shown now."""
    position: int
    of: int
    """`position` of `of` versions of this turn."""


def tree_nodes(db: sqlite3.Connection, tips: Sequence[str]) -> dict[str, Node]:
    """The entries the conversation ending at `tips` (its head and the branches it left) is made of."""
    nodes: dict[str, Node] = {}
    for tip in tips:
        for entry_id, parent_id, turn, order in db.execute(
            "WITH RECURSIVE chain(id, parent_id, turn, o) AS ("
            " SELECT id, parent_id, turn, rowid FROM entries WHERE id = ?"
            " UNION ALL SELECT e.id, e.parent_id, e.turn, e.rowid FROM entries e JOIN chain ON e.id = chain.parent_id)"
            " SELECT id, parent_id, turn, o FROM chain",
            (tip,),
        ):
            if entry_id in nodes:
                break
            nodes[entry_id] = Node(entry_id, parent_id, turn or 0, order)
    return nodes


def tree(db: sqlite3.Connection, conversation_id: str, *, if_branched: bool = False) -> ConversationTree | None:
    """The conversation's turns with every version of each; None if there is no such conversation. With
    `if_branched`, a conversation that never branched (so every turn has one version) gives an empty tree without
    reading its entries."""
    row = db.execute("SELECT record FROM conversations WHERE conversation_id = ?", (conversation_id,)).fetchone()
    if row is None:
        return None
    record = json.loads(row[0])
    head_id = record.get("head_id")
    if if_branched and not record.get("branches"):
        return ConversationTree({}, head_id)
    tips = [tip for tip in [head_id, *reversed(record.get("branches") or [])] if tip is not None]
    return ConversationTree(tree_nodes(db, tips), head_id)


def texts_of(db: sqlite3.Connection, entry_ids: Iterable[str], limit: int = PREVIEW_CHARS) -> dict[str, str]:
    """The start of what each entry says, on one line."""
    out = {}
    for entry_id in entry_ids:
        row = db.execute("SELECT message FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if row is not None:
            out[entry_id] = one_line(message_text(json.loads(row[0]))[0], limit)
    return out
