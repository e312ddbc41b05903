"""The Textual application: gets its session in the constructor, or a loader that builds it after the first frame.

With a loader (how `xsus` starts), the first screen is the light `StartupScreen`: this module and that
screen import Textual only, not pydantic-ai or mcp, so the chat's frame is on screen a few hundred
milliseconds after the process starts. Once that frame is painted, a worker runs the loader (which does
its heavy importing and building in a thread), imports the chat screen, and swaps it in with whatever
the user typed meanwhile. A loader that fails with `StartupError` ends the app with return code 2 and
the message in `startup_error`, for the CLI to print once the terminal is restored.

Quitting is bounded in every state (Ctrl+Q, and with `quit_on_signals` SIGTERM and SIGHUP too): the
turn is stopped and saved, the MCP servers stopped, each within its own limit, and a loader still at
work is abandoned (`abandoned` says what it was doing).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual import events, work
from textual.app import App
from textual.binding import Binding

from ..process import DAEMON_PREFIX, in_daemon_thread, resume_gc
from .screens.startup import StartupScreen, same_activity

if TYPE_CHECKING:
    from textual.driver import Driver
    from textual.notifications import SeverityLevel

    from xsus_tui.core.mcp_servers import McpServers
    from xsus_tui.core.session import ChatSession

    from .screens.chat import ChatScreen

CHAT_SCREEN_MODULE = "xsus_tui.ui.screens.chat"
"""Imported only once the chat is ready (it needs pydantic-ai)."""
QUIT_KEYS_SETTLE = 0.5
"""Seconds quitting waits for the prompt to take the keys typed just before Ctrl+Q (see `_typed_keys_in`)."""


class StartupError(Exception):
    """The chat cannot be built (an unusable model, a bad --resume id...); the message is one line for the user."""


@dataclass
class ChatSetup:
    """What a loader builds: everything the chat screen needs."""

    session: ChatSession
    notices: list[str] = field(default_factory=list)
    mcp: McpServers | None = None
    warm_up: Callable[[], None] | None = None
    """Work the first turn would otherwise do (building the message adapter, loading the price data), run
    in a daemon thread once the chat is on screen, so that it is not on the way to the chat being ready."""


class XsusApp(App[int]):
    """xsus: a chat with one pydantic-ai agent."""

    CSS_PATH = "app.tcss"
    TITLE = "xsus"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
        Binding("ctrl+n", "new_conversation", "New conversation", show=False),
    ]

    def __init__(
        self,
        session: ChatSession | None = None,
        *,
        notices: list[str] | None = None,
        theme: str | None = None,
        mcp: McpServers | None = None,
        loader: Callable[[], Awaitable[ChatSetup]] | None = None,
        quit_on_signals: bool = False,
    ) -> None:
        """Give either the `session` (with its notices and MCP servers), or a `loader` that builds them.

        The loader is awaited on the app's event loop after the first frame; it should do its slow work
        in a daemon thread (`process.in_daemon_thread`), report it with `show_progress`, and raise
        `StartupError` for a problem the user can fix. With `quit_on_signals`, SIGTERM and SIGHUP
        (the terminal closed) quit as Ctrl+Q does; that takes the main thread (the CLI sets it).
        """
        super().__init__()
        self.quit_on_signals = quit_on_signals
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
        self._loading: tuple[str, float] | None = None
        """What the loader said it is doing (`loading agent app.py:support`) and since when."""
        self.abandoned: str | None = None
        """What the loader was doing when the user quit (`loading agent app.py:support (12 s)`), for the CLI."""
        self.unsent = ""
        """What was in the prompt, never sent, when the user quit (the CLI prints it as it leaves)."""
        self.terminal_gone = False
        """The terminal was closed (SIGHUP): nothing is drawn or printed any more."""
        self.deleted_conversations: list = []
        """Conversations deleted in the browser while the app runs, the last one last (Ctrl+Z there brings it
        back); the store purges them when it closes."""
        self.quitting = False
        """Quitting has begun (Ctrl+Q, SIGTERM, SIGHUP): what was about to start is dropped."""
        self._terminal_fds: list[int] = []
        """Of stdout and stderr, those that were the terminal (replaced by /dev/null when it hangs up)."""
        if theme:
            self.theme = theme

    def get_driver_class(self) -> type[Driver]:
        driver_class = super().get_driver_class()
        if driver_class.__name__ == "LinuxDriver" and driver_class.__module__ == "textual.drivers.linux_driver":
            from .compat import decode_alt_enter
            from .driver import HangupSafeDriver

            decode_alt_enter()  # Esc Enter (tmux's Alt+Enter): queue as a follow-up
            return HangupSafeDriver
        if driver_class.__name__ == "WebDriver" and driver_class.__module__ == "textual.drivers.web_driver":
            from .web_driver import ServedDriver  # `xsus serve`: a closed browser tab quits like Ctrl+Q

            return ServedDriver
        return driver_class

    def on_load(self) -> None:
        """Before the terminal is taken over: from now on SIGTERM and SIGHUP quit like Ctrl+Q (if asked to).

        The handlers are the event loop's (`add_signal_handler`): they run between callbacks, and closing
        the loop removes them.
        """
        if not self.quit_on_signals:
            return
        self._terminal_fds = [fd for fd in (1, 2) if _is_terminal(fd)]
        loop = asyncio.get_running_loop()
        for name in ("SIGTERM", "SIGHUP"):
            if (signal_number := getattr(signal, name, None)) is not None:
                with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows's event loop
                    loop.add_signal_handler(signal_number, self._on_signal, signal_number)

    def _on_signal(self, signal_number: int) -> None:
        if signal_number == getattr(signal, "SIGHUP", None) and not self.terminal_gone and not _is_terminal(2):
            self._lose_terminal()
        self.request_quit()

    def request_quit(self) -> None:
        """Quit as Ctrl+Q does, asked from outside the app (a signal, the browser tab closed); on the event loop."""
        if not self.quitting:
            self.call_later(self.action_quit)

    def _lose_terminal(self) -> None:
        """The terminal has hung up: stop reading it, and let what is still written go to /dev/null
        (writing to it fails, and the CLI's last line must not end in a traceback)."""
        self.terminal_gone = True
        if self._driver is not None:
            self._driver.disable_input()  # reading a hung-up terminal returns at once: the input thread would spin
        with contextlib.suppress(OSError):
            null = os.open(os.devnull, os.O_WRONLY)
            for fd in self._terminal_fds:  # a redirected stdout stays as it is
                os.dup2(null, fd)
            os.close(null)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Textual's, always as plain text: every notification here is, and many carry text from outside (a
        command's usage, `/export [PATH] [md|json]`, lost its `[PATH]` to markup; a file or model name, an error
        with `[/x]` in it would raise MarkupError). Widgets' `notify` passes `markup=True`, so it is ignored."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def show_progress(self, activity: str | None) -> None:
        """For the loader: say what is loading (`loading agent app.py:support`) on the start-up screen,
        with the seconds it takes; None when it is done. Progress of the same activity (`indexing history
        for search · 12,000 of 200,000 messages`: the same words before ` · `) keeps counting its seconds."""
        if not activity:
            self._loading = None
        elif self._loading is None or not same_activity(self._loading[0], activity):
            self._loading = (activity, time.monotonic())
        else:
            self._loading = (activity, self._loading[1])
        for screen in self.screen_stack:
            if isinstance(screen, StartupScreen):
                screen.show_activity(activity)

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
        finally:
            self._loading = None
        chat_module = await in_daemon_thread(importlib.import_module, CHAT_SCREEN_MODULE, name="import")
        self.session, self.notices, self.mcp = setup.session, setup.notices, setup.mcp
        while len(self.screen_stack) > 1 and not isinstance(self.screen, StartupScreen):
            await self.pop_screen()  # nothing should be on top of it (see check_action), but be sure
        startup = self.screen
        assert isinstance(startup, StartupScreen)
        draft = startup.prompt.text
        send_now = startup.submitted is not None and startup.submitted == draft
        selection = startup.prompt.selection
        chat = chat_module.ChatScreen(setup.session, setup.notices, setup.mcp, draft=draft, draft_selection=selection)
        # Keys pressed while the chat screen mounts (its prompt not focused yet) would be lost: hold them.
        self._held_keys = []
        # Paused by the CLI while starting (process.pause_gc). Resumed before the chat mounts: everything alive now
        # is frozen first, so the collection the chat runs when it opens walks only what the mount creates (it
        # walked the whole start-up, 70 ms, on the way to ready).
        resume_gc()
        await self.switch_screen(chat)
        if send_now:
            chat.send(chat.prompt.Submitted(chat.prompt, draft))
        self.call_later(self._release_keys)
        if setup.warm_up is not None:
            if send_now:  # once the turn is on screen: it shares one interpreter lock with the warm-up thread
                self._after_turn_shown(chat, setup.warm_up)
            else:
                _start_warm_up(setup.warm_up)

    def _after_turn_shown(self, chat: ChatScreen, warm_up: Callable[[], None]) -> None:
        """Start `warm_up` once the chat's status line has left `idle` (the queued message's turn began) and the
        screen showing it was refreshed. That turn builds what its own first save needs."""
        started = False

        def state_changed(state: str) -> None:
            nonlocal started
            if state != "idle" and not started:
                started = True
                self.call_after_refresh(_start_warm_up, warm_up)

        self.watch(chat.status, "state", state_changed)

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

    async def action_new_conversation(self) -> None:
        """Ctrl+N from anywhere: back to the chat (closing what is on top of it), with a new conversation."""
        chat_module = sys.modules.get(CHAT_SCREEN_MODULE)
        if chat_module is None or not any(isinstance(s, chat_module.ChatScreen) for s in self.screen_stack):
            return  # still starting
        while not isinstance(self.screen, chat_module.ChatScreen):
            await self.pop_screen()
        await self.screen.open_conversation(None)

    @property
    def chat_screen(self) -> ChatScreen:
        from .screens.chat import ChatScreen

        screen = self.screen
        assert isinstance(screen, ChatScreen)
        return screen

    async def _typed_keys_in(self) -> None:
        """Let the prompt take the keys typed just before Ctrl+Q. Ctrl+Q is a priority binding, acted on as the app
        reads it; the keys before it in the same read were handed to the focused prompt's queue, not yet inserted,
        so `them` typed and Ctrl+Q in one burst left `them` out of the draft printed as the app leaves. A callback
        posted to that queue runs once they are in (0.5 s at most: quitting stays bounded)."""
        takers = {widget for widget in (self.focused, getattr(self.screen, "prompt", None)) if widget is not None}
        # (the prompt also while a turn is selected: the keys typed then go back to it)
        waits = []
        for widget in takers:
            done = asyncio.Event()
            widget.call_later(done.set)
            waits.append(done.wait())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), QUIT_KEYS_SETTLE)

    async def action_quit(self) -> None:
        """Quit, first stopping a streaming reply so its partial text is saved.

        Each step is bounded (`ChatScreen.stop_turn`, `McpServers.stop`), so this ends within about two
        seconds whatever is running. While still starting, a loader at work is abandoned (its daemon
        thread is left behind), and `abandoned` says what it was doing.
        """
        if self.quitting:
            return
        self.quitting = True
        await self._typed_keys_in()
        if self._loading is not None and self.session is None:
            activity, since = self._loading
            self.abandoned = f"{activity} ({time.monotonic() - since:.0f} s)"
        chat_module = sys.modules.get(CHAT_SCREEN_MODULE)  # not imported: still starting, nothing to stop
        for screen in self.screen_stack:
            if chat_module is not None and isinstance(screen, chat_module.ChatScreen):
                await screen.stop_turn()
                await screen.stop_mcp()
        # What is left unsent, read once the turn has stopped: a prompt nothing came back for is back in the input
        # by then (Enter and Ctrl+Q in one burst: it was in neither the draft nor the conversation printed).
        for screen in reversed(self.screen_stack):  # the start-up or chat screen, under any browser or dialog
            with contextlib.suppress(Exception):
                self.unsent = screen.prompt.text
                if (chips := getattr(screen, "chips", None)) is not None and chips.files:
                    from xsus_tui.core.attachments import mention_of

                    # The files attached to it too, as `@path`s: typed (or pasted) back, they attach again.
                    files = " ".join(mention_of(str(file.source or file.name)) for file in chips.files)
                    self.unsent = f"{self.unsent.rstrip()}\n{files}".lstrip("\n")
                queue = getattr(getattr(screen, "session", None), "queue", None)
                if queue is not None and queue.items:  # messages queued while the reply ran: printed too, in order
                    self.unsent = "\n".join([*(item.text for item in queue.items), self.unsent]).strip("\n")
                break
        if self.abandoned is not None:
            self.exit(return_code=130)
        else:
            self.exit(0)


def _start_warm_up(warm_up: Callable[[], None]) -> None:
    threading.Thread(target=warm_up, name=f"{DAEMON_PREFIX}warm-up", daemon=True).start()


def _is_terminal(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False
