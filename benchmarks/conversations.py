"""A large history: listing, searching, opening, saving and indexing with 10,000 conversations stored.

    .venv/bin/python -m benchmarks.conversations [--conversations 10000] [--runs 7] [--quick] [--rebuild]

A history of 10,000 conversations and about 200,000 messages (prompts; markdown replies with code; tool
calls and their results; a few regenerated replies, so some turns have versions) is generated once, with
a fixed seed, and kept in benchmarks/.cache as schema 1 (what xsus wrote before search existed). The rows
are those the store writes: each message is `ModelMessage` JSON from the store's own adapter, each
conversation its `ConversationRecord` and title, inserted with plain SQL because saving 10,000
conversations one by one through pydantic-ai would take minutes. Each run copies that file to a
temporary folder and opens it with `SQLiteConversationStore.open`, which indexes it (schema 2: counts,
previews, the FTS5 search index) with the store's own code: that is the migration time. Then, on the
indexed store, with a median over `--runs`:

- `store.page()`: the first page of 50 conversations (target 300 ms);
- `store.search()`: the first page of hits for a common word, a rare word, two words and a code token
  (target 100 ms each);
- opening a conversation: `store.load` of a 20-turn conversation, then `store.tree` (target 500 ms);
- `xsus history list -n 50` as a subprocess, start to exit (target 300 ms), and `xsus history list`
  with no limit (no target);
- saving a turn (the prompt, then the reply, as a ChatSession saves them) onto a conversation in a store
  of 10 conversations and in this one (median; must stay flat);
- the database's size, and the search index's share of it (SQLite's dbstat);
- in the app (headless Textual, 110x36, the demo agent on this store): Ctrl+O until the browser shows its
  first page (target 300 ms); a word typed (its keys at once) until its hits are listed; Enter on a
  conversation until the chat shows it (target 500 ms). Each from the key to the refresh after the
  widgets are filled (`call_after_refresh`: the frame that shows them).

Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
SEED = 20261129
FORMAT = 2
"""Bumped when what is generated changes, so an old cache is not used."""

TARGETS_MS = {"page": 300, "search": 100, "open": 500, "cli_list": 300, "ui_browser": 300, "ui_open": 500}
QUERIES = {
    "common word": "function",
    "rare word": "quokka",
    "two words": "database migration",
    "code token": "asyncio.gather",
}

# -- words to make conversations of -------------------------------------------------------------------------

TOPICS = [
    "database migration",
    "async web scraper",
    "React component",
    "Kubernetes deployment",
    "pandas dataframe",
    "SQL query plan",
    "unit test fixture",
    "REST API client",
    "Rust borrow checker",
    "CSS grid layout",
    "Docker image size",
    "git rebase",
    "regular expression",
    "logging setup",
    "rate limiter",
    "cache invalidation",
    "OAuth login flow",
    "CSV import",
    "memory leak",
    "CI pipeline",
    "trip to Lisbon",
    "sourdough starter",
    "budget spreadsheet",
    "cover letter",
    "marathon training plan",
]
ASKS = [
    "How do I fix the {topic} in my project? It fails with {error}.",
    "Can you explain how a {topic} works, step by step?",
    "Write a function that handles the {topic} for me, with tests.",
    "What is the best way to speed up this {topic}? It takes {n} seconds now.",
    "Review this {topic} and tell me what could go wrong:\n\n```python\n{code}\n```",
    "Why does my {topic} behave differently on {platform}?",
    "Compare two approaches to the {topic}: which one would you pick and why?",
    "Summarise what we decided about the {topic} so far.",
]
FOLLOW_UPS = [
    "That works, thanks. Now what about {error}?",
    "Can you make it shorter?",
    "What if the input is empty?",
    "Add type hints and a docstring, please.",
    "It still fails on {platform}: {error}",
    "Explain the second step again, more slowly.",
    "Great. Can you write the tests for it too?",
]
ERRORS = [
    "`KeyError: 'user_id'`",
    "`TimeoutError` after 30 seconds",
    "`sqlite3.OperationalError: database is locked`",
    "`TypeError: 'NoneType' object is not iterable`",
    "a segmentation fault",
    "`ConnectionResetError: [Errno 104]`",
    "`ValueError: invalid literal for int()`",
    "HTTP 429 Too Many Requests",
]
PLATFORMS = ["Windows", "macOS", "Alpine Linux", "a Raspberry Pi", "Python 3.12", "Safari", "AWS Lambda"]
CODE = [
    "async def fetch_all(urls):\n    async with httpx.AsyncClient() as client:\n"
    "        return await asyncio.gather(*(client.get(u) for u in urls))",
    "def load(path):\n    with open(os.path.join(base, path)) as handle:\n        return json.load(handle)",
    "SELECT user_id, count(*) FROM orders WHERE created_at > ? GROUP BY user_id ORDER BY 2 DESC LIMIT 10;",
    "const [items, setItems] = useState([]);\nuseEffect(() => { fetch('/api/items').then(r => r.json())"
    ".then(setItems); }, []);",
    "for chunk in pd.read_csv(path, chunksize=10_000):\n    frames.append(chunk[chunk.amount > 0])",
    "kubectl rollout restart deployment/web && kubectl rollout status deployment/web --timeout=120s",
    "fn longest<'a>(x: &'a str, y: &'a str) -> &'a str {\n    if x.len() > y.len() { x } else { y }\n}",
    "logger = logging.getLogger(__name__)\nlogging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')",
    "@pytest.fixture\ndef client(tmp_path):\n    app = create_app(database=tmp_path / 'test.db')\n"
    "    return app.test_client()",
    "git rebase -i HEAD~5  # squash the fixups, then: git push --force-with-lease",
]
PROSE = [
    "The short answer is that the {topic} depends on what runs first.",
    "There are two things going on here, and they are easy to mix up.",
    "First, check that the configuration is loaded before the function is called.",
    "This is a common problem: the error message points at the symptom, not the cause.",
    "In most projects the simplest fix is also the most robust one.",
    "If you need it to scale, measure before you change anything.",
    "The function returns early when the input is empty, which hides the real issue.",
    "Keep the retry logic in one place; spreading it around makes failures hard to follow.",
    "Note that {platform} handles file paths and line endings differently.",
    "A database migration should be reversible, and tested against a copy of real data.",
    "You can think of it as a pipeline: read, validate, transform, write.",
    "The trade-off is memory against latency; for your sizes either is fine.",
]
HEADINGS = ["## What is happening", "## The fix", "## Why this works", "## Step by step", "### Caveats", "## Tests"]
BULLETS = [
    "- read the input once, not per row",
    "- close the connection in a `finally` block",
    "- use `asyncio.gather` for the independent requests",
    "- pin the dependency versions",
    "- log the request id with every line",
    "- keep the function pure, and pass the clock in",
    "- add an index on the column you filter by",
]
TOOLS = {
    "read_file": lambda r: {"path": r.choice(["src/app.py", "config/settings.toml", "README.md", "tests/test_db.py"])},
    "search_web": lambda r: {"query": f"{r.choice(TOPICS)} {r.choice(['error', 'best practice', 'example'])}"},
    "run_sql": lambda r: {"sql": CODE[2] if r.random() < 0.5 else "SELECT count(*) FROM users"},
    "get_weather": lambda r: {"city": r.choice(["Lisbon", "Oslo", "Nairobi", "Kyoto", "Lima"])},
}
RARE = "quokka"


def fill(template: str, r: random.Random) -> str:
    return template.format(
        topic=r.choice(TOPICS),
        error=r.choice(ERRORS),
        platform=r.choice(PLATFORMS),
        n=r.randint(2, 90),
        code=r.choice(CODE),
    )


def reply_text(r: random.Random, rare: bool) -> str:
    out = [fill(r.choice(PROSE), r)]
    for _ in range(r.randint(1, 3)):
        out.append(r.choice(HEADINGS))
        out.append(" ".join(fill(r.choice(PROSE), r) for _ in range(r.randint(1, 3))))
        if r.random() < 0.5:
            out.append("\n".join(r.sample(BULLETS, r.randint(2, 4))))
        if r.random() < 0.45:
            out.append(f"```{r.choice(['python', 'sql', 'bash', 'ts'])}\n{r.choice(CODE)}\n```")
    if rare:
        out.append(f"(As a {RARE} would say: measure twice.)")
    return "\n\n".join(out)


def tool_result(name: str, r: random.Random) -> str:
    if name == "read_file":
        return "\n".join(r.sample(CODE, 2))
    if name == "search_web":
        return json.dumps([{"title": fill(r.choice(PROSE), r), "url": f"https://example.com/{r.randint(1, 9999)}"}])
    if name == "run_sql":
        return json.dumps({"rows": [[r.randint(1, 500), r.randint(1, 90)] for _ in range(r.randint(1, 6))]})
    return json.dumps({"temperature_c": r.randint(-5, 35), "sky": r.choice(["clear", "rain", "cloudy"])})


# -- generating the store -------------------------------------------------------------------------------------


class Ids:
    """UUID7s (as pydantic-ai makes them) from a clock and a seeded generator: the same file every time."""

    def __init__(self, r: random.Random) -> None:
        self.r = r

    def __call__(self, at: datetime) -> str:
        ms = int(at.timestamp() * 1000)
        value = (ms << 80) | (0x7 << 76) | (self.r.getrandbits(12) << 64) | (0b10 << 62) | self.r.getrandbits(62)
        return str(uuid.UUID(int=value))


def conversation(r: random.Random, ids: Ids, start: datetime, turns: int, rare: bool):
    """The entries and the record of one conversation, as the store would hold them."""
    from pydantic_ai.conversation_store import ConversationEntry, ConversationRecord
    from pydantic_ai.messages import (
        ModelRequest,
        ModelResponse,
        RequestUsage,
        TextPart,
        ToolCallPart,
        ToolReturnPart,
        UserPromptPart,
    )

    model = r.choice(["gpt-4o-mini", "claude-sonnet-4-5", "gpt-4.1", "llama-3.1-70b"])
    entries: list = []
    branches: list[str] = []
    parent = None
    at = start
    rare_turn = r.randrange(turns) if rare else -1

    def add(message, parent_id):
        entry = ConversationEntry(id=ids(at), parent_id=parent_id, message=message)
        entries.append(entry)
        return entry.id

    def response(parts):
        usage = RequestUsage(input_tokens=r.randint(50, 4000), output_tokens=r.randint(20, 900))
        return ModelResponse(parts=parts, model_name=model, timestamp=at, usage=usage, provider_name="openai")

    for number in range(turns):
        at += timedelta(seconds=r.randint(20, 600))
        prompt = fill(r.choice(ASKS if number == 0 else FOLLOW_UPS + ASKS), r)
        parent = add(ModelRequest(parts=[UserPromptPart(prompt, timestamp=at)], timestamp=at), parent)
        if r.random() < 0.3:  # a tool call and its result first
            name = r.choice(list(TOOLS))
            call_id = f"call_{r.getrandbits(40):x}"
            at += timedelta(seconds=2)
            parent = add(response([ToolCallPart(name, TOOLS[name](r), tool_call_id=call_id)]), parent)
            result = ToolReturnPart(name, tool_result(name, r), tool_call_id=call_id, timestamp=at)
            parent = add(ModelRequest(parts=[result], timestamp=at), parent)
        at += timedelta(seconds=r.randint(2, 40))
        if r.random() < 0.04:  # regenerated once: the first reply stays as a version of this turn
            branches.append(add(response([TextPart(reply_text(r, False))]), parent))
        parent = add(response([TextPart(reply_text(r, number == rare_turn))]), parent)
    record = ConversationRecord(
        conversation_id=entries[0].id,
        head_id=parent,
        branches=branches,
        updated_at=at,
    )
    return entries, record


def generate(path: Path, conversations: int) -> dict:
    """A schema-1 history of `conversations` conversations at `path`, with the rows the store writes."""
    from xsus_tui.core import store as store_module
    from xsus_tui.core.adapters import message_json

    record_adapter = store_module._RECORD
    r = random.Random(SEED)
    ids = Ids(r)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(store_module._SCHEMA)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA user_version = 1")
    clock = datetime(2025, 1, 1, tzinfo=UTC)
    messages = 0
    rare_at = set(r.sample(range(conversations), max(1, conversations // 1000)))
    long_ones = set(r.sample(range(conversations), max(1, conversations // 200)))
    db.execute("BEGIN")
    for number in range(conversations):
        clock += timedelta(minutes=r.randint(5, 90))
        turns = 20 if number in long_ones else r.choice([1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14])
        entries, record = conversation(r, ids, clock, turns, number in rare_at)
        rows = [(e.id, e.parent_id, e.kind, message_json(e.message)) for e in entries]
        db.executemany("INSERT INTO entries (id, parent_id, kind, message) VALUES (?, ?, ?, ?)", rows)
        title = store_module._title_of(entries)
        created = entries[0].message.timestamp.isoformat()
        db.execute(
            "INSERT INTO conversations (conversation_id, revision, scope, updated_at, created_at, title, record)"
            " VALUES (?, ?, NULL, ?, ?, ?, ?)",
            (
                record.conversation_id,
                record.revision,
                record.updated_at.isoformat(),
                created,
                title,
                record_adapter.dump_json(record).decode(),
            ),
        )
        messages += len(rows)
        if number % 1000 == 999:
            db.execute("COMMIT")
            db.execute("BEGIN")
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return {"conversations": conversations, "messages": messages}


def cached(conversations: int, rebuild: bool, cache: Path = CACHE) -> tuple[Path, dict, float | None]:
    path = cache / f"history-{conversations}-v{FORMAT}.db"
    meta = path.with_suffix(".json")
    if rebuild or not (path.exists() and meta.exists()):
        for stale in (path, meta):
            stale.unlink(missing_ok=True)
        started = time.perf_counter()
        info = generate(path, conversations)
        meta.write_text(json.dumps(info))
        return path, info, time.perf_counter() - started
    return path, json.loads(meta.read_text()), None


# -- measuring ------------------------------------------------------------------------------------------------


def median_ms(times: list[float]) -> float:
    return round(statistics.median(times) * 1000, 2)


async def timed(call, runs: int) -> dict:
    """The first (cold) and the median of `runs` later calls, in ms."""
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return {"first_ms": round(times[0] * 1000, 2), "median_ms": median_ms(times[1:])}


async def save_turns(store, conversation_ids: list[str], turns: int) -> float:
    """Median ms of saving a turn (prompt, then reply), as a ChatSession does, round the given conversations."""
    from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart

    r = random.Random(SEED + 1)
    loaded = [await store.load(conversation_id) for conversation_id in conversation_ids]
    times = []
    for number in range(turns + 2):
        conversation = loaded[number % len(loaded)]
        prompt = ModelRequest(parts=[UserPromptPart(fill(r.choice(FOLLOW_UPS), r))])
        reply = ModelResponse(parts=[TextPart(reply_text(r, False))], model_name="gpt-4o-mini")
        started = time.perf_counter()
        conversation.messages.append(prompt)
        await store.save(conversation)
        conversation.messages.append(reply)
        await store.save(conversation)
        if number >= 2:  # two warm-up turns
            times.append(time.perf_counter() - started)
    return median_ms(times)


def cli_wall(home: Path, args: list[str], runs: int) -> dict:
    env = {**os.environ, "XSUS_HOME": str(home), "PYDANTIC_AI_NO_BANNER": "1"}
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "xsus_tui", *args], env=env, capture_output=True)
        times.append(time.perf_counter() - started)
        assert result.returncode == 0, result.stderr.decode()
    return {"first_ms": round(times[0] * 1000, 1), "median_ms": median_ms(times[1:]), "bytes": len(result.stdout)}


def sizes(path: Path) -> dict:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        by_name = dict(db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
    finally:
        db.close()
    total = sum(by_name.values())
    search = sum(size for name, size in by_name.items() if name == "search" or name.startswith("search_"))
    content = by_name.get("search_content", 0)
    return {
        "db_mb": round(total / 1e6, 1),
        "search_index_mb": round(search / 1e6, 1),
        "search_share": round(search / total, 3),
        "search_text_copy_mb": round(content / 1e6, 1),
        "entries_mb": round((by_name.get("entries", 0) + by_name.get("sqlite_autoindex_entries_1", 0)) / 1e6, 1),
    }


async def measure(args: argparse.Namespace) -> dict:
    from xsus_tui.core.store import SQLiteConversationStore

    source, info, generated_s = cached(args.conversations, args.rebuild, args.cache)
    small_source, _, _ = cached(10, args.rebuild, args.cache)
    with tempfile.TemporaryDirectory(prefix="xsus-bench-conversations-") as folder:
        home = Path(folder) / "home"
        home.mkdir()
        db_path = home / "history.db"
        shutil.copyfile(source, db_path)
        progress: list[tuple[int, int]] = []
        started = time.perf_counter()
        store = SQLiteConversationStore.open(db_path, progress=lambda done, total: progress.append((done, total)))
        migration_s = time.perf_counter() - started
        try:
            rows = await store.page(limit=None)
            long_id = next(row.conversation_id for row in rows if row.turns == 20)
            figures: dict = {
                **info,
                "generated_s": None if generated_s is None else round(generated_s, 1),
                "migration_s": round(migration_s, 1),
                "migration_progress_calls": len(progress),
                "page": await timed(lambda: store.page(limit=50), args.runs),
                "search": {},
            }
            for label, query in QUERIES.items():
                hits = await store.search(query, limit=50)
                figures["search"][label] = {
                    "query": query,
                    "hits": len(hits),
                    **await timed(lambda q=query: store.search(q, limit=50), args.runs),
                }

            async def open_one():
                conversation = await store.load(long_id)
                tree = await store.tree(long_id)
                assert conversation is not None and tree is not None and len(tree.turns()) == 20

            figures["open"] = await timed(open_one, args.runs)
            store.close()
            store = None
            figures["cli_list"] = cli_wall(home, ["history", "list", "-n", "50"], args.runs)
            figures["cli_list_all"] = cli_wall(home, ["history", "list"], max(1, args.runs // 3))
            figures["sizes"] = sizes(db_path)
            figures["ui"] = await ui_phase(db_path, args.runs)
            store = SQLiteConversationStore.open(db_path)
            big_ids = [row.conversation_id for row in rows[:: max(1, len(rows) // 20)]][:20]
            figures["save_big_ms"] = await save_turns(store, big_ids, args.save_turns)
            store.close()
            store = None
            small_path = Path(folder) / "small" / "history.db"
            small_path.parent.mkdir()
            shutil.copyfile(small_source, small_path)
            store = SQLiteConversationStore.open(small_path)
            small_ids = [row.conversation_id for row in await store.page(limit=None)]
            figures["save_small_ms"] = await save_turns(store, small_ids, args.save_turns)
        finally:
            if store is not None:
                store.close()
    figures["save_ratio"] = round(figures["save_big_ms"] / figures["save_small_ms"], 2)
    return figures


def prompt_indexes(messages) -> list[int]:
    return [
        index
        for index, message in enumerate(messages)
        if message.kind == "request" and any(part.part_kind == "user-prompt" for part in message.parts)
    ]


async def ui_phase(db_path: Path, runs: int) -> dict:
    """The browser in the real app, headless: Ctrl+O to the first page, a search, Enter to the chat."""
    from textual import events

    from xsus_tui.core.agents import build_chat_agent
    from xsus_tui.core.session import ChatSession
    from xsus_tui.core.store import SQLiteConversationStore
    from xsus_tui.ui.app import XsusApp
    from xsus_tui.ui.screens.browser import BrowserScreen
    from xsus_tui.ui.widgets.user_message import UserMessage

    store = SQLiteConversationStore.open(db_path)
    app = XsusApp(ChatSession(build_chat_agent("demo"), store))
    times: dict[str, list[float]] = {"browser": [], "search": [], "open": []}

    def press(*keys: str) -> None:
        """Keys as the terminal delivers them: queued at once, with no wait between them (Pilot's `press` waits
        for the app to be idle after each key, which would be timed too)."""
        for key in keys:
            app.post_message(events.Key(key, key if len(key) == 1 else None))

    async def until(pilot, condition) -> None:
        deadline = time.perf_counter() + 30
        while not condition():
            if time.perf_counter() > deadline:
                raise TimeoutError("the app did not get there in 30 s")
            await asyncio.sleep(0.002)
        painted = asyncio.Event()
        app.screen.call_after_refresh(painted.set)  # after the next refresh: the frame that shows it
        await painted.wait()

    try:
        async with app.run_test(size=(110, 36)) as pilot:
            await until(pilot, lambda: app.screen.__class__.__name__ == "ChatScreen")
            for run in range(runs + 1):
                started = time.perf_counter()
                press("ctrl+o")
                await until(
                    pilot,
                    lambda: (
                        isinstance(app.screen, BrowserScreen) and len(app.screen.rows) == 50 and not app.screen._query
                    ),
                )
                times["browser"].append(time.perf_counter() - started)
                browser = app.screen
                started = time.perf_counter()
                press(*"quokka")
                await until(pilot, lambda b=browser: b._query == "quokka" and len(b.rows) > 0)
                times["search"].append(time.perf_counter() - started)
                press("ctrl+a", "ctrl+k")
                await until(pilot, lambda b=browser: not b._query and len(b.rows) == 50)
                await pilot.press(*(["down"] * (run % 5)))
                target = browser.rows[browser.options.highlighted].conversation_id
                stored = await store.load(target)
                last_prompt = stored.messages[[*prompt_indexes(stored.messages)][-1]].parts[0].content
                started = time.perf_counter()
                press("enter")

                def shown(target=target, last_prompt=last_prompt) -> bool:
                    """The chat shows the conversation: its last prompt at the bottom."""
                    if isinstance(app.screen, BrowserScreen):
                        return False
                    chat = app.chat_screen
                    users = chat.chat.query(UserMessage)
                    return (
                        chat.session.conversation.conversation_id == target
                        and bool(users)
                        and (users.last().prompt == last_prompt)
                    )

                await until(pilot, shown)
                times["open"].append(time.perf_counter() - started)
                await pilot.pause()  # the rest of the opening (marking versions), before the next run
    finally:
        store.close()
    return {
        name: {"first_ms": round(values[0] * 1000, 1), "median_ms": round(statistics.median(values[1:]) * 1000, 1)}
        for name, values in times.items()
    }


def report(figures: dict) -> None:
    def verdict(value: float, target: float) -> str:
        return "met" if value < target else "MISSED"

    n = figures["conversations"]
    print(f"history of {n:,} conversations, {figures['messages']:,} messages (seed {SEED})")
    print(f"{'':<58}{'first ms':>10}{'median ms':>11}{'target':>10}{'':>8}")

    def row(label, data, target=None):
        goal = f"< {target}" if target else ""
        status = verdict(data["median_ms"], target) if target else ""
        print(f"{label:<58}{data['first_ms']:>10.1f}{data['median_ms']:>11.1f}{goal:>10}{status:>8}")

    row("store.page(): first page of 50", figures["page"], TARGETS_MS["page"])
    for label, data in figures["search"].items():
        row(f"store.search(): {label} ({data['query']!r}, {data['hits']} hits)", data, TARGETS_MS["search"])
    row("open: store.load (20 turns) + store.tree", figures["open"], TARGETS_MS["open"])
    row("xsus history list -n 50 (subprocess, wall)", figures["cli_list"], TARGETS_MS["cli_list"])
    row(f"xsus history list, all {n:,} (subprocess, wall)", figures["cli_list_all"])
    print(
        f"{'saving a turn, 10 vs ' + format(n, ',') + ' conversations (median)':<58}"
        f"{figures['save_small_ms']:>10.2f}{figures['save_big_ms']:>11.2f}{'flat':>10}"
        f"{figures['save_ratio']:>7.2f}x"
    )
    ui = figures["ui"]
    row("app: Ctrl+O until the browser's first page is shown", ui["browser"], TARGETS_MS["ui_browser"])
    row("app: 'quokka' typed until its hits are listed", ui["search"])
    row("app: Enter until the chat shows the conversation", ui["open"], TARGETS_MS["ui_open"])
    size = figures["sizes"]
    print(
        f"database {size['db_mb']} MB; search index {size['search_index_mb']} MB ({size['search_share']:.0%}),"
        f" of which its copy of the text {size['search_text_copy_mb']} MB; entries {size['entries_mb']} MB"
    )
    generated = f"; generated in {figures['generated_s']} s" if figures["generated_s"] is not None else " (cached)"
    print(
        f"migration from schema 1: {figures['migration_s']} s"
        f" ({figures['migration_progress_calls']} progress reports){generated}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="listing, searching and opening with a large history")
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each figure (after a first, cold one)")
    parser.add_argument("--save-turns", type=int, default=30, help="turns saved for the save figure")
    parser.add_argument("--rebuild", action="store_true", help="generate the cached history again")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the generated history is kept")
    parser.add_argument("--quick", action="store_true", help="200 conversations and 2 runs: check it works")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/conversations.json"))
    args = parser.parse_args()
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
    if args.quick:
        args.conversations, args.runs, args.save_turns = 200, 2, 4
    figures = asyncio.run(measure(args))
    report(figures)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"targets_ms": TARGETS_MS, **figures}, indent=2))


if __name__ == "__main__":
    main()
