"""MCP servers from config: started once, their tools in the panels, shut down on quit, failures survived."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from pydantic_ai.models.function import DeltaToolCall

from xsus_tui.core.mcp_servers import McpServers
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore
from xsus_tui.ui.app import XsusApp
from xsus_tui.ui.widgets.tool_panel import ToolPanel

from ..core.helpers import chat_agent
from ..ui.helpers import SIZE, screen_text, send, wait_for, wait_idle

SERVER = Path(__file__).with_name("mcp_server.py")


def alive(pid: int) -> bool:
    """Whether the process exists and has not exited (an exited child not yet reaped is a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def calls_add():
    async def stream(messages, info):
        if any(p.part_kind == "user-prompt" for p in messages[-1].parts):
            assert "calc_add" in [t.name for t in info.function_tools]
            yield {0: DeltaToolCall(name="calc_add", json_args='{"a": 20, "b": 22}', tool_call_id="m")}
        else:
            yield "The server says 42."

    return chat_agent(stream)


async def test_a_stdio_server_is_started_once_used_and_shut_down_on_quit(tmp_path):
    pidfile = tmp_path / "pid"
    servers = McpServers(
        {
            "calc": {"command": sys.executable, "args": [str(SERVER)], "env": {"PIDFILE": str(pidfile)}},
            "broken": {"command": str(tmp_path / "no-such-server")},
        }
    )
    store = SQLiteConversationStore.open(tmp_path / "history.db")
    app = XsusApp(ChatSession(calls_add(), store), mcp=servers)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await wait_for(pilot, lambda: "mcp:" in screen.sub_title, within=20)
        assert "calc (2 tools)" in screen.sub_title and "broken (failed)" in screen.sub_title
        await wait_for(pilot, lambda: "MCP server 'broken' could not start" in screen_text(app))
        pid = int(pidfile.read_text())
        for prompt in ("add them", "again"):
            await send(pilot, prompt)
            await wait_idle(pilot, within=10)
            assert screen.replies[-1].text == "The server says 42."
        panels = list(screen.query(ToolPanel))
        assert [p.state for p in panels] == ["done", "done"] and "42" in str(panels[0].children[-1].render())
        assert int(pidfile.read_text()) == pid and alive(pid)  # one process for the whole chat
        await pilot.press("ctrl+q")
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not alive(pid)
    store.close()


async def test_a_server_that_dies_is_reported_and_the_chat_goes_on(tmp_path):
    import signal

    pidfile = tmp_path / "pid"
    servers = McpServers({"calc": {"command": sys.executable, "args": [str(SERVER)], "env": {"PIDFILE": str(pidfile)}}})

    async def stream(messages, info):
        names = [t.name for t in info.function_tools]
        yield f"tools: {names}"

    store = SQLiteConversationStore.open(tmp_path / "history.db")
    app = XsusApp(ChatSession(chat_agent(stream), store, retries=0), mcp=servers)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await wait_for(pilot, lambda: "mcp:" in screen.sub_title, within=20)
        await send(pilot, "first")
        await wait_idle(pilot, within=10)
        assert "calc_add" in screen.replies[-1].text
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
        await asyncio.sleep(0.3)
        await send(pilot, "second")
        await wait_idle(pilot, within=15)
        assert "calc (stopped)" in screen.sub_title and "MCP server 'calc' stopped" in screen_text(app)
        assert screen.replies[-1].text == "tools: []"  # the turn went on without it
        await pilot.press("ctrl+q")
    store.close()


async def test_a_streamable_http_server(tmp_path):
    import socket
    import subprocess

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                await asyncio.sleep(0.1)
        servers = McpServers({"web": {"url": f"http://127.0.0.1:{port}/mcp"}})
        assert await servers.start() == []
        assert servers.summary() == "web (2 tools)"

        async def stream(messages, info):
            if any(p.part_kind == "user-prompt" for p in messages[-1].parts):
                yield {0: DeltaToolCall(name="web_shout", json_args='{"text": "hello"}', tool_call_id="s")}
            else:
                yield "ok"

        session = ChatSession(chat_agent(stream), None, toolsets=servers.toolsets)
        events = [event async for event in session.run_turn("shout")]
        results = [e.result for e in events if type(e).__name__ == "ToolCallFinished"]
        assert results == ["HELLO"]
        await servers.stop()
    finally:
        process.terminate()
        process.wait(10)
