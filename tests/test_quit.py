"""Quit always quits: Ctrl+Q ends the process within 2 s whatever is still running.

In a real pseudo-terminal: an MCP server that never answers `initialize` (its process must be gone
afterwards), and an --agent whose sync tool never returns (its thread must not hold the exit).
"""

from __future__ import annotations

import os
import sys
import textwrap
import time

from pydantic_ai.messages import ModelRequest, ModelResponse, ToolCallPart, UserPromptPart

from benchmarks.terminal import CTRL_Q

from .terminal_helpers import PLACEHOLDER, after_the_screen, alive, latest_messages, spawn, wait_exit

QUIT_WITHIN = 2.0
"""Seconds from Ctrl+Q to the process's end (measured: 0.2-0.5 s on an idle 2-core machine)."""

SILENT_MCP_SERVER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    Path(os.environ["PIDFILE"]).write_text(str(os.getpid()))
    sys.stdin.readline()  # the client's `initialize`, never answered
    while True:
        time.sleep(60)
    """
)

BLOCKING_TOOL_AGENT = textwrap.dedent(
    """
    import os, threading
    from pathlib import Path

    from pydantic_ai import Agent
    from pydantic_ai.messages import ToolReturnPart
    from pydantic_ai.models.function import DeltaToolCall, FunctionModel

    async def stream(messages, info):
        if any(isinstance(part, ToolReturnPart) for part in messages[-1].parts):
            yield "never reached"
            return
        yield "Looking it up. "
        yield {0: DeltaToolCall(name="lookup", json_args='{"what": "x"}', tool_call_id="c1")}

    agent = Agent(FunctionModel(stream_function=stream))

    @agent.tool_plain
    def lookup(what: str) -> str:
        \"\"\"A sync tool that never returns (a socket without a timeout, say).\"\"\"
        Path(os.environ["TOOL_STARTED"]).write_text("started")
        threading.Event().wait()
        return "never"
    """
)


def quit_and_time(term) -> tuple[int | None, float]:
    sent = term.send(CTRL_Q)
    status, ended = wait_exit(term, timeout=30)
    assert status is not None, f"still running 30 s after Ctrl+Q: {term.last_words()}"
    return status, ended - sent


def wait_for_file(term, path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path.name} never appeared: {term.last_words()}"
        term.pump(0.05)


def test_quit_while_an_mcp_server_is_still_starting_ends_it_too(xsus_home, tmp_path):
    server = tmp_path / "silent_server.py"
    server.write_text(SILENT_MCP_SERVER)
    pidfile = tmp_path / "server.pid"
    xsus_home.mkdir(parents=True)
    (xsus_home / "config.toml").write_text(
        f"[mcp_servers.silent]\ncommand = {sys.executable!r}\nargs = [{str(server)!r}]\n"
        f"env = {{ PIDFILE = {str(pidfile)!r} }}\n"
    )
    child = None
    try:
        with spawn(xsus_home) as term:
            assert term.wait_for(b"starting MCP servers", timeout=60) is not None, term.last_words()
            wait_for_file(term, pidfile)
            child = int(pidfile.read_text())
            assert alive(child)
            status, took = quit_and_time(term)
        assert took < QUIT_WITHIN, f"{took:.2f} s from Ctrl+Q to exit"
        assert status == 0, (status, after_the_screen(term))
        assert after_the_screen(term) == []  # nothing was said, so nothing to save
        assert not alive(child), "the MCP server outlived xsus"  # stopped before the exit, not after
    finally:
        if child is not None and alive(child):
            os.kill(child, 9)


def test_quit_while_a_sync_tool_never_returns(xsus_home, tmp_path):
    agent = tmp_path / "blocking_agent.py"
    agent.write_text(BLOCKING_TOOL_AGENT)
    started = tmp_path / "tool-started"
    with spawn(xsus_home, "--agent", f"{agent}:agent", TOOL_STARTED=str(started)) as term:
        assert term.wait_for(PLACEHOLDER, timeout=60) is not None, term.last_words()
        term.send(b"look it up\r")
        wait_for_file(term, started)
        status, took = quit_and_time(term)
        lines = after_the_screen(term)
    assert took < QUIT_WITHIN, f"{took:.2f} s from Ctrl+Q to exit"
    assert status == 0, (status, lines)
    assert len(lines) == 1 and lines[0].startswith("Conversation saved"), lines
    messages = latest_messages(xsus_home)
    assert isinstance(messages[0], ModelRequest) and isinstance(messages[0].parts[0], UserPromptPart)
    assert messages[0].parts[0].content == "look it up"
    # The model's reply up to the tool call is kept.
    response = next(m for m in messages if isinstance(m, ModelResponse))
    assert any(isinstance(p, ToolCallPart) and p.tool_name == "lookup" for p in response.parts), messages
