"""MCP servers from config.toml, attached to every turn as pydantic-ai toolsets.

Each server is a `pydantic_ai.mcp.MCPToolset` (stdio command or streamable-HTTP URL), prefixed with
its name like `load_mcp_toolsets` does. `McpServers.start()` enters them once for the whole chat,
so a stdio server is started once, not per turn; a server that fails to start is reported and left
out, and the chat goes on without it. `stop()` shuts every one down, also after errors, and also
one still starting, in about a second at most: a stdio server that doesn't exit once its stdin is
closed is terminated, then killed (with whatever it started: the MCP SDK gives it a process group).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

START_TIMEOUT = 30.0
STOP_GRACE = 0.5
"""Seconds the servers get to shut down when asked (a stdio server: its stdin closed), before SIGTERM."""
KILL_WAIT = 0.25
"""Seconds after SIGTERM before SIGKILL, and after SIGKILL before a server is given up on."""
METHOD_NOT_FOUND = -32601
"""JSON-RPC's code for a method the server doesn't have."""


def _answered_error() -> type[Exception] | tuple[()]:
    """The error an MCP server's answer raises (imported only when a server runs: `mcp` takes 0.3 s to import)."""
    try:
        from mcp.shared.exceptions import MCPError
    except ImportError:  # pragma: no cover - the mcp package comes with pydantic-ai-slim[mcp]
        return ()
    return MCPError


@dataclass
class McpServer:
    """One configured server and, once started, its toolset."""

    _: KW_ONLY
    name: str
    """The name in config.toml, also the prefix of its tools (`name_tool`)."""
    config: dict[str, Any]
    """`command`, `args`, `env`, `cwd` for stdio; `url`, `headers` for streamable HTTP."""
    toolset: Any = None
    """The prefixed MCPToolset while it runs."""
    inner: Any = None
    """The MCPToolset itself (to ask it for its tools)."""
    tools: list[str] = field(default_factory=list)
    """The tool names it offers (unprefixed)."""
    error: str | None = None
    """Why it could not start, if it could not."""
    pids: set[int] = field(default_factory=set)
    """Our child processes that appeared while it started: a stdio server's process (killed if it won't stop)."""


class McpServers:
    """The chat's MCP servers: started once, shut down on quit."""

    def __init__(self, configs: dict[str, dict[str, Any]]) -> None:
        self.servers = [McpServer(name=name, config=config) for name, config in configs.items()]
        self._stack = contextlib.AsyncExitStack()
        self._starting: asyncio.Task[Any] | None = None
        """The task running `start()`, while it runs (`stop()` cancels it)."""
        self._spawning: tuple[McpServer, set[int]] | None = None
        """The server being started, and our child processes from before it started."""

    @property
    def toolsets(self) -> list[Any]:
        """The toolsets of the servers that are running, for `run_stream_events(toolsets=...)`."""
        return [server.toolset for server in self.servers if server.toolset is not None]

    def summary(self) -> str:
        """`notes (2 tools), web (failed)` for the header."""
        parts = []
        for server in self.servers:
            state = (
                "stopped"
                if server.error and server.tools
                else "failed"
                if server.error
                else f"{len(server.tools)} tools"
            )
            parts.append(f"{server.name} ({state})")
        return ", ".join(parts)

    async def start(self) -> list[str]:
        """Start every server; returns one line per server that failed."""
        problems = []
        self._starting = asyncio.current_task()
        try:
            for server in self.servers:
                before = child_processes()
                self._spawning = (server, before)
                try:
                    async with asyncio.timeout(START_TIMEOUT):
                        await self._start(server)
                except Exception as error:  # one broken server must not stop the chat
                    server.error = f"{type(error).__name__}: {error}".splitlines()[0]
                    problems.append(f"MCP server {server.name!r} could not start: {server.error}")
                finally:
                    server.pids |= child_processes() - before
                    self._spawning = None
        finally:
            self._starting = None
        return problems

    async def _start(self, server: McpServer) -> None:
        from pydantic_ai.mcp import MCPToolset

        config = server.config
        if "command" in config:
            from fastmcp.client.transports import StdioTransport

            transport: Any = StdioTransport(
                command=config["command"],
                args=list(config.get("args", [])),
                env=config.get("env"),
                cwd=config.get("cwd"),
                keep_alive=False,  # we hold the connection for the whole chat; closing it ends the process
            )
            toolset = MCPToolset(transport, id=server.name)
        else:
            toolset = MCPToolset(config["url"], id=server.name, headers=config.get("headers"))
        await self._stack.enter_async_context(toolset)
        server.tools = [tool.name for tool in await toolset.list_tools()]
        server.inner, server.toolset = toolset, toolset.prefixed(server.name)

    async def check(self) -> list[str]:
        """Find the servers that stopped answering (checked before each turn), and leave them out from now on."""
        problems = []
        answered = _answered_error()
        for server in self.servers:
            if server.toolset is None or server.inner is None:
                continue
            try:
                async with asyncio.timeout(3):
                    await server.inner.client.ping()  # list_tools() would answer from its cache
            except Exception as error:
                if isinstance(error, answered) and getattr(error, "code", None) == METHOD_NOT_FOUND:
                    continue  # it answered, if only to say it doesn't do ping: it is alive
                server.toolset, server.error = None, f"{type(error).__name__}: {error}".splitlines()[0]
                problems.append(f"MCP server {server.name!r} stopped ({server.error}); the chat goes on without it.")
        return problems

    async def stop(self) -> None:
        """Shut every server down, also one still starting (idempotent); bounded at about a second.

        The servers are asked first (`STOP_GRACE`): the toolsets are exited, which closes a stdio
        server's stdin. The MCP SDK would then wait seconds per server, and a server that hangs while
        starting made quitting hang, so what hasn't ended by then is terminated, and then killed. A
        server still starting is terminated at once (its start is cancelled too).
        """
        starting, self._starting = self._starting, None
        if self._spawning is not None:  # its process exists, but start() hasn't recorded it yet
            server, before = self._spawning
            server.pids |= child_processes() - before
            # Still starting, it has no session to close: it is terminated at once.
            _signal(server.pids, signal.SIGTERM)
        stack, self._stack = self._stack, contextlib.AsyncExitStack()
        pending = {asyncio.ensure_future(_quietly(stack.aclose()))}
        if starting is not None and not starting.done() and starting is not asyncio.current_task():
            starting.cancel()
            pending.add(starting)
        pids = {pid for server in self.servers for pid in server.pids}
        for server in self.servers:
            server.toolset, server.pids = None, set()
        if await _ended(pending, pids, STOP_GRACE):
            return
        for signal_number in (signal.SIGTERM, getattr(signal, "SIGKILL", signal.SIGTERM)):
            _signal(pids & child_processes(), signal_number)
            if await _ended(pending, pids, KILL_WAIT):
                return


async def _quietly(closing: Any) -> None:
    with contextlib.suppress(Exception):
        await closing


async def _ended(tasks: set[asyncio.Future[Any]], pids: set[int], within: float) -> bool:
    """Wait up to `within` seconds for the tasks to end and the processes to exit; whether they did.

    Tasks that don't end are left running (with their exceptions retrieved, so nothing is printed).
    """
    deadline = time.monotonic() + within
    while any(not task.done() for task in tasks) or pids & child_processes():
        if time.monotonic() >= deadline:
            for task in tasks:
                task.add_done_callback(_retrieve)
            return False
        await asyncio.sleep(0.02)
    return True


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _signal(pids: set[int], signal_number: int) -> None:
    for pid in pids:
        try:
            os.killpg(pid, signal_number)  # its process group: the MCP SDK starts a server in a new session
        except (OSError, AttributeError):  # not a group leader (or no process groups: Windows)
            with contextlib.suppress(OSError):
                os.kill(pid, signal_number)


def child_processes() -> set[int]:
    """The process ids of this process's children that are running (not exited and waiting to be reaped)."""
    if sys.platform == "linux":
        children: set[int] = set()
        with contextlib.suppress(OSError):
            for thread in os.listdir("/proc/self/task"):
                with contextlib.suppress(OSError), open(f"/proc/self/task/{thread}/children") as listing:
                    children.update(int(pid) for pid in listing.read().split())
        return {pid for pid in children if _running(pid)}
    try:  # elsewhere: ps (POSIX)
        listing = subprocess.run(
            ["ps", "-A", "-o", "pid=,ppid=,stat="], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    me = os.getpid()
    rows = (line.split() for line in listing.splitlines())
    return {int(row[0]) for row in rows if len(row) >= 3 and int(row[1]) == me and not row[2].startswith("Z")}


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
