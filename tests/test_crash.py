"""Crash safety and sharing: kill -9 mid-reply, and two processes writing one XSUS_HOME."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

from pydantic_ai.messages import ModelRequest, UserPromptPart

from xsus_tui.core.store import SQLiteConversationStore

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from xsus_tui.core.agents import build_chat_agent
    from xsus_tui.core.session import ChatSession
    from xsus_tui.core.store import SQLiteConversationStore

    async def main(db, label, turns, conversation_id):
        store = SQLiteConversationStore.open(db)
        conversation = await store.load(conversation_id) if conversation_id else None
        session = ChatSession(build_chat_agent("demo"), store, conversation=conversation)
        for turn in range(turns):
            async for event in session.run_turn(f"{label} {turn} long" if turns == 1 else f"{label} {turn}"):
                if type(event).__name__ == "TextDelta":
                    print("STREAMING", flush=True)
        print("DONE", session.conversation.conversation_id, flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None))
    """
)


def child(db, label: str, turns: int, conversation_id: str | None = None, delay: str = "0") -> subprocess.Popen[str]:
    args = [sys.executable, "-c", CHILD, str(db), label, str(turns)] + ([conversation_id] if conversation_id else [])
    env = {**os.environ, "XSUS_DEMO_DELAY": delay, "PYDANTIC_AI_NO_BANNER": "1"}
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def prompts(db, conversation_id: str) -> list[str]:
    async def read() -> list[str]:
        store = SQLiteConversationStore.open(db)
        try:
            conversation = await store.load(conversation_id)
            return [
                p.content
                for m in conversation.messages
                if isinstance(m, ModelRequest)
                for p in m.parts
                if isinstance(p, UserPromptPart)
            ]
        finally:
            store.close()

    return asyncio.run(read())


def test_kill_minus_nine_mid_reply_leaves_a_readable_database_with_the_prompt(tmp_path):
    db = tmp_path / "history.db"
    process = child(db, "killed", 1, delay="0.02")
    assert process.stdout.readline().strip() == "STREAMING"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = SQLiteConversationStore.open(db)
    assert store.moved_aside is None
    conversation_id = store.latest_id()
    store.close()
    assert prompts(db, conversation_id) == ["killed 0 long"]
    # The next start works, and continues that conversation.
    again = child(db, "after", 1, conversation_id)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert prompts(db, conversation_id) == ["killed 0 long", "after 0 long"]


def test_two_processes_sharing_one_home_lose_nothing(tmp_path):
    db = tmp_path / "history.db"
    first, second = child(db, "a", 15), child(db, "b", 15)
    results = [process.communicate(timeout=120) for process in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, results
    ids = [out.strip().split()[-1] for out, _ in results]
    assert prompts(db, ids[0]) == [f"a {n}" for n in range(15)]
    assert prompts(db, ids[1]) == [f"b {n}" for n in range(15)]
    # Both continuing the same conversation at once: one of them goes on as a fork, nothing is lost.
    third, fourth = child(db, "c", 10, ids[0]), child(db, "d", 10, ids[0])
    results = [process.communicate(timeout=120) for process in (third, fourth)]
    assert third.returncode == 0 and fourth.returncode == 0, results
    ends = [out.strip().split()[-1] for out, _ in results]
    assert ends[0] != ends[1]  # the second writer went on as a fork
    for label, end in zip("cd", ends, strict=True):
        history = prompts(db, end)
        assert history[:15] == [f"a {n}" for n in range(15)]  # the shared start
        assert [p for p in history if p.startswith(label)] == [f"{label} {n}" for n in range(10)]
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
