"""The Textual application: gets its session in the constructor, or a loader that builds it after the first frame.

With a loader (how `xsus` starts), the first screen is the light `StartupScreen`: this module and that
screen import Textual only, not pydantic-ai or mcp, so the chat's frame is on screen a few hundred
milliseconds after the process starts. Once that frame is painted, a worker runs the loader (which does
its heavy importing and building in a thread), imports the chat screen, and swaps it in with whatever
the user typed meanwhile. A loader that fails with `StartupError` ends the app with return code 2 and
the message in `startup_error`, for the CLI to print once the terminal is restored.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual import events, work
from textual.app import App
from textual.binding import Binding

from .screens.startup import StartupScreen

if TYPE_CHECKING:
    from xsus_tui.core.mcp_servers import McpServers
    from xsus_tui.core.session import ChatSession

    from .screens.chat import ChatScreen

CHAT_SCREEN_MODULE = "xsus_tui.ui.screens.chat"
"""Imported only once the chat is ready (it needs pydantic-ai)."""


class StartupError(Exception):
    """The chat cannot be built (an unusable model, a bad --resume id...); the message is one line for the user."""


@dataclass
class ChatSetup:
    """What a loader builds: everything the chat screen needs."""

    session: ChatSession
    notices: list[str] = field(default_factory=list)
    mcp: McpServers | None = None


class XsusApp(App[int]):
    """xsus: a chat with one pydantic-ai agent."""

    CSS_PATH = "app.tcss"
    TITLE = "xsus"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True, show=False)]

    def __init__(
        self,
        session: ChatSession | None = None,
        *,
        notices: list[str] | None = None,
        theme: str | None = None,
        mcp: McpServers | None = None,
        loader: Callable[[], Awaitable[ChatSetup]] | None = None,
    ) -> None:
        """Give either the `session` (with its notices and MCP servers), or a `loader` that builds them.

        The loader is awaited on the app's event loop after the first frame; it should do its slow work
        in a thread (`asyncio.to_thread`), and raise `StartupError` for a problem the user can fix.
        """
        super().__init__()
        if (session is None) == (loader is None):
            raise TypeError("XsusApp takes either a session or a loader")
        # pydantic-ai's first-run banner would be printed over the screen.
        os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
        self.session = session
        self.notices = notices or []
        self.mcp = mcp
        self.loader = loader
        self.startup_error: str | None = None
        """Why the loader could not build the chat (the app then exits with return code 2)."""
        self._held_keys: list[events.Key | events.Paste] | None = None
        """Input that arrived while the chat screen replaced the start-up screen, to replay into it."""
        if theme:
            self.theme = theme

    def on_mount(self) -> None:
        if self.session is not None:
            from .screens.chat import ChatScreen

            self.push_screen(ChatScreen(self.session, self.notices, self.mcp))
        else:
            self.push_screen(StartupScreen())

    def on_ready(self) -> None:
        """The first frame is on screen: now build the chat."""
        if self.loader is not None and self.session is None:
            self._start_chat()

    @work(group="startup")
    async def _start_chat(self) -> None:
        assert self.loader is not None
        try:
            setup = await self.loader()
        except StartupError as error:
            self.startup_error = str(error)
            self.exit(return_code=2)
            return
        chat_module = await asyncio.to_thread(importlib.import_module, CHAT_SCREEN_MODULE)
        self.session, self.notices, self.mcp = setup.session, setup.notices, setup.mcp
        while len(self.screen_stack) > 1 and not isinstance(self.screen, StartupScreen):
            await self.pop_screen()  # nothing should be on top of it (see check_action), but be sure
        startup = self.screen
        assert isinstance(startup, StartupScreen)
        draft = startup.prompt.text
        send_now = startup.submitted is not None and startup.submitted == draft
        chat = chat_module.ChatScreen(setup.session, setup.notices, setup.mcp, draft=draft)
        # Keys pressed while the chat screen mounts (its prompt not focused yet) would be lost: hold them.
        self._held_keys = []
        await self.switch_screen(chat)
        if send_now:
            chat.send(chat.prompt.Submitted(chat.prompt, draft))
        self.call_later(self._release_keys)

    async def on_event(self, event: events.Event) -> None:
        if (
            self._held_keys is not None
            and isinstance(event, events.Key | events.Paste)
            and not event.is_forwarded
            and not isinstance(self.screen, StartupScreen)
        ):
            self._held_keys.append(event)
            return
        await super().on_event(event)

    async def _release_keys(self) -> None:
        """Replay the held input in order, as if it arrived now (after anything queued before it)."""
        held, self._held_keys = self._held_keys or [], None
        for event in held:
            await super().on_event(event)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The command palette is a screen on top; while starting, the chat screen must replace the top one.
        if action == "command_palette" and isinstance(self.screen, StartupScreen):
            return False
        return super().check_action(action, parameters)

    @property
    def chat_screen(self) -> ChatScreen:
        from .screens.chat import ChatScreen

        screen = self.screen
        assert isinstance(screen, ChatScreen)
        return screen

    async def action_quit(self) -> None:
        """Quit, first stopping a streaming reply so its partial text is saved."""
        chat_module = sys.modules.get(CHAT_SCREEN_MODULE)  # not imported: still starting, nothing to stop
        for screen in self.screen_stack:
            if chat_module is not None and isinstance(screen, chat_module.ChatScreen):
                await screen.stop_turn()
                await screen.stop_mcp()
        self.exit(0)
