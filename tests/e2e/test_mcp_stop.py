"""Stopping MCP servers is bounded: one that won't exit is terminated, then killed, with what it started."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from pathlib import Path

from xsus_tui.core.mcp_servers import McpServers, child_processes

from ..terminal_helpers import alive

SERVER = Path(__file__).with_name("mcp_server.py")
STUBBORN = textwrap.dedent(
    f"""
    import runpy, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(sys.argv[1], "w").write(str(grandchild.pid))
    runpy.run_path({str(SERVER)!r}, run_name="__main__")  # serves until its stdin closes
    while True:  # ...and then won't exit
        time.sleep(60)
    """
)


async def test_a_server_that_ignores_its_closed_stdin_and_sigterm_is_killed_with_its_children(tmp_path):
    script, grandchild_file = tmp_path / "stubborn.py", tmp_path / "grandchild.pid"
    script.write_text(STUBBORN)
    servers = McpServers({"stubborn": {"command": sys.executable, "args": [str(script), str(grandchild_file)]}})
    assert await servers.start() == []
    (server,) = servers.servers
    assert server.tools == ["add", "shout"] and len(server.pids) == 1
    (pid,) = server.pids
    grandchild = int(grandchild_file.read_text())
    started = time.monotonic()
    await servers.stop()
    took = time.monotonic() - started
    assert not alive(pid) and not alive(grandchild)
    assert 0.5 < took < 2.0, took  # the grace, SIGTERM (ignored), SIGKILL
    assert pid not in child_processes()
    await servers.stop()  # again: nothing left to do


async def test_stopping_a_server_that_is_still_starting_cancels_the_start(tmp_path):
    script = tmp_path / "silent.py"
    script.write_text("import sys, time\nsys.stdin.readline()\ntime.sleep(600)\n")
    servers = McpServers({"silent": {"command": sys.executable, "args": [str(script)]}})
    starting = asyncio.create_task(servers.start())
    deadline = time.monotonic() + 20
    while not child_processes() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    (pid,) = child_processes()
    started = time.monotonic()
    await servers.stop()
    assert time.monotonic() - started < 1.0
    assert not alive(pid) and starting.cancelled()
