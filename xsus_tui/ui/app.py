"""The Textual application: receives its session in the constructor, no globals."""

from __future__ import annotations

import os

from textual.app import App
from textual.binding import Binding

from xsus_tui.core.mcp_servers import McpServers
from xsus_tui.core.session import ChatSession

from .screens.chat import ChatScreen


class XsusApp(App[int]):
    """xsus: a chat with one pydantic-ai agent."""

    CSS_PATH = "app.tcss"
    TITLE = "xsus"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True, show=False)]

    def __init__(
        self,
        session: ChatSession,
        *,
        notices: list[str] | None = None,
        theme: str | None = None,
        mcp: McpServers | None = None,
    ) -> None:
        super().__init__()
        # pydantic-ai's first-run banner would be printed over the screen.
        os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
        self.session = session
        self.notices = notices or []
        self.mcp = mcp
        if theme:
            self.theme = theme

    def on_mount(self) -> None:
        self.push_screen(ChatScreen(self.session, self.notices, self.mcp))

    @property
    def chat_screen(self) -> ChatScreen:
        screen = self.screen
        assert isinstance(screen, ChatScreen)
        return screen

    async def action_quit(self) -> None:
        """Quit, first stopping a streaming reply so its partial text is saved."""
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                await screen.stop_turn()
                await screen.stop_mcp()
        self.exit(0)
