"""No terminal, no hang: the chat says at once that it needs one; the other commands work without.

`echo hi | xsus` used to draw the TUI into stderr and hang, and `xsus -c </dev/null` in the background
spun at 80% CPU.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time

import pytest

from .test_cli import seed

ANSWER_WITHIN = 10.0
"""Seconds for the refusal (generous for a loaded machine; it is about 0.1 s: no pydantic-ai import)."""


def run(args: list[str], **streams) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xsus_tui", *args], text=True, timeout=60, env=os.environ.copy(), **streams
    )


def assert_refused(result: subprocess.CompletedProcess[str], took: float) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines[:5]
    assert lines[0].startswith("xsus: error: the chat needs a terminal"), lines[0]
    assert "xsus history export --latest" in lines[0]
    assert "`xsus ask`" in lines[0]  # what works without a terminal
    assert "\x1b" not in result.stderr  # no screen was drawn
    assert took < ANSWER_WITHIN


@pytest.mark.parametrize("args", [[], ["-c"], ["--model", "demo"], ["--agent", "anything.py:agent"]])
def test_the_chat_without_a_terminal_says_so_at_once(args):
    started = time.monotonic()
    result = run(args, input="hi\n", capture_output=True)  # `echo hi | xsus`
    assert_refused(result, time.monotonic() - started)


def test_stdin_from_dev_null_with_stderr_on_a_terminal():
    """`xsus -c </dev/null` from a terminal (in the background, say): stdin is not a terminal."""
    main, secondary = pty.openpty()
    try:
        started = time.monotonic()
        result = run(["-c"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=secondary)
        took = time.monotonic() - started
        os.close(secondary)
        secondary = -1
        written = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            written += chunk
    finally:
        os.close(main)
        if secondary >= 0:
            os.close(secondary)
    stderr = written.decode(errors="replace").replace("\r\n", "\n")
    assert_refused(subprocess.CompletedProcess(result.args, result.returncode, result.stdout, stderr), took)


def test_the_refusal_comes_before_pydantic_ai_is_imported():
    code = (
        "import sys\n"
        "from xsus_tui.cli import main\n"
        "code = main([])\n"
        "heavy = sorted({n.split('.')[0] for n in sys.modules} & {'pydantic_ai', 'textual', 'mcp', 'openai'})\n"
        "print(code, heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "2 []", result.stdout + result.stderr


def test_history_config_and_version_work_without_a_terminal(xsus_home):
    seed(xsus_home, ["piped"])
    streams = {"stdin": subprocess.DEVNULL, "capture_output": True}
    exported = run(["history", "export", "--latest"], **streams)
    assert exported.returncode == 0 and "**You**\n\npiped" in exported.stdout, exported.stderr
    listed = run(["history", "list"], **streams)
    assert listed.returncode == 0 and "piped" in listed.stdout
    assert run(["config", "path"], **streams).stdout.strip() == str(xsus_home / "config.toml")
    assert run(["config", "show"], **streams).returncode == 0
    assert run(["--version"], **streams).stdout.startswith("xsus ")
