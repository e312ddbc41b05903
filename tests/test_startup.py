"""Start-up: the first frame needs Textual only; the rest loads after it, in a real terminal too."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

HEAVY = ("pydantic_ai", "mcp", "mcp_types", "fastmcp", "openai", "anthropic")
"""What the first frame must not wait for: pydantic-ai, mcp and the providers' SDKs."""


def test_the_first_frame_imports_no_pydantic_ai_nor_mcp():
    """In a fresh interpreter: the CLI's module, the app and the start-up screen, painted and typed into."""
    code = """
import asyncio, sys
import xsus_tui.cli
from xsus_tui.ui.app import XsusApp
from xsus_tui.ui.screens.startup import StartupScreen

xsus_tui.cli.build_parser().parse_args([])

async def main():
    never = asyncio.Event()

    async def loader():
        await never.wait()

    app = XsusApp(loader=loader)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"hi")
        assert isinstance(app.screen, StartupScreen) and app.screen.prompt.text == "hi"

asyncio.run(main())
heavy = sorted({n.split(".")[0] for n in sys.modules} & set(HEAVY))
print(heavy)
sys.exit(1 if heavy else 0)
""".replace("HEAVY", repr(HEAVY))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


CONTROL = re.compile(r"\x1b\[[0-9;?<>=$]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[=>]")
LEAVE_SCREEN = b"\x1b[?1049l"
"""Textual leaving the alternate screen: what follows is printed on the user's restored terminal."""


class Terminal:
    """`python -m xsus_tui ARGS` in a pseudo-terminal of 100x30, and everything it wrote."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.started = time.monotonic()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: sizes its terminal, then becomes xsus
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
                os.execve(sys.executable, [sys.executable, "-m", "xsus_tui", *args], env)
            finally:
                os._exit(127)
        self.output = b""
        self.status: int | None = None

    def wait_for(self, marker: bytes, timeout: float = 30) -> float | None:
        """Seconds from the start until `marker` was read; None if the app exits or the time runs out first."""
        deadline = time.monotonic() + timeout
        while marker not in self.output:
            if not self._read(deadline - time.monotonic()):
                return None
        return time.monotonic() - self.started

    def send(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def wait_exit(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self._read(deadline - time.monotonic()):
            pass
        _, status = os.waitpid(self.pid, 0)
        self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def _read(self, timeout: float) -> bool:
        if timeout <= 0:
            return False
        ready, _, _ = select.select([self.fd], [], [], min(timeout, 0.1))
        if ready:
            try:
                data = os.read(self.fd, 1 << 16)
            except OSError:  # EIO: the app has exited
                return False
            if not data:
                return False
            self.output += data
        return True

    def screen_text(self) -> str:
        """What the app wrote, without control sequences (for failure messages)."""
        return CONTROL.sub("", self.output.decode(errors="replace"))[-3000:]

    def after_the_screen(self) -> list[str]:
        """The lines printed after the app gave the terminal back."""
        tail = self.output.rsplit(LEAVE_SCREEN, 1)[-1].decode(errors="replace")
        return [line for line in CONTROL.sub("", tail).splitlines() if line.strip()]

    def close(self) -> None:
        if self.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, 9)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
        os.close(self.fd)


@contextlib.contextmanager
def terminal(*args: str):
    env = {**os.environ, "TERM": "xterm-256color", "PYDANTIC_AI_NO_BANNER": "1"}
    term = Terminal(list(args), env)
    try:
        yield term
    finally:
        term.close()


def test_typing_at_once_in_a_real_terminal_sends_when_the_chat_is_ready(xsus_home):
    with terminal() as term:
        assert term.wait_for(b"ype a message") is not None  # the prompt's placeholder: the first frame
        term.send(b"hello\r")  # typed and sent at once, most likely before the chat has loaded
        # The turn has ended when the status line shows its figures (a streamed heading may be painted in pieces).
        assert term.wait_for(b"cost ") is not None, term.screen_text()  # `cost unknown` or `cost ?`: the demo
        term.send(b"\x11")  # Ctrl+Q
        assert term.wait_exit() == 0
        lines = term.after_the_screen()
        assert len(lines) == 1 and lines[0].startswith("Conversation saved"), lines
    transcript = subprocess.run(
        [sys.executable, "-m", "xsus_tui", "history", "export", "--latest"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "**You**\n\nhello" in transcript and "Hello from the demo model" in transcript


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--model", "nonsense:model"), "xsus: error: unknown model provider 'nonsense'"),
        (("--resume", "zzz"), "xsus: error: no conversation with id 'zzz'"),
    ],
)
def test_an_error_found_after_the_first_frame_is_one_line_on_the_restored_terminal(xsus_home, args, expected):
    with terminal(*args) as term:
        assert term.wait_for(b"ype a message") is not None
        assert term.wait_exit() == 2
        lines = term.after_the_screen()
        assert len(lines) == 1 and lines[0].startswith(expected), lines


def test_the_chat_ready_resumes_the_collector_and_warms_the_adapters_off_the_path(xsus_home):
    """In a fresh interpreter, as `xsus` starts: the collector paused, the demo chat loaded by the real ChatLoader.

    The message adapters are not built by importing the core (they were 0.1-0.2 s of the way to ready); once
    the chat is on screen the collector runs again (start-up's objects frozen out of it) and a daemon thread
    has built them; a message queued with Enter while starting is sent and saved."""
    code = """
import asyncio, gc, sys, threading
from xsus_tui import cli
from xsus_tui.config import Settings
from xsus_tui.loading import ChatLoader
from xsus_tui.process import pause_gc
from xsus_tui.ui.app import XsusApp
from xsus_tui.ui.screens.startup import StartupScreen

pause_gc()
assert not gc.isenabled()
args = cli.build_parser().parse_args([])

typed = sys.argv[1] == "typed"  # else nothing is sent: only the warm-up thread can build the adapters

from xsus_tui import loading
warm_up, seen = loading.warm_up, []

def watched_warm_up():  # whether the queued message's turn had begun when the warm-up thread did
    seen.append(app.screen.status.state != "idle" or bool(app.session.conversation.messages))
    warm_up()

loading.warm_up = watched_warm_up

from xsus_tui.ui.screens import chat as chat_screen
settle, frozen_at_open = chat_screen.settle_garbage, []

def watched_settle():  # the chat's first collection, when it opens: start-up is frozen by then, not walked
    if not frozen_at_open:
        frozen_at_open.append(gc.get_freeze_count())
    settle()

chat_screen.settle_garbage = watched_settle

class TypedFirst(ChatLoader):  # loads once the message is typed: queued while starting, however fast the machine

    async def build(self):
        await typed_in.wait()
        return await super().build()

async def main():
    global app, typed_in
    typed_in = asyncio.Event()
    app = XsusApp(loader=TypedFirst(args, Settings()))
    async with app.run_test(size=(100, 30)) as pilot:
        if typed:
            await pilot.press(*"hello", "enter")
            assert app.screen.submitted == "hello"
        typed_in.set()
        for _ in range(200):  # the chat screen in, then the collector and the warm-up thread started
            starting = [worker for worker in app.workers if worker.group == "startup" and not worker.is_finished]
            if not isinstance(app.screen, StartupScreen) and not starting:
                break
            await pilot.pause(0.05)
        from xsus_tui.core import adapters
        assert gc.isenabled() and gc.get_freeze_count() > 0, "the collector is still paused"
        for _ in range(600):  # typed: the warm-up waits for the queued message's turn to be on screen
            if seen:
                break
            await pilot.pause(0.05)
        for thread in threading.enumerate():
            if thread.name == "xsus-warm-up":
                thread.join(30)
        # Typed, it began once the turn was on screen (not racing it for the GIL); else as the chat came in.
        assert seen == [typed], seen
        assert frozen_at_open and frozen_at_open[0] > 100_000, frozen_at_open
        assert adapters.MESSAGES.pydantic_complete
        if not typed:
            return ["ModelRequest", "ModelResponse"]
        kinds = lambda: [type(m).__name__ for m in app.session.conversation.messages]
        for _ in range(600):  # the reply to the queued message, saved
            if "ModelResponse" in kinds() and not app.session.unsaved:
                break
            await pilot.pause(0.05)
        return kinds()

kinds = asyncio.run(main())
assert kinds[0] == "ModelRequest" and "ModelResponse" in kinds, kinds
from xsus_tui.core import store
assert store.SQLiteConversationStore  # imported by the loader, the adapters with it
print("ok")
"""
    probe = """
import sys
from xsus_tui.core import adapters, recording, store
sys.exit(1 if adapters.MESSAGES.pydantic_complete else 0)
"""
    env = {**os.environ, "PYDANTIC_AI_NO_BANNER": "1"}
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=env)
    assert imported.returncode == 0, "importing the store built the message adapters: " + imported.stderr
    for mode in ("quiet", "typed"):
        result = subprocess.run(
            [sys.executable, "-W", "error::RuntimeWarning", "-c", code, mode],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert result.returncode == 0 and result.stdout.strip() == "ok", mode + result.stdout + result.stderr


@pytest.mark.parametrize("kept", [False, True])
def test_an_enter_typed_before_the_tui_takes_the_terminal_stays_an_enter(kept):
    """Until Textual sets raw mode, the terminal turns Enter (CR) into a newline (LF), which Textual reads as
    Ctrl+J: `hello` Enter typed as xsus started became a second line in the prompt. Cleared ICRNL keeps the CR."""
    import contextlib
    import pty
    import select
    import termios
    import tty

    from xsus_tui.process import enter_typed_ahead_kept

    master, slave = pty.openpty()
    try:
        found = termios.tcgetattr(slave)
        assert found[0] & termios.ICRNL  # a terminal as shells leave it
        with enter_typed_ahead_kept(slave) if kept else contextlib.nullcontext():
            os.write(master, b"hello\r")  # typed ahead, while the app starts
            echoed = b""
            while len(echoed) < 6:  # the terminal has taken it in (and translated it, or not) once it echoes it
                assert select.select([master], [], [], 5)[0], echoed
                echoed += os.read(master, 100)
            tty.setraw(slave, termios.TCSANOW)  # what Textual's driver does when it starts
            assert select.select([slave], [], [], 5)[0]
            assert os.read(slave, 100) == (b"hello\r" if kept else b"hello\n")
            termios.tcsetattr(slave, termios.TCSANOW, found)  # Textual puts back what it found when it stops
        assert termios.tcgetattr(slave) == found  # and the terminal is left as it was
    finally:
        os.close(master)
        os.close(slave)


def test_with_no_terminal_on_stdin_enter_typed_ahead_has_nothing_to_keep(tmp_path):
    """`xsus serve` runs each session's chat with a pipe for stdin: no terminal settings to change, and no error
    (termios.error is not an OSError: it stopped every served chat before its first frame)."""
    from xsus_tui.process import enter_typed_ahead_kept

    read, write = os.pipe()
    try:
        with enter_typed_ahead_kept(read):
            pass
    finally:
        os.close(read)
        os.close(write)
