"""`xsus replay SOURCE [--speed]`: one line and exit 2 for what can't be replayed; the real app replaying a turn."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic_ai.models.function import DeltaToolCall

from xsus_tui import replaying
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore

from .core.helpers import chat_agent, collect
from .terminal_helpers import after_the_screen, spawn, wait_exit
from .test_cli import one_line_error, xsus

REPLY_END = "and that is the end of the recorded reply."


def recorded_conversation(home: Path) -> str:
    """A stored conversation of two recorded turns (the second calls a tool); its id."""

    async def stream(messages, info):
        answered = sum(m.kind == "response" for m in messages)
        if answered == 0:
            yield "Hello "
            yield "there."
        elif answered == 1:
            yield {0: DeltaToolCall(name="double", json_args='{"n": 21}', tool_call_id="c1")}
        else:
            yield "Twice 21 is 42, "
            yield REPLY_END

    agent = chat_agent(stream)

    @agent.agent.tool_plain
    def double(n: int) -> int:
        """Twice n."""
        return 2 * n

    home.mkdir(parents=True, exist_ok=True)

    async def run() -> str:
        store = SQLiteConversationStore.open(home / "history.db")
        try:
            session = ChatSession(agent, store)
            await collect(session, "hi")
            await collect(session, "double 21")
            return session.conversation.conversation_id
        finally:
            store.close()

    return asyncio.run(run())


def run_replay(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xsus_tui", "replay", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("hello\n", "line 1 is not JSON"),
        ('{"messages": []}\n', "not an xsus recording"),
        ('{"type": "recording", "version": 99}\n', "version 99"),
        ("", "no recording header"),
    ],
)
def test_a_damaged_or_foreign_file_is_one_line(tmp_path, content, says):
    path = tmp_path / "t.ndjson"
    path.write_text(content)
    line = one_line_error(run_replay(str(path)))
    assert says in line and str(path) in line


def test_stdin_is_read_for_a_dash():
    line = one_line_error(run_replay("-", stdin='{"type": "recording", "version": 99}\n'))
    assert "stdin: this recording is version 99" in line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["missing.ndjson"], "cannot read missing.ndjson"),
        (["01a2"], "no file or conversation '01a2'"),
        (["x.ndjson", "--speed", "0"], "--speed must be a number above 0"),
        (["x.ndjson", "--speed", "fast"], "--speed must be realtime, max or a number"),
    ],
)
def test_what_is_not_there_is_one_line(args, says):
    assert says in one_line_error(run_replay(*args))


def test_an_unknown_id_or_turn_is_one_line(xsus_home, tmp_path):
    conversation_id = recorded_conversation(xsus_home)
    assert "no conversation" in one_line_error(run_replay("zzzz"))
    line = one_line_error(run_replay(f"{conversation_id[:13]}:7"))
    assert "has no recording of turn 7 (recorded turns: 1, 2)" in line
    export = tmp_path / "t.ndjson"
    export.write_text(xsus("history", "export", conversation_id, "--format", "events").stdout)
    assert "no recording of turn 3" in one_line_error(run_replay(f"{export}:3"))


def test_without_a_terminal_it_says_so_after_checking_the_file(xsus_home, tmp_path):
    conversation_id = recorded_conversation(xsus_home)
    export = tmp_path / "t.ndjson"
    export.write_text(xsus("history", "export", conversation_id, "--format", "events").stdout)
    line = one_line_error(run_replay(str(export), "--speed", "max"))
    assert "a replay needs a terminal" in line


@pytest.mark.parametrize(
    ("text", "value"),
    [("realtime", 1.0), ("2", 2.0), ("0.5", 0.5), ("3x", 3.0), ("max", replaying.MAX), ("MAX", replaying.MAX)],
)
def test_speeds(text, value):
    assert replaying.parse_speed(text) == value


@pytest.mark.parametrize("turn", [None, 2])
def test_the_app_replays_the_turn_and_ends_with_the_same_reply(xsus_home, turn):
    conversation_id = recorded_conversation(xsus_home)
    before = (xsus_home / "history.db").stat().st_mtime_ns
    source = conversation_id[:13] if turn is None else f"{conversation_id[:13]}:{turn}"
    with spawn(xsus_home, "replay", source, "--speed", "max") as term:
        assert term.wait_for(b"The replay has ended", timeout=60) is not None, term.last_words()
        screen = term.text()
        term.send(b"\x11")  # Ctrl+Q
        status, _ = wait_exit(term, timeout=30)
        lines = after_the_screen(term)
    assert status == 0, lines
    assert "Traceback" not in screen
    assert REPLY_END in screen and "replay of function" in screen and "nothing is stored" in screen
    assert "Hello there." in screen  # turn 1: replayed, or shown as the history before turn 2
    assert ("Replay of turns 1-2 of conversation" if turn is None else "Replay of turn 2 of conversation") in screen
    assert (xsus_home / "history.db").stat().st_mtime_ns == before  # nothing written
    listed = json.loads(xsus("history", "list", "--json").stdout)
    assert [row["turns"] for row in listed] == [2]
