"""Driving the real app in a pseudo-terminal, for the benchmarks that measure what a user sees.

    with Terminal.spawn(["--agent", "benchmarks/agents.py:paced"], env=bench_env(home)) as term:
        painted = term.wait_for(PLACEHOLDER, timeout=30)   # the monotonic time its bytes arrived
        pressed = term.send(ENTER)

`Terminal.spawn` runs `python -m xsus_tui ARGS` as the session leader of a new pseudo-terminal of the
given size. Everything the app writes is read as it arrives and kept, each chunk with the
`time.monotonic()` at which it was read; a marker's arrival time is that of the chunk that completed
it. All times are `time.monotonic()` (CLOCK_MONOTONIC on Linux, so comparable with times another
process took the same way). Reading happens only inside the calls that wait (`wait_for`, `sleep`,
`wait_quiet`...), so call one of them while the app runs, or its writes block once the pty buffer
is full.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import sys
import tempfile
import termios
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

XSUS = [sys.executable, "-m", "xsus_tui"]
ROOT = Path(__file__).resolve().parent.parent

PLACEHOLDER = b"ype a message"
"""The empty prompt's placeholder ("Type a message · ..."), as painted: without its first letter, which is
drawn apart (in the cursor's colours) while the cursor is shown on it, so that `b"Type a message"` only
arrives when the cursor first blinks off, about a second after the frame."""

TURN_ENDED = re.compile(rb"(first token|ttft) \d+ ms")
"""The status line shows a turn's figures only once it has ended: `first token 14 ms`, or `ttft 14 ms` when
short of room (at 100 or 110 columns, with the usage figures beside it)."""

ENTER = b"\r"
CTRL_Q = b"\x11"
CTRL_U = b"\x15"
"""Deletes from the cursor to the start of the line in the prompt (a TextArea)."""
ESCAPE = b"\x1b"
PAGE_UP = b"\x1b[5~"
PAGE_DOWN = b"\x1b[6~"
CTRL_HOME = b"\x1b[1;5H"
CTRL_END = b"\x1b[1;5F"


def bench_env(home: str | Path, **extra: str) -> dict[str, str]:
    """The environment the benchmarks run the app in: its own XSUS_HOME, xterm-256color, no banner."""
    return {
        **os.environ,
        "XSUS_HOME": str(home),
        "TERM": "xterm-256color",
        "PYDANTIC_AI_NO_BANNER": "1",
        **extra,
    }


@contextlib.contextmanager
def fresh_home() -> Iterator[Path]:
    """A temporary XSUS_HOME, removed afterwards."""
    home = tempfile.mkdtemp(prefix="xsus-bench-")
    try:
        yield Path(home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value at `fraction` of the sorted values (nearest rank, as benchmarks/interrupt.py)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Terminal:
    """One run of the app in a pseudo-terminal, and everything it wrote."""

    def __init__(self, pid: int, fd: int, started: float) -> None:
        self.pid = pid
        self.fd = fd
        self.started = started
        """`time.monotonic()` just before the process was forked."""
        self.output = bytearray()
        """Every byte the app has written to the terminal so far."""
        self._ends: list[int] = []
        self._times: list[float] = []
        self.closed = False
        """Whether the app has closed the terminal (it exited)."""
        self.exit_status: int | None = None

    @classmethod
    def spawn(
        cls,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        size: tuple[int, int] = (100, 30),
        cwd: str | Path | None = ROOT,
        command: Sequence[str] = XSUS,
    ) -> Terminal:
        """Start `python -m xsus_tui ARGS` in a new pseudo-terminal of `size` (columns, rows)."""
        argv = [*command, *args]
        environment = dict(os.environ if env is None else env)
        columns, rows = size
        started = time.monotonic()
        pid, fd = pty.fork()
        if pid == 0:  # the child: sets its terminal's size before anything can read it, then becomes xsus
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
                if cwd is not None:
                    os.chdir(cwd)
                os.execvpe(argv[0], argv, environment)
            finally:
                os._exit(127)
        return cls(pid, fd, started)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------------------

    def pump(self, timeout: float) -> bool:
        """Read what the app writes within `timeout` seconds (returns after the first read); False at EOF."""
        if self.closed:
            return False
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return True
        try:
            data = os.read(self.fd, 1 << 16)
        except OSError:  # EIO: the app closed the terminal
            data = b""
        now = time.monotonic()
        if not data:
            self.closed = True
            return False
        self.output += data
        self._ends.append(len(self.output))
        self._times.append(now)
        return True

    def arrival(self, offset: int) -> float:
        """When the byte at `offset` of the output arrived."""
        return self._times[bisect.bisect_right(self._ends, offset)]

    def offset_at(self, when: float) -> int:
        """How many bytes of output had arrived by `when` (a `time.monotonic()`)."""
        index = bisect.bisect_right(self._times, when)
        return self._ends[index - 1] if index else 0

    def find(self, marker: bytes, start: int = 0) -> int:
        """Where `marker` first occurs at or after `start` in the output, or -1."""
        return self.output.find(marker, start)

    def wait_for(self, marker: bytes, *, start: int = 0, timeout: float = 30.0) -> float | None:
        """The arrival time of the first `marker` that starts at or after output offset `start`.

        Waits up to `timeout` seconds for it; None if it doesn't come (or the app exits first).
        """
        found = self.wait_offset(marker, start=start, timeout=timeout)
        return None if found < 0 else self.arrival(found + len(marker) - 1)

    def wait_offset(self, marker: bytes, *, start: int = 0, timeout: float = 30.0) -> int:
        """Like `wait_for`, but returns the marker's offset in the output (-1 on timeout)."""
        deadline = time.monotonic() + timeout
        scan = start
        while True:
            found = self.output.find(marker, scan)
            if found >= 0:
                return found
            scan = max(start, len(self.output) - len(marker) + 1)
            left = deadline - time.monotonic()
            if left <= 0 or not self.pump(min(left, 0.1)):
                found = self.output.find(marker, scan)
                return found

    def wait_match(self, pattern: re.Pattern[bytes], *, start: int = 0, timeout: float = 30.0) -> re.Match | None:
        """The first match of `pattern` at or after output offset `start`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not (match := pattern.search(self.output, start)):
            left = deadline - time.monotonic()
            if left <= 0 or not self.pump(min(left, 0.1)):
                return pattern.search(self.output, start)
        return match

    def wait_bytes(self, count: int, *, start: int, timeout: float) -> float | None:
        """The arrival time of the output's byte `start + count - 1` (`count` bytes written after `start`)."""
        deadline = time.monotonic() + timeout
        while len(self.output) < start + count:
            left = deadline - time.monotonic()
            if left <= 0 or not self.pump(min(left, 0.1)):
                return None
        return self.arrival(start + count - 1)

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, reading what the app writes meanwhile."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if not self.pump(left):
                time.sleep(left)
                return

    def wait_quiet(self, quiet: float, *, timeout: float) -> bool:
        """Wait until the app has written nothing for `quiet` seconds; False if that takes over `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self._times[-1] if self._times else self.started
            left = last + quiet - time.monotonic()
            if left <= 0:
                return True
            if not self.pump(min(left, deadline - time.monotonic())):
                return True
        return False

    def wait_still(self, quiet: float, *, ignore_below: int, timeout: float) -> float | None:
        """Wait until no burst of `ignore_below` bytes or more has arrived for `quiet` seconds.

        A burst is writes less than 20 ms apart; smaller ones (a blinking cursor) don't count. The quiet
        time is counted from the call at the earliest. Returns the arrival time of the last such burst
        (the call's time if none came), or None if the screen wasn't still within `timeout` seconds.
        """
        now = time.monotonic()
        deadline = now + timeout
        index, last_big = len(self._times), now
        burst, burst_end = 0, float("-inf")
        while now < deadline:
            while index < len(self._times):
                arrived = self._times[index]
                size = self._ends[index] - (self._ends[index - 1] if index else 0)
                burst = size if arrived - burst_end > 0.02 else burst + size
                burst_end = arrived
                if burst >= ignore_below:
                    last_big = arrived
                index += 1
            left = last_big + quiet - now
            if left <= 0 or not self.pump(min(left, deadline - now)):
                return last_big
            now = time.monotonic()
        return None

    def text(self, start: int = 0) -> str:
        """The output from `start` as text, escape sequences removed (for error messages)."""
        plain = re.sub(
            rb"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-_])", b"", bytes(self.output[start:])
        )
        return plain.decode(errors="replace")

    def last_words(self, lines: int = 3) -> str:
        """The last non-blank lines the app wrote, for saying why it stopped."""
        kept = [line.strip() for line in self.text(max(0, len(self.output) - 20000)).splitlines() if line.strip()]
        return " / ".join(kept[-lines:])

    # -- writing ----------------------------------------------------------------------------------------

    def send(self, keys: bytes | str) -> float:
        """Write `keys` to the terminal as typed; returns the `time.monotonic()` just before the write."""
        data = keys.encode() if isinstance(keys, str) else keys
        now = time.monotonic()
        os.write(self.fd, data)
        return now

    # -- the process ------------------------------------------------------------------------------------

    def peak_rss_mb(self) -> float | None:
        """The app's peak resident memory so far (VmHWM), in MB; None once it has gone."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None

    def close(self, timeout: float = 5.0) -> int | None:
        """Quit with Ctrl+Q and reap the app (SIGKILL after `timeout` seconds); returns its exit status."""
        if self.exit_status is not None:
            return self.exit_status
        with contextlib.suppress(OSError):
            if not self.closed:
                os.write(self.fd, CTRL_Q)
        deadline = time.monotonic() + timeout
        status = None
        while status is None and time.monotonic() < deadline:
            pid, raw = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                status = raw
            elif not self.pump(0.05):  # keep reading: an app blocked on a full pty never exits
                time.sleep(0.01)
        if status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                _, status = os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.closed = True
        self.exit_status = os.waitstatus_to_exitcode(status) if status is not None else -1
        return self.exit_status
