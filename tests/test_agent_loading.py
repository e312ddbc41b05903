"""A slow or hanging `--agent` import shows something, and Ctrl+Q / Ctrl+C abandon it with one line.

The agent is loaded after the first frame, in a daemon thread, while the start-up screen shows
`loading agent FILE:NAME · N s`.
"""

from __future__ import annotations

import re
import textwrap

import pytest

from benchmarks.terminal import CTRL_Q

from .terminal_helpers import PLACEHOLDER, after_the_screen, spawn, wait_exit

QUIT_WITHIN = 2.0
CTRL_C = b"\x03"

HANGING = textwrap.dedent(
    """
    import time
    while True:  # an import that never ends (a server it waits for, say)
        time.sleep(0.1)
    """
)
SLOW = textwrap.dedent(
    """
    import time
    from pydantic_ai import Agent
    time.sleep(2.5)
    agent = Agent("test")
    """
)


@pytest.mark.parametrize(("key", "name"), [(CTRL_Q, "ctrl+q"), (CTRL_C, "ctrl+c")])
def test_a_hanging_import_shows_its_time_and_quitting_abandons_it(xsus_home, tmp_path, key, name):
    (tmp_path / "app.py").write_text(HANGING)
    with spawn(xsus_home, "--agent", f"{tmp_path / 'app.py'}:support") as term:
        assert term.wait_for(PLACEHOLDER, timeout=60) is not None, term.last_words()
        assert term.wait_for(b"loading agent app.py:support", timeout=60) is not None, term.last_words()
        assert term.wait_for(b"app.py:support \xc2\xb7 2 s", timeout=60) is not None, term.last_words()  # it counts
        sent = term.send(key)
        status, ended = wait_exit(term, timeout=30)
        assert status is not None, f"{name}: still running 30 s later: {term.last_words()}"
        lines = after_the_screen(term)
    assert ended - sent < QUIT_WITHIN, f"{name}: {ended - sent:.2f} s to exit"
    assert status == 130, (status, lines)
    assert len(lines) == 1 and re.fullmatch(
        r"xsus: quit while loading agent \S*app\.py:support \(\d+ s\): the load was abandoned", lines[0]
    ), lines


def test_a_slow_import_is_shown_then_the_chat_starts(xsus_home, tmp_path):
    (tmp_path / "slow.py").write_text(SLOW)
    with spawn(xsus_home, "--agent", f"{tmp_path / 'slow.py'}:agent") as term:
        assert term.wait_for(PLACEHOLDER, timeout=60) is not None, term.last_words()
        assert term.wait_for(b"loading agent slow.py:agent", timeout=60) is not None, term.last_words()
        assert term.wait_for(b"agent agent", timeout=60) is not None, term.last_words()  # the chat's header
        term.send(CTRL_Q)
        status, _ = wait_exit(term, timeout=30)
    assert status == 0, (status, after_the_screen(term))


def test_a_load_error_is_one_line_after_the_terminal_is_restored(xsus_home, tmp_path):
    (tmp_path / "broken.py").write_text("import time\ntime.sleep(1.5)\nraise RuntimeError('no database')\n")
    with spawn(xsus_home, "--agent", f"{tmp_path / 'broken.py'}:agent") as term:
        assert term.wait_for(b"loading agent broken.py:agent", timeout=60) is not None, term.last_words()
        status, _ = wait_exit(term, timeout=60)
        lines = after_the_screen(term)
    assert status == 2, (status, lines)
    assert len(lines) == 1 and lines[0].startswith("xsus: error: "), lines
    assert "RuntimeError: no database" in lines[0] and "broken.py:3" in lines[0], lines
