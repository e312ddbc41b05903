"""Running the real `xsus` in a pseudo-terminal for the process-level tests (signals, quitting, loading).

Built on `benchmarks.terminal.Terminal` (the benchmarks' pty driver): this adds waiting for the process
to end, what it printed after it gave the terminal back, and reading the store it left.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.terminal import PLACEHOLDER, Terminal

__all__ = ["PLACEHOLDER", "Terminal", "after_the_screen", "alive", "latest_messages", "spawn", "wait_exit"]

LEAVE_SCREEN = b"\x1b[?1049l"
CONTROL = re.compile(rb"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-_=>])")


@contextlib.contextmanager
def spawn(home: Path, *args: str, **env: str) -> Iterator[Terminal]:
    """`xsus ARGS` in a 100x30 pseudo-terminal with XSUS_HOME=home; killed afterwards if still running."""
    environment = {
        **os.environ,
        "XSUS_HOME": str(home),
        "TERM": "xterm-256color",
        "PYDANTIC_AI_NO_BANNER": "1",
        "COLUMNS": "100",
        "LINES": "30",
        **env,
    }
    term = Terminal.spawn(args, env=environment)
    try:
        yield term
    finally:
        term.close(timeout=2)


def wait_exit(term: Terminal, timeout: float = 30.0) -> tuple[int | None, float | None]:
    """Wait for the app to end, reading what it writes: (exit status, `time.monotonic()` it was seen to
    end), or (None, None) if it is still running after `timeout` seconds (it is left running)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, raw = os.waitpid(term.pid, os.WNOHANG)
        if pid:
            ended = time.monotonic()
            while term.pump(0.05):  # what it wrote last
                pass
            term.exit_status = os.waitstatus_to_exitcode(raw)
            term.closed = True
            return term.exit_status, ended
        if time.monotonic() > deadline:
            return None, None
        if term.closed or not term.pump(0.01):
            term.closed = True
            time.sleep(0.005)


def after_the_screen(term: Terminal) -> list[str]:
    """The lines printed after the app gave the terminal back (after it left the alternate screen)."""
    tail = bytes(term.output).rsplit(LEAVE_SCREEN, 1)[-1]
    return [line.strip() for line in CONTROL.sub(b"", tail).decode(errors="replace").splitlines() if line.strip()]


def alive(pid: int) -> bool:
    """Whether the process exists and has not exited (an exited child not yet reaped is a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def latest_messages(home: Path) -> list:
    """The messages of the most recently updated conversation in home/history.db ([] if none)."""
    from xsus_tui.core.store import SQLiteConversationStore

    async def read() -> list:
        store = SQLiteConversationStore.open(home / "history.db")
        try:
            conversation_id = store.latest_id()
            if conversation_id is None:
                return []
            conversation = await store.load(conversation_id)
            return list(conversation.messages) if conversation is not None else []
        finally:
            store.close()

    return asyncio.run(read())
