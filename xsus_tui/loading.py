"""What the commands share to open the history and load the chat: one-line errors (`CliError`), the store opened
for reading or writing, the chat's loader (`ChatLoader`: the agent, the store and the conversation, built after the
first frame), the conversation `-c`/`-r` name, reading a file or stdin. `xsus`, `xsus ask` and `xsus replay` use
them; nothing here imports pydantic-ai, Textual or the core at module level (the first frame needs none of them)."""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import contextvars
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from . import paths
from .process import DAEMON_PREFIX, in_daemon_thread, resume_gc

T = TypeVar("T")

if TYPE_CHECKING:
    from collections.abc import Callable

    from .config import Settings
    from .core.agents import ChatAgent
    from .core.store import SQLiteConversationStore
    from .ui.app import ChatSetup


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def seconds_option(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 1 and 3600 seconds")
    return value


READ_TIMEOUT = 2.0
"""Seconds a reading command waits for another process's lock before it says so."""


def open_store(*, reading: bool = False, progress: Callable[[int, int], None] | None = None, checked: bool = False):
    """The history store. `reading` commands open it read-only: they create, move and write nothing, so they
    work on a read-only home and never change what they read. Opened for writing, a database written before
    schema 2 is indexed first, telling `progress(done, total)`; `checked`: it has just passed `quick_check`."""
    from .core.store import SQLiteConversationStore, StoreError

    db = paths.history_db()
    try:
        if reading:
            store = SQLiteConversationStore.open(db, readonly=True, busy_timeout=READ_TIMEOUT)
            if store.may_be_stale:
                warn_stale(db)
            return store
        return SQLiteConversationStore.open(db, progress=progress, checked=checked)
    except StoreError as error:
        raise store_cli_error(error) from error


CLOSE_TIMEOUT = 0.5
"""Seconds closing the store may wait for the writes still queued (each gives up its lock wait at once)."""


class ChatLoader:
    """Builds what the chat needs, for XsusApp to run once its first frame is on screen.

    pydantic-ai and the rest of the core are imported, and the agent built (an --agent module imported),
    in a daemon thread: a module that takes long to import is shown on the start-up screen with the
    seconds it takes, and one that never returns doesn't keep the process alive when the user quits.
    The store is opened on the app's event loop (an SQLite connection belongs to the thread that opens it).
    """

    def __init__(self, args: argparse.Namespace, settings: Settings) -> None:
        self.args = args
        self.settings = settings
        self.store: SQLiteConversationStore | None = None
        """Once opened; the CLI closes it after the app, also when the app quit before the chat was ready."""
        self.on_progress: Callable[[str | None], None] | None = None
        """Told what is loading when it may take a while (`loading agent app.py:support`), then None."""

    async def __call__(self) -> ChatSetup:
        """For XsusApp: `build()`, with a problem the user can fix raised as the app's StartupError."""
        from .ui.app import StartupError

        try:
            return await self.build()
        except CliError as error:
            raise StartupError(str(error)) from error

    async def build(self) -> ChatSetup:
        """What the chat screen needs; CliError for a problem the user can fix."""
        from .ui.app import ChatSetup

        args, settings = self.args, self.settings
        # The history's integrity check (SQLite, which lets other threads run: about 70 ms per 100 MB) runs beside
        # the imports below, on the other core, instead of after them.
        checking = _in_background(_history_checks, name="store-check")
        target = args.agent or settings.agent
        if target:
            from .core.agent_loader import parse_target

            self._progress(f"loading agent {parse_target(target).short}")
        chat_agent = await in_daemon_thread(self._agent, target, name="agent-loader")
        self._progress(None)
        # Off the event loop: opening checks the file and may wait out another process's lock. A store written
        # before schema 2 is indexed once first: its progress is shown a few times a second.
        # It is told on the database thread: shown on this loop, in this task's context (Textual's active app is
        # a context variable, and a timer the status line starts outside it fails at its first tick).
        loop, context = asyncio.get_running_loop(), contextvars.copy_context()

        def show(text: str) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the user quit while it was indexing
                loop.call_soon_threadsafe(self._progress, text, context=context)

        progress = Throttled(show)
        store = self.store = await in_daemon_thread(
            lambda: open_store(progress=progress, checked=checking.result()), name="store-open"
        )
        self._progress(None)
        notices: list[str] = []
        if store.moved_aside is not None:
            notices.append(
                f"The history database was unreadable; it was moved to {store.moved_aside} and a new one started."
            )
        conversation = await load_conversation(store, args, notices)
        from .served import resumed_notice

        if conversation is not None and (notice := resumed_notice()):
            notices.append(notice)

        from .core.mcp_servers import McpServers
        from .core.session import ChatSession

        session = ChatSession(
            chat_agent,
            store,
            conversation=conversation,
            retries=settings.retries if args.retries is None else args.retries,
            idle_timeout=args.idle_timeout or settings.idle_timeout,
            model_settings=settings.model_settings,
        )
        session.attachment_limit = int(settings.max_attachment_mb * 1024 * 1024)
        session.compact_at = settings.compact_at
        return ChatSetup(session, notices, McpServers(settings.mcp_servers), warm_up=warm_up)

    def _progress(self, activity: str | None) -> None:
        if self.on_progress is not None:
            self.on_progress(activity)

    def _agent(self, target: str | None) -> ChatAgent:
        """In a daemon thread: the slow imports, then the chat agent (from --agent, --model or the config).

        The user's module runs here, not in the main thread: one that installs signal handlers at import
        can't, and says so in its one-line error.
        """
        from .core import mcp_servers, session, store  # noqa: F401 (imported here, off the event loop)
        from .core.agent_loader import AgentLoadError
        from .core.agents import ModelChoiceError, build_chat_agent, build_user_agent

        # Building the model loads genai-prices' data snapshot (pydantic-ai's Model.__init__, 20 ms): left here, as
        # the chat's status line needs it at once for the model's context window.
        try:
            if target:
                resume_gc()  # the user's module may run long (or forever): not without a collector
                return build_user_agent(target, model_id=self.args.model, default_model=self.settings.model)
            return build_chat_agent(self.args.model or self.settings.model, instructions=self.settings.instructions)
        except (ModelChoiceError, AgentLoadError) as error:
            raise CliError(self._from_config(str(error), target)) from error

    def _from_config(self, problem: str, target: str | None) -> str:
        """A problem with a setting that came from config.toml names the file (the user didn't type it)."""
        config = paths.config_file()
        if target and not self.args.agent:
            return f"{config}: agent = {target!r}: {problem}"
        if not target and not self.args.model and self.settings.model:
            return f"{config}: model = {self.settings.model!r}: {problem}"
        return problem

    def close(self) -> None:
        if self.store is not None:
            # Its thread is a daemon: a write stuck in a lock can't hold the exit.
            self.store.close(timeout=CLOSE_TIMEOUT)


def _history_checks() -> bool:
    """Whether the history database passes SQLite's `quick_check` now (False: the store's open checks it itself)."""
    from .core.db import passes_quick_check

    return passes_quick_check(paths.history_db())


def _in_background(function: Callable[[], T], *, name: str) -> concurrent.futures.Future[T]:
    """`function()` started in a daemon thread of its own: its result (or error) in the future returned."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(function())
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits for it
            future.set_exception(error)

    threading.Thread(target=run, name=f"{DAEMON_PREFIX}{name}", daemon=True).start()
    return future


def warm_up() -> None:
    """After the chat is on screen, in a daemon thread: what the first turn would otherwise wait for."""
    from .core import adapters

    adapters.warm()


async def load_conversation(store, args: argparse.Namespace, notices: list[str]):
    from .core.store import StoreError

    try:
        return await find_conversation(store, args, notices)
    except StoreError as error:  # a damaged row, say: one line, not a traceback
        raise CliError(str(error)) from error


async def find_conversation(store, args: argparse.Namespace, notices: list[str]):
    if args.resume:
        try:
            conversation_id = store.resolve_id(args.resume)
        except KeyError as error:
            raise CliError(error.args[0]) from error
        return await store.load(conversation_id)
    if args.continue_:
        latest = store.latest_id()
        if latest is None:
            notices.append("There is no saved conversation to continue yet, so this is a new one.")
            return None
        return await store.load(latest)
    return None


def store_cli_error(error: Exception) -> CliError:
    if type(error).__name__ == "CorruptDatabase":
        return CliError(f"{error}; the chat moves it aside (never deletes it) when it next starts")
    return CliError(str(error))


def warn_stale(db: Path) -> None:
    print(
        f"xsus: {db.parent} is read-only and the database's WAL can't be read there: the latest turns may be missing",
        file=sys.stderr,
    )


def read_source(name: str) -> str:
    """The text of FILE, or of stdin for `-`; a CliError of one line if it can't be read."""
    if name == "-":
        data = sys.stdin.buffer.read()
        label = "stdin"
    else:
        try:
            data = Path(name).read_bytes()
        except OSError as error:
            raise CliError(f"cannot read {name}: {(error.strerror or str(error)).lower()}") from None
        label = name
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CliError(f"{label} is not a JSON export (it is not UTF-8 text)") from None


def store_error_type() -> type[Exception]:
    from .core.db import StoreError

    return StoreError


def open_writer():
    """The store opened for writing, as the chat opens it: a database written before schema 2 is indexed first
    (with its progress on stderr when that is a terminal), and a corrupt one moved aside (said on stderr)."""
    progress = terminal_progress() if sys.stderr.isatty() else None
    try:
        store = open_store(progress=progress)
    finally:
        if progress is not None:
            progress.finish()
    if store.moved_aside is not None:
        print(
            f"xsus: the history database was unreadable; it was moved to {store.moved_aside} and a new one started",
            file=sys.stderr,
        )
    return store


class Throttled:
    """`progress(done, total)` for `SQLiteConversationStore.open`, passed on as one line of text at most
    `interval` seconds apart (it is called on the database thread, after each batch of messages)."""

    def __init__(self, show: Callable[[str], None], interval: float = 0.25) -> None:
        self.show = show
        self.interval = interval
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        import time

        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        self.shown = True
        self.show(f"indexing history for search · {done:,} of {total:,} messages")


class terminal_progress(Throttled):  # noqa: N801 - used as a function
    def __init__(self) -> None:
        super().__init__(lambda text: print(f"\rxsus: {text}", end="", file=sys.stderr, flush=True))

    def finish(self) -> None:
        if self.shown:
            print(file=sys.stderr)
