"""Start-up: `xsus --version`, and the TUI from process start to its first painted frame.

    .venv/bin/python -m benchmarks.startup [--runs 10]

The TUI runs in a real pseudo-terminal (100x30) on the demo model with a fresh XSUS_HOME; the first
frame counts as painted when the terminal has received the prompt's placeholder text.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

XSUS = [sys.executable, "-m", "xsus_tui"]
MARKER = b"Type a message"


def version_time() -> float:
    started = time.perf_counter()
    subprocess.run([*XSUS, "--version"], check=True, capture_output=True)
    return time.perf_counter() - started


def first_paint_time(home: str) -> float:
    env = {**os.environ, "XSUS_HOME": home, "TERM": "xterm-256color", "PYDANTIC_AI_NO_BANNER": "1"}
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes xsus in the pseudo-terminal
        os.execvpe(XSUS[0], XSUS, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    seen = b""
    try:
        while time.perf_counter() - started < 30:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
                if MARKER in seen:
                    return time.perf_counter() - started
        raise RuntimeError("the TUI did not paint within 30 s")
    finally:
        os.write(fd, b"\x11")  # Ctrl+Q
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
            time.sleep(0.05)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description="start-up times of xsus")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/startup.json"))
    args = parser.parse_args()
    versions = [version_time() for _ in range(args.runs)]
    paints = []
    for _ in range(args.runs):
        home = tempfile.mkdtemp(prefix="xsus-bench-")
        try:
            paints.append(first_paint_time(home))
        finally:
            shutil.rmtree(home, ignore_errors=True)
    figures = {
        "runs": args.runs,
        "version_p50_ms": round(statistics.median(versions) * 1000, 1),
        "first_paint_p50_ms": round(statistics.median(paints) * 1000, 1),
        "first_paint_max_ms": round(max(paints) * 1000, 1),
    }
    print(f"{'benchmark':<26}{'runs':>6}{'p50 ms':>10}{'max ms':>10}")
    print(f"{'xsus --version':<26}{args.runs:>6}{figures['version_p50_ms']:>10}{max(versions) * 1000:>10.1f}")
    print(
        f"{'TUI first paint':<26}{args.runs:>6}{figures['first_paint_p50_ms']:>10}{figures['first_paint_max_ms']:>10}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
