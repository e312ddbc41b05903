"""`xsus history list|search|tree|export --all-branches|import|delete|rename` against a real SQLite store."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic_ai.conversation import Conversation
from pydantic_ai.messages import (
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.usage import RequestUsage
from rich.console import Console

from xsus_tui import cli, loading
from xsus_tui.core.index import MARK_END, MARK_START
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore

from .core.helpers import chat_agent, collect, to_schema_1
from .terminal_helpers import spawn, wait_exit
from .test_cli import one_line_error, xsus
from .test_cli_files import read_only

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def turn(prompt: str, reply: str, model: str = "gpt-test") -> list:
    return [ModelRequest(parts=[UserPromptPart(prompt)]), ModelResponse(parts=[TextPart(reply)], model_name=model)]


def open_store(home: Path) -> SQLiteConversationStore:
    home.mkdir(parents=True, exist_ok=True)
    return SQLiteConversationStore.open(home / "history.db")


def seed(home: Path, *conversations: list, agent: str | None = None) -> list[str]:
    async def run() -> list[str]:
        store = open_store(home)
        store.agent_label = agent
        ids = []
        for messages in conversations:
            conversation = Conversation(messages=messages)
            await store.save(conversation)
            ids.append(conversation.conversation_id)
        store.close()
        return ids

    return asyncio.run(run())


def branched(home: Path) -> str:
    """A conversation whose turn 2 has four versions (three replies to one prompt, then an edited prompt); the
    first three versions' last one went on to a turn 3."""

    async def run() -> str:
        store = open_store(home)
        replies = iter(f"reply number {n}" for n in range(20))

        async def stream(messages, info):
            yield next(replies)

        session = ChatSession(chat_agent(stream), store)
        await collect(session, "first prompt about pelicans")
        await collect(session, "second prompt")
        for _ in range(2):
            await collect(session, await session.regenerate())
        await collect(session, "third prompt")
        await session.branch_before(2)
        await collect(session, "second prompt, edited")
        store.close()
        return session.conversation.conversation_id

    return asyncio.run(run())


def stored(home: Path, call):
    async def run():
        store = SQLiteConversationStore.open(home / "history.db")
        try:
            return await call(store)
        finally:
            store.close()

    return asyncio.run(run())


def terminal_console(monkeypatch, width: int) -> io.StringIO:
    """Make the commands print as on a terminal `width` columns wide; what they print."""
    out = io.StringIO()
    monkeypatch.setattr(
        cli, "_console", lambda: Console(file=out, width=width, force_terminal=True, color_system="standard")
    )
    return out


# -- list ---------------------------------------------------------------------------------------------------


def test_list_shows_turns_agent_or_model_title_and_preview(xsus_home):
    priced = turn("Plan a trip to Lisbon", "Day one: Alfama.\nDay two: Belém.", model="gpt-4o-mini")
    priced[1].provider_name, priced[1].usage = "openai", RequestUsage(input_tokens=1000, output_tokens=100)
    first, second = seed(
        xsus_home,
        priced,
        turn("hi", "hello") + turn("again", "sure thing"),
        agent="app.py:support",
    )
    result = xsus("history", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "updated", "turns", "usage", "agent/model", "title", "preview"]
    assert lines[1].startswith(second[:13]) and lines[1].split()[3:5] == ["2", "app.py:support"]
    assert "hi" in lines[1] and lines[1].endswith("sure thing")
    assert lines[2].startswith(first[:13]) and "Plan a trip to Lisbon" in lines[2]
    assert lines[2].split()[3:7] == ["1", "1.1k", "tok", "$0.0002"]  # genai-prices: 1,000 in, 100 out of gpt-4o-mini
    assert lines[2].endswith("Day one: Alfama. Day two: Belém.")  # piped: whole, on one line
    rows = json.loads(xsus("history", "list", "--json", "-n", "1").stdout)
    assert rows == [
        {
            "id": second,
            "title": "hi",
            "created_at": rows[0]["created_at"],
            "updated_at": rows[0]["updated_at"],
            "turns": 2,
            "messages": 4,
            "model": "gpt-test",
            "agent": "app.py:support",
            "preview": "sure thing",
            "usage": {
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_read_tokens": 0,
                "responses": 2,
                "cost_usd": 0.0,
                "cost_complete": True,
            },
        }
    ]
    [priced_row] = json.loads(xsus("history", "list", "--json").stdout)[1:]
    assert priced_row["usage"]["cost_usd"] == pytest.approx(0.00021) and priced_row["usage"]["cost_complete"]
    assert "must be 1 or more" in xsus("history", "list", "-n", "0").stderr


def test_list_fits_the_terminal_one_line_a_conversation(xsus_home, monkeypatch):
    ids = seed(xsus_home, turn("word " * 30, "reply " * 40, model="openai-chat:a-very-long-model-name-indeed"))
    for width in (50, 80, 120):
        out = terminal_console(monkeypatch, width)
        assert cli.main(["history", "list"]) == 0
        lines = ANSI.sub("", out.getvalue()).splitlines()
        assert len(lines) == 2 and all(len(line) <= width for line in lines), (width, lines)
        assert lines[1].startswith(ids[0][:13]) and "word" in lines[1]
        if width >= 80:
            assert "…" in lines[1] and "reply" in lines[1]  # the preview, cut


def test_reading_commands_import_no_pydantic_ai(xsus_home):
    conversation_id = branched(xsus_home)
    code = (
        "import sys\nfrom xsus_tui.cli import main\n"
        "for args in (['history', 'list'], ['history', 'search', 'pelicans'],"
        f" ['history', 'tree', {conversation_id!r}]):\n"
        "    assert main(args) == 0\n"
        "assert 'pydantic_ai' not in sys.modules and 'pydantic' not in sys.modules, sorted(sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "pelicans" in result.stdout


def test_a_closed_pipe_is_not_a_traceback(xsus_home):
    seed(xsus_home, *[turn(f"prompt {n}", "reply") for n in range(200)])
    result = subprocess.run(
        f"{sys.executable} -m xsus_tui history list --json | head -1", shell=True, capture_output=True, text=True
    )
    assert result.stdout == "[\n" and result.stderr == ""


# -- search -------------------------------------------------------------------------------------------------


def test_search_json_gives_plain_snippets_and_match_offsets(xsus_home):
    older, newer = seed(
        xsus_home,
        turn("where do pelicans nest?", "Pelicans nest in colonies on islands."),
        [
            ModelRequest(parts=[UserPromptPart("read the config")]),
            ModelResponse(parts=[ToolCallPart("read_file", {"path": "os.path.join(home)"}, tool_call_id="c1")]),
            ModelRequest(parts=[ToolReturnPart("read_file", "pelican = 'yes'", tool_call_id="c1")]),
            ModelResponse(parts=[TextPart("done")]),
        ],
    )
    found = json.loads(xsus("history", "search", "pelican", "--json").stdout)
    # First the titles that have the query (as the browser lists them), then the messages, newest first.
    assert found[0] == {
        "conversation_id": older,
        "title": "where do pelicans nest?",
        "turn": None,
        "role": "title",
        "entry_id": None,
        "snippet": "where do pelicans nest?",
        "matches": [[9, 16]],
    }
    hits = found[1:]
    assert [(hit["conversation_id"], hit["turn"], hit["role"]) for hit in hits] == [
        (newer, 1, "tool"),
        (older, 1, "reply"),
        (older, 1, "you"),
    ]
    for hit in hits:
        assert set(hit) == {"conversation_id", "title", "turn", "role", "entry_id", "snippet", "matches"}
        assert MARK_START not in hit["snippet"] and MARK_END not in hit["snippet"]
        assert hit["matches"] and all(
            hit["snippet"][start:end].casefold() == "pelican" for start, end in hit["matches"]
        ), hit
    assert hits[1]["title"] == "where do pelicans nest?"
    assert [hit["role"] for hit in json.loads(xsus("history", "search", "os.path.join", "--json").stdout)] == ["reply"]
    assert len(json.loads(xsus("history", "search", "pelican", "--json", "-n", "1").stdout)) == 2  # title + 1


def test_marked_spans():
    snippet = f"a {MARK_START}pel{MARK_END}{MARK_START}ican{MARK_END} and {MARK_START}x"
    assert cli.marked_spans(snippet) == ("a pelican and x", [(2, 9), (14, 15)])
    assert cli.marked_spans("no marks") == ("no marks", [])


def test_search_highlights_on_a_terminal_and_prints_plain_text_when_piped(xsus_home, monkeypatch):
    (conversation_id,) = seed(xsus_home, turn("tell me about \x1b[2Jwalruses", "Walruses are large."))
    piped = xsus("history", "search", "walrus")
    assert piped.returncode == 0 and "\x1b" not in piped.stdout and MARK_START not in piped.stdout
    lines = piped.stdout.splitlines()
    assert lines[0].split() == ["id", "turn", "role", "title", "snippet"]
    assert lines[1].startswith(conversation_id[:13]) and lines[1].split()[1] == "title"
    assert lines[2].startswith(conversation_id[:13]) and "Walruses are large." in lines[2]
    assert "␛[2Jwalruses" in lines[3]  # the escape sequence shown inert, not sent to the terminal
    out = terminal_console(monkeypatch, 100)
    assert cli.main(["history", "search", "walrus"]) == 0
    text = out.getvalue()
    assert "\x1b[1;7mWalrus\x1b[0m" in text and MARK_START not in text and "\x1b[2J" not in text


@pytest.mark.parametrize("query", ["!!!", "(", "NEAR(", '"', "OR NOT", "nothing-like-this", "*"])
def test_search_with_no_results_or_odd_queries_is_one_line_and_exit_0(xsus_home, query):
    seed(xsus_home, turn("hello there", "general kenobi"))
    result = xsus("history", "search", query)
    assert result.returncode == 0 and result.stderr == ""
    assert len(result.stdout.splitlines()) == 1 and "match" in result.stdout or "3 characters" in result.stdout
    assert json.loads(xsus("history", "search", query, "--json").stdout) == []


def test_search_for_short_words_says_why_nothing_is_found(xsus_home):
    seed(xsus_home, turn("a b c", "ok"))
    assert xsus("history", "search", "ab").stdout.strip() == (
        "Nothing to search for in 'ab': each word needs at least 3 characters."
    )


def test_reading_a_store_not_indexed_yet(xsus_home):
    (conversation_id,) = seed(xsus_home, turn("old otters", "from schema one"))
    to_schema_1(xsus_home / "history.db")
    assert "no search index yet" in one_line_error(xsus("history", "search", "otters"))
    assert "no index of turns yet" in one_line_error(xsus("history", "tree", conversation_id))
    listed = xsus("history", "list")
    assert listed.returncode == 0 and "old otters" in listed.stdout  # listing works before the index exists
    assert "from schema one" in xsus("history", "export", conversation_id[:13]).stdout


def test_no_history_yet(xsus_home):
    assert xsus("history", "search", "anything").stdout.startswith("No conversations yet")
    assert xsus("history", "search", "anything", "--json").stdout.strip() == "[]"
    assert "no conversations" in one_line_error(xsus("history", "tree", "0123"))
    assert "no conversation" in one_line_error(xsus("history", "delete", "0123", "--yes"))
    assert not xsus_home.exists()  # nothing created


# -- tree ---------------------------------------------------------------------------------------------------


def test_tree_shows_every_version_of_each_turn(xsus_home, monkeypatch):
    conversation_id = branched(xsus_home)
    result = xsus("history", "tree", conversation_id[:13])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "● 1  first prompt about pelicans → reply number 0",
        "● 2 ‹4/4›  second prompt, edited → reply number 5",
        "  ○ 2 ‹1/4›  second prompt → reply number 1",
        "  ○ 2 ‹2/4›  second prompt → reply number 2",
        "  ○ 2 ‹3/4›  second prompt → reply number 3",
        "  ○ 3  third prompt → reply number 4",
    ]
    out = terminal_console(monkeypatch, 40)
    assert cli.main(["history", "tree", conversation_id]) == 0
    lines = ANSI.sub("", out.getvalue()).splitlines()
    assert lines[0].startswith(f"{conversation_id[:13]}  first prompt about pe")
    assert len(lines) == 7 and all(len(line) <= 40 for line in lines)
    assert "\x1b[" in out.getvalue()  # styled on a terminal


def test_tree_of_an_ambiguous_prefix_or_unknown_id_is_one_line(xsus_home):
    ids = seed(xsus_home, turn("a", "b"), turn("c", "d"))
    common = os.path.commonprefix(ids)
    assert "matches more than one conversation" in one_line_error(xsus("history", "tree", common))
    assert "no conversation with id 'zzz'" in one_line_error(xsus("history", "tree", "zzz"))


# -- export --all-branches and import ---------------------------------------------------------------------


def test_all_branches_round_trip_through_export_and_import(xsus_home, tmp_path):
    conversation_id = branched(xsus_home)
    out = tmp_path / "tree.json"
    assert xsus("history", "export", conversation_id, "-f", "json", "--all-branches", "-o", str(out)).returncode == 0
    document = json.loads(out.read_text())
    assert (document["format"], document["version"], document["conversation_id"]) == (
        "xsus-conversation-tree",
        1,
        conversation_id,
    )
    assert document["title"] == "first prompt about pelicans" and len(document["entries"]) == 12
    seen = set()
    for entry in document["entries"]:
        assert entry["parent_id"] is None or entry["parent_id"] in seen
        seen.add(entry["id"])
    imported = xsus("history", "import", str(out))
    assert imported.returncode == 0, imported.stderr
    copy_id = imported.stdout.strip()
    assert copy_id != conversation_id

    async def compare(store):
        original, copy = await store.tree(conversation_id), await store.tree(copy_id)
        assert [(len(v), shown) for v, shown in copy.turns()] == [(len(v), shown) for v, shown in original.turns()]
        assert [(line.indent, line.position, line.of, line.current) for line in copy.lines()] == [
            (line.indent, line.position, line.of, line.current) for line in original.lines()
        ]
        assert (await store.load(copy_id)).messages == (await store.load(conversation_id)).messages
        assert (await store.summary(copy_id)).title == "first prompt about pelicans"

    stored(xsus_home, compare)
    # Imported again, with a title of its own; and the copy's own export is the same tree.
    again = xsus("history", "import", str(out), "--title", "  Pelican\nnotes ").stdout.strip()
    assert stored(xsus_home, lambda store: store.summary(again)).title == "Pelican notes"


def test_all_branches_markdown_has_a_section_for_each_other_version(xsus_home):
    conversation_id = branched(xsus_home)
    markdown = xsus("history", "export", conversation_id, "--all-branches").stdout
    current, others = markdown.split("# Other versions")
    assert "second prompt, edited" in current and "reply number 1" not in current
    headings = [line for line in others.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Turn 2, version 1 of 4",
        "## Turn 2, version 2 of 4",
        "## Turn 2, version 3 of 4",
        "## Turn 3, version 1 of 1 (after turn 2, version 3 of 4)",
    ]
    section = others.split("## Turn 2, version 2 of 4")[1].split("## ")[0]
    assert "second prompt" in section and "reply number 2" in section and "reply number 3" not in section
    # A conversation without other versions: the transcript alone.
    (plain,) = seed(xsus_home, turn("only", "one"))
    assert "Other versions" not in xsus("history", "export", plain, "--all-branches").stdout


def test_import_a_message_list_from_a_file_or_stdin(xsus_home, tmp_path):
    (source,) = seed(xsus_home, turn("remember the heron", "noted") + turn("and the egret", "also noted"))
    exported = xsus("history", "export", source, "-f", "json").stdout
    path = tmp_path / "c.json"
    path.write_text(exported)
    first = xsus("history", "import", str(path)).stdout.strip()
    second = subprocess.run(
        [sys.executable, "-m", "xsus_tui", "history", "import", "-", "--title", "From stdin"],
        input=exported,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    rows = {row["id"]: row for row in json.loads(xsus("history", "list", "--json").stdout)}
    assert rows[first]["title"] == "remember the heron" and rows[second]["title"] == "From stdin"
    assert rows[first]["turns"] == rows[second]["turns"] == 2
    messages = ModelMessagesTypeAdapter.validate_json(exported)
    assert stored(xsus_home, lambda store: store.load(second)).messages == messages


def test_a_large_import(xsus_home, tmp_path):
    messages = [m for n in range(300) for m in turn(f"question {n} " + "lorem ipsum " * 80, "answer " * 200)]
    path = tmp_path / "big.json"
    path.write_bytes(ModelMessagesTypeAdapter.dump_json(messages))
    assert path.stat().st_size > 1_000_000
    result = xsus("history", "import", str(path))
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(xsus("history", "list", "--json").stdout)
    assert (row["id"], row["turns"], row["messages"]) == (result.stdout.strip(), 300, 600)


def tree_document(**changes) -> str:
    entries = [
        {"id": "a", "parent_id": None, "message": json.loads(ModelMessagesTypeAdapter.dump_json(turn("p", "r")))[0]},
        {"id": "b", "parent_id": "a", "message": json.loads(ModelMessagesTypeAdapter.dump_json(turn("p", "r")))[1]},
    ]
    document = {"format": "xsus-conversation-tree", "version": 1, "title": "t", "head_id": "b", "entries": entries}
    return json.dumps({**document, **changes})


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read {path}: no such file or directory"),
        (b"", "an empty file"),
        (b"hello", "not JSON (Expecting value at line 1, column 1)"),
        (b"\xff\xfe\x00garbage", "is not a JSON export (it is not UTF-8 text)"),
        (b'{"a": 1}', "neither a pydantic-ai message list"),
        (b"[]", "an empty message list"),
        (b'[{"kind": "request", "parts": [{"part_kind": "bogus"}]}]', "not a pydantic-ai message list: message 1"),
        (b"[1, 2]", "not a pydantic-ai message list: message 1"),
        (tree_document(version=2).encode(), "tree of version 2"),
        (tree_document(entries=[]).encode(), "without entries"),
        (tree_document(head_id="zz").encode(), "head_id is none of its entries"),
        (
            tree_document(entries=[{"id": "b", "parent_id": "a", "message": {}}]).encode(),
            "entry 1 comes before its parent",
        ),
        (tree_document().replace('"kind": "response"', '"kind": "nonsense"').encode(), "entry 2"),
    ],
)
def test_import_of_something_else_is_one_line_and_stores_nothing(xsus_home, tmp_path, content, expected):
    path = tmp_path / "in.json"
    if content is not None:
        path.write_bytes(content)
    line = one_line_error(xsus("history", "import", str(path)))
    assert expected.format(path=path) in line, line
    assert not (xsus_home / "history.db").exists()  # not even opened


def test_import_of_a_directory_is_one_line(tmp_path):
    assert "is a directory" in one_line_error(xsus("history", "import", str(tmp_path)))
    assert "a title can't be empty" in one_line_error(xsus("history", "import", str(tmp_path), "--title", " "))


def test_an_export_from_a_read_only_home_imports_elsewhere(xsus_home, tmp_path):
    conversation_id = branched(xsus_home)
    out = tmp_path / "tree.json"
    with read_only(xsus_home):
        exported = xsus("history", "export", conversation_id[:13], "-f", "json", "--all-branches", "-o", str(out))
        assert exported.returncode == 0, exported.stderr
        assert "cannot open the history database" in one_line_error(xsus("history", "import", str(out)))
        assert xsus("history", "search", "pelicans", "--json").returncode == 0
        assert "○ 2 ‹1/4›" in xsus("history", "tree", conversation_id).stdout
    other = tmp_path / "other-home"
    imported = xsus("history", "import", str(out), env={"XSUS_HOME": str(other)})
    assert imported.returncode == 0, imported.stderr
    tree = xsus("history", "tree", imported.stdout.strip(), env={"XSUS_HOME": str(other)}).stdout
    assert tree == xsus("history", "tree", conversation_id).stdout
    assert [row["id"] for row in json.loads(xsus("history", "list", "--json").stdout)] == [conversation_id]


# -- delete and rename ------------------------------------------------------------------------------------


def test_delete_needs_yes_without_a_terminal_and_deletes_for_good(xsus_home):
    keep, gone = seed(xsus_home, turn("keep me", "kept"), turn("secret pelican", "secret reply"))
    line = one_line_error(
        subprocess.run(
            [sys.executable, "-m", "xsus_tui", "history", "delete", gone],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    )
    assert "add --yes" in line
    result = xsus("history", "delete", gone[:13], "--yes")
    assert result.returncode == 0 and result.stdout.strip() == f'Deleted "secret pelican" ({gone[:13]}).'
    assert [row["id"] for row in json.loads(xsus("history", "list", "--json").stdout)] == [keep]
    with sqlite3.connect(xsus_home / "history.db") as db:
        texts = [row[0] for row in db.execute("SELECT message FROM entries")]
    assert not any("pelican" in text for text in texts)
    assert "no conversation with id" in one_line_error(xsus("history", "delete", gone, "--yes"))


def test_delete_asks_on_a_terminal(xsus_home):
    first, second = seed(xsus_home, turn("first one", "a") + turn("more", "b"), turn("second one", "c"))
    for keys, status in [(b"\x03", 130), (b"n\r", 1), (b"\r", 1), (b"y\r", 0)]:
        with spawn(xsus_home, "history", "delete", first[:13]) as term:
            assert term.wait_for(b"[y/N]") is not None, term.text()
            assert 'Delete "first one" (2 turns, updated ' in term.text()
            term.send(keys)
            assert wait_exit(term, timeout=30)[0] == status, term.text()
            assert "Traceback" not in term.text()
            assert ("Not deleted." in term.text()) == (status != 0)
    assert [row["id"] for row in json.loads(xsus("history", "list", "--json").stdout)] == [second]


def test_an_id_prefix_that_matches_two_is_one_line(xsus_home):
    ids = seed(xsus_home, turn("a", "b"), turn("c", "d"))
    common = os.path.commonprefix(ids)
    for args in (["delete", common, "--yes"], ["rename", common, "x"], ["export", common]):
        assert "matches more than one conversation" in one_line_error(xsus("history", *args))
    assert len(json.loads(xsus("history", "list", "--json").stdout)) == 2


def test_rename(xsus_home):
    (conversation_id,) = seed(xsus_home, turn("first words", "reply"))
    result = xsus("history", "rename", conversation_id[:13], "Trip", "planning")
    assert result.returncode == 0 and "'Trip planning'" in result.stdout
    assert json.loads(xsus("history", "list", "--json").stdout)[0]["title"] == "Trip planning"
    assert "a title can't be empty" in one_line_error(xsus("history", "rename", conversation_id, " \n "))
    assert "no conversation with id 'zzz'" in one_line_error(xsus("history", "rename", "zzz", "x"))


# -- indexing a store written before schema 2 ----------------------------------------------------------------


def test_writing_commands_index_an_old_store_quietly_when_stderr_is_not_a_terminal(xsus_home):
    first, second = seed(xsus_home, turn("old otters", "a"), turn("old beavers", "b"))
    to_schema_1(xsus_home / "history.db")
    result = xsus("history", "rename", first, "Otters")
    assert result.returncode == 0 and result.stderr == ""
    found = json.loads(xsus("history", "search", "beavers", "--json").stdout)
    assert [(hit["conversation_id"], hit["role"]) for hit in found] == [(second, "title"), (second, "you")]


def test_progress_is_throttled_and_worded():
    shown: list[str] = []
    progress = loading.Throttled(shown.append, interval=60)
    progress(2000, 200_000)
    progress(4000, 200_000)  # too soon
    assert shown == ["indexing history for search · 2,000 of 200,000 messages"]


def test_the_chat_start_up_shows_the_indexing_progress(xsus_home):
    seed(xsus_home, *[turn(f"old {n}", "reply") for n in range(1100)])  # 2,200 messages: two batches
    to_schema_1(xsus_home / "history.db")
    args = cli.build_parser().parse_args(["-c", "--model", "demo"])
    from xsus_tui.config import Settings

    loader = cli.ChatLoader(args, Settings())
    shown: list[str | None] = []
    loader.on_progress = shown.append

    async def build():
        setup = await loader.build()
        await asyncio.sleep(0)  # the progress the database thread sent is delivered on the loop
        return setup

    try:
        setup = asyncio.run(build())
    finally:
        loader.close()
    assert setup.session.conversation.messages[0].parts[0].content == "old 1099"
    indexing = [text for text in shown if text and text.startswith("indexing history")]
    assert indexing and indexing[0] == "indexing history for search · 2,000 of 2,200 messages"
    assert shown[-1] is None


def test_progress_of_one_activity_keeps_counting_its_seconds():
    from xsus_tui.ui.screens.startup import same_activity

    assert same_activity(
        "indexing history for search · 2,000 of 9,000 messages", "indexing history for search · 4,000 of 9,000 messages"
    )
    assert not same_activity("loading agent app.py:support", "indexing history for search · 1 of 2 messages")


async def test_the_start_up_screen_counts_the_indexing_and_opens_the_chat_after_it(xsus_home, monkeypatch):
    """The progress comes from the database thread: shown on the app's loop, in the app's context (a timer started
    from another context fails at its first tick), and the seconds go on counting from one update to the next."""
    from xsus_tui.config import Settings
    from xsus_tui.core import index
    from xsus_tui.ui.app import XsusApp
    from xsus_tui.ui.screens.chat import ChatScreen

    from .ui.helpers import SIZE, screen_text, wait_for

    await asyncio.to_thread(seed, xsus_home, *[turn(f"old {n}", "reply") for n in range(2100)])  # three batches
    to_schema_1(xsus_home / "history.db")
    migrate = index.migrate

    def slow(db, begin, progress):
        import time

        def slowly(done, total):
            time.sleep(0.6)  # more than the status line's timer period and the progress throttle
            progress(done, total)

        return migrate(db, begin, slowly)

    monkeypatch.setattr(index, "migrate", slow)
    loader = cli.ChatLoader(cli.build_parser().parse_args(["-c", "--model", "demo"]), Settings())
    app = XsusApp(loader=loader)
    loader.on_progress = app.show_progress
    seen: list[str] = []
    try:
        async with app.run_test(size=SIZE) as pilot:

            def opened() -> bool:
                seen.extend(line for line in screen_text(app).splitlines() if "indexing history" in line)
                return isinstance(app.screen, ChatScreen)

            await wait_for(pilot, opened, within=20)
            await pilot.pause(0.5)
            assert app.return_code is None  # no error in the app
            assert "old 2099" in screen_text(app)
    finally:
        loader.close()
    assert any("indexing history for search · 2,000 of 4,200 messages" in line for line in seen), seen
    assert any(re.search(r"4,000 of 4,200 messages · [1-9] s", line) for line in seen), seen
