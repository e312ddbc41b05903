"""Files from outside: export -o never clobbers, other people's folders keep their modes, reading works on a
read-only home, and the exit message tells the truth about what is saved."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic_ai.conversation import Conversation
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart

from xsus_tui import cli
from xsus_tui.core.agents import build_chat_agent
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore

from .test_cli import one_line_error, xsus


def seed(home: Path) -> str:
    async def write() -> str:
        store = SQLiteConversationStore.open(home / "history.db")
        conversation = Conversation(
            messages=[ModelRequest(parts=[UserPromptPart("kept")]), ModelResponse(parts=[TextPart("safe")])]
        )
        await store.save(conversation)
        store.close()
        return conversation.conversation_id

    return asyncio.run(write())


def test_export_refuses_to_replace_a_file_without_force(xsus_home, tmp_path):
    seed(xsus_home)
    out = tmp_path / "mine.md"
    out.write_text("my notes")
    os.chmod(out, 0o644)
    line = one_line_error(xsus("history", "export", "--latest", "-o", str(out)))
    assert "exists; add --force" in line
    assert out.read_text() == "my notes"
    assert xsus("history", "export", "--latest", "-o", str(out), "--force").returncode == 0
    assert "safe" in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # a new file took its name: exports are private
    target = tmp_path / "elsewhere.txt"
    target.write_text("not to be touched")
    link = tmp_path / "link.md"
    link.symlink_to(target)
    assert xsus("history", "export", "--latest", "-o", str(link), "--force").returncode == 0
    assert target.read_text() == "not to be touched" and not link.is_symlink() and "safe" in link.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_export_to_a_missing_folder_is_one_line(xsus_home, tmp_path):
    seed(xsus_home)
    line = one_line_error(xsus("history", "export", "--latest", "-o", str(tmp_path / "nope" / "x.md")))
    assert "no such file or directory" in line


def test_a_new_export_file_is_private(xsus_home, tmp_path):
    seed(xsus_home)
    assert xsus("history", "export", "--latest", "-o", str(tmp_path / "new.json"), "-f", "json").returncode == 0
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o600


def test_an_existing_home_keeps_its_mode(xsus_home):
    xsus_home.mkdir(parents=True)
    os.chmod(xsus_home, 0o1777)
    seed(xsus_home)
    assert xsus("history", "list").returncode == 0
    assert stat.S_IMODE(xsus_home.stat().st_mode) == 0o1777


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` read-only for this process: a read-only bind mount as root (root ignores modes), else chmod."""
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        try:
            yield
        finally:
            os.chmod(folder, 0o755)
        return
    if shutil.which("mount") is None:
        pytest.skip("root without mount(8): can't make a folder read-only")
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"root without mount permission: {bind.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_reading_commands_work_on_a_read_only_home(xsus_home, tmp_path):
    conversation_id = seed(xsus_home)
    before = sorted(p.name for p in xsus_home.iterdir())
    with read_only(xsus_home):
        listed = xsus("history", "list")
        assert listed.returncode == 0, listed.stderr
        assert "kept" in listed.stdout
        exported = xsus("history", "export", conversation_id[:13], "-f", "md")
        assert exported.returncode == 0, exported.stderr
        assert "safe" in exported.stdout
    assert sorted(p.name for p in xsus_home.iterdir()) == before  # nothing moved aside or created


def test_the_exit_message_tells_the_truth(xsus_home, capsys):
    async def two_turns() -> ChatSession:
        store = SQLiteConversationStore.open(xsus_home / "history.db")
        session = ChatSession(build_chat_agent("demo"), store)
        async for _ in session.run_turn("hello"):
            pass
        pages = store._worker.call(lambda: store._db.execute("PRAGMA page_count").fetchone()[0])
        store._worker.call(lambda: store._db.execute(f"PRAGMA max_page_count = {pages}"))  # a full disk
        async for _ in session.run_turn("long"):
            pass
        return session

    session = asyncio.run(two_turns())
    assert session.unsaved
    cli._farewell(session)
    out, err = capsys.readouterr()
    assert "Conversation saved" not in err
    assert "NOT saved: the last 1 message" in err and "the disk is full" in err
    assert "(reply interrupted)" in out or "**Assistant**" in out  # the unsaved reply, as markdown
    # With room again, the last try at quit saves it, and then says so.
    store = session.store
    store._worker.call(lambda: store._db.execute("PRAGMA max_page_count = 1073741823"))
    cli._farewell(session)
    _, err = capsys.readouterr()
    assert "Conversation saved" in err
    store.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))


def test_reading_commands_change_nothing_after_a_crash(xsus_home):
    """A checkpoint a killed process left is shown by export (in memory), not written: the chat recovers it."""
    from pydantic_ai.messages import ModelResponse

    conversation_id = seed(xsus_home)

    async def leave_checkpoint() -> None:
        store = SQLiteConversationStore.open(xsus_home / "history.db")
        conversation = await store.load(conversation_id)
        conversation.messages.append(ModelRequest(parts=[UserPromptPart("second")]))
        await store.save(conversation)
        await store.checkpoint(
            conversation_id, revision=conversation.revision, messages=[ModelResponse(parts=[TextPart("half a repl")])]
        )
        store._db.close()  # as if killed: no clean close
        store._worker.stop(0)

    asyncio.run(leave_checkpoint())
    db = xsus_home / "history.db"
    import sqlite3

    with sqlite3.connect(db) as raw:  # as a dead process's
        raw.execute("UPDATE partials SET pid = 999999999")

    def files() -> dict[str, int]:  # the -shm is SQLite's shared index for readers: reading touches it
        return {p.name: p.stat().st_mtime_ns for p in xsus_home.iterdir() if not p.name.endswith("-shm")}

    before = files()
    exported = xsus("history", "export", conversation_id[:13], "-f", "md")
    assert exported.returncode == 0, exported.stderr
    assert "half a repl" in exported.stdout
    assert files() == before


def test_a_damaged_message_is_one_line_not_a_traceback(xsus_home):
    import sqlite3

    conversation_id = seed(xsus_home)
    with sqlite3.connect(xsus_home / "history.db") as raw:
        raw.execute('UPDATE entries SET message = \'{"kind": "request", "parts": [\' WHERE rowid = 1')
    line = one_line_error(xsus("history", "export", conversation_id[:13]))
    assert "a stored message is damaged" in line


def test_nested_new_folders_are_all_private(tmp_path):
    from xsus_tui import paths

    home = tmp_path / "new" / "a" / "b"
    paths.ensure_private_dir(home)
    assert [stat.S_IMODE(p.stat().st_mode) for p in (home, home.parent, home.parent.parent)] == [0o700] * 3
