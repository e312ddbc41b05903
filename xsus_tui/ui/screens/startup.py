"""The start-up screen: the chat's layout, shown while pydantic-ai and the chat are loading.

It needs Textual only (no pydantic-ai, no mcp: tests/test_startup.py checks it), so it is on screen a
few hundred milliseconds after the process starts. The prompt takes typing at once; the app carries
its text over to the chat screen, and a message sent with Enter goes out as soon as the chat is ready.
While something slow loads (the user's --agent module), the status line says what, with the seconds
it has taken, and Ctrl+C (or Ctrl+Q) quits, abandoning it.
"""

from __future__ import annotations

import time

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Header, Static

from ..widgets.prompt import PromptInput


def same_activity(before: str, now: str) -> bool:
    """Whether `now` is progress of the activity `before` (the same words before ` · `): its seconds go on."""
    return before.split(" · ", 1)[0] == now.split(" · ", 1)[0]


class EmptyChat(VerticalScroll, can_focus=False):
    """Where the conversation will be (styled as the chat screen's `#chat`)."""


class StartupStatus(Static):
    """The status line while loading (styled as the chat screen's `#status`)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.note = ""
        self.activity = ""
        """What is loading, when it is worth saying (`loading agent app.py:support`); else the chat in general."""
        self.since = 0.0
        """`time.monotonic()` when the activity started."""

    def render(self) -> Content:
        parts: list[str | tuple[str, str]] = [("● ", "$text-muted"), ("starting", "bold"), "  "]
        if self.activity:
            elapsed = int(time.monotonic() - self.since)
            parts.append(f"{self.activity} · {elapsed} s" if elapsed else self.activity)
        else:
            parts.append("loading the chat…")
        if self.note:
            parts.append((f"  ·  {self.note}", "$text-warning"))
        return Content.assemble(*parts)


class StartupScreen(Screen):
    """Looks like an empty chat, with the prompt ready for typing, until the real chat screen replaces it."""

    BINDINGS = [Binding("ctrl+c", "abandon", "Quit", show=False, priority=True)]
    HINT = "starting… · Ctrl+Q quit"

    def __init__(self) -> None:
        super().__init__()
        self.submitted: str | None = None
        """The prompt's text when Enter was pressed here: the app sends it once the chat is ready."""
        self._ticking: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="✳")
        yield EmptyChat(id="chat")
        yield PromptInput(id="prompt")
        yield StartupStatus(id="status")

    @property
    def prompt(self) -> PromptInput:
        return self.query_one("#prompt", PromptInput)

    def on_mount(self) -> None:
        self.title = "xsus"
        self.sub_title = "starting…"
        self.prompt.border_subtitle = self.HINT
        self.prompt.focus()

    @on(PromptInput.Submitted)
    def queue(self, message: PromptInput.Submitted) -> None:
        """Enter before the chat is ready: the text stays in the prompt and is sent once it is."""
        message.prompt.acted_on(message, sent=False)
        if not message.text.strip():
            return
        self.submitted = message.text
        self._note("your message is sent when the chat is ready")

    @on(PromptInput.Changed)
    def edited(self) -> None:
        """Editing a queued message takes it back: Enter queues it again."""
        if self.submitted is not None and self.prompt.text != self.submitted:
            self.submitted = None
            self._note("")

    def show_activity(self, activity: str | None) -> None:
        """Say what is loading (None: the chat in general), and count the seconds it takes."""
        status = self.query_one(StartupStatus)
        if not (activity and status.activity and same_activity(status.activity, activity)):
            status.since = time.monotonic()
        status.activity = activity or ""
        status.refresh()
        if self._ticking is None and activity:
            self._ticking = self.set_interval(0.25, status.refresh)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "abandon" and not self.prompt.selection.is_empty:
            return None  # Ctrl+C with text selected in the prompt copies it
        return True

    async def action_abandon(self) -> None:
        """Ctrl+C while starting: quit, as Ctrl+Q does (abandoning a slow --agent import)."""
        await self.app.run_action("quit")

    def _note(self, text: str) -> None:
        status = self.query_one(StartupStatus)
        status.note = text
        status.refresh()
