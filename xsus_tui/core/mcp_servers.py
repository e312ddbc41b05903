"""MCP servers from config.toml, attached to every turn as pydantic-ai toolsets.

Each server is a `pydantic_ai.mcp.MCPToolset` (stdio command or streamable-HTTP URL), prefixed with
its name like `load_mcp_toolsets` does. `McpServers.start()` enters them once for the whole chat,
so a stdio server is started once, not per turn; a server that fails to start is reported and left
out, and the chat goes on without it. `stop()` shuts every one down, also after errors.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

START_TIMEOUT = 30.0
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


class McpServers:
    """The chat's MCP servers: started once, shut down on quit."""

    def __init__(self, configs: dict[str, dict[str, Any]]) -> None:
        self.servers = [McpServer(name=name, config=config) for name, config in configs.items()]
        self._stack = contextlib.AsyncExitStack()

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
        for server in self.servers:
            try:
                async with asyncio.timeout(START_TIMEOUT):
                    await self._start(server)
            except Exception as error:  # one broken server must not stop the chat
                server.error = f"{type(error).__name__}: {error}".splitlines()[0]
                problems.append(f"MCP server {server.name!r} could not start: {server.error}")
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
        """Shut every started server down (idempotent)."""
        stack, self._stack = self._stack, contextlib.AsyncExitStack()
        with contextlib.suppress(Exception):
            await stack.aclose()
        for server in self.servers:
            server.toolset = None
