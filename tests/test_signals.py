"""Closing the terminal is a quit: SIGTERM and SIGHUP save the partial reply like Ctrl+Q, and restore the terminal.

In a real pseudo-terminal, on the demo model: send `long`, wait for its text, then the signal.
"""

from __future__ import annotations

import os
import signal
import time

from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart

from .terminal_helpers import PLACEHOLDER, after_the_screen, latest_messages, spawn, wait_exit

LONG_REPLY_TEXT = b"Pressing Esc"
"""Words from the demo model's long reply (core/demo_text.py), painted once it is streaming."""
EXIT_WITHIN = 2.0
"""Seconds from the signal to the process's end (measured: about 0.3 s on an idle 2-core machine)."""
MOUSE_ON = (b"\x1b[?1000h", b"\x1b[?1003h", b"\x1b[?1006h")
MOUSE_OFF = (b"\x1b[?1000l", b"\x1b[?1003l", b"\x1b[?1006l")


def stream_long_reply(term) -> None:
    assert term.wait_for(PLACEHOLDER, timeout=60) is not None, term.last_words()
    term.send(b"long\r")
    assert term.wait_for(LONG_REPLY_TEXT, timeout=60) is not None, term.last_words()


def assert_partial_reply_saved(home) -> None:
    messages = latest_messages(home)
    assert isinstance(messages[0], ModelRequest) and isinstance(messages[0].parts[0], UserPromptPart)
    assert messages[0].parts[0].content == "long"
    assert isinstance(messages[-1], ModelResponse), messages  # the partial reply, not just the prompt
    text = "".join(p.content for p in messages[-1].parts if isinstance(p, TextPart))
    assert "Pressing Esc" in text, text


def test_sigterm_saves_the_partial_reply_and_restores_the_terminal(xsus_home):
    with spawn(xsus_home, XSUS_DEMO_DELAY="0.02") as term:
        stream_long_reply(term)
        sent = time.monotonic()
        os.kill(term.pid, signal.SIGTERM)
        status, ended = wait_exit(term, timeout=30)
        assert status is not None, "still running 30 s after SIGTERM"
        output = bytes(term.output)
        lines = after_the_screen(term)
    assert ended - sent < EXIT_WITHIN, f"{ended - sent:.2f} s from SIGTERM to exit"
    assert status == 0, (status, lines)
    # The terminal is given back: the alternate screen left and mouse reporting off, after the last frame.
    assert output.rfind(b"\x1b[?1049l") > output.rfind(b"\x1b[?1049h") >= 0
    for on, off in zip(MOUSE_ON, MOUSE_OFF, strict=True):
        assert output.rfind(off) > output.rfind(on) >= 0, on
    assert output.rfind(b"\x1b[?1049l") > output.rfind(LONG_REPLY_TEXT)
    assert len(lines) == 1 and lines[0].startswith("Conversation saved"), lines
    assert_partial_reply_saved(xsus_home)


def test_closing_the_terminal_saves_the_partial_reply(xsus_home):
    """The terminal window closed (or `tmux kill-session`): the pty's master side goes, xsus gets SIGHUP."""
    with spawn(xsus_home, XSUS_DEMO_DELAY="0.02") as term:
        stream_long_reply(term)
        sent = time.monotonic()
        os.close(term.fd)
        term.closed = True
        status, ended = wait_exit(term, timeout=30)
        assert status is not None, "still running 30 s after the terminal closed"
    assert ended - sent < EXIT_WITHIN, f"{ended - sent:.2f} s from SIGHUP to exit"
    assert status == 0, status
    assert_partial_reply_saved(xsus_home)


def test_sighup_on_its_own_saves_the_partial_reply(xsus_home):
    """`kill -HUP` with the terminal still there: the same quit, and the terminal is restored."""
    with spawn(xsus_home, XSUS_DEMO_DELAY="0.02") as term:
        stream_long_reply(term)
        sent = time.monotonic()
        os.kill(term.pid, signal.SIGHUP)
        status, ended = wait_exit(term, timeout=30)
        assert status is not None, "still running 30 s after SIGHUP"
    assert ended - sent < EXIT_WITHIN, f"{ended - sent:.2f} s from SIGHUP to exit"
    assert status == 0, status
    assert_partial_reply_saved(xsus_home)
