"""The `xsus` command: the TUI, and `xsus history ...`.

Heavy imports (pydantic-ai, Textual) happen inside the functions that need them, so `xsus --version`
and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, paths
from .process import exit_despite_threads, in_daemon_thread, missing_terminal, run_bounded

if TYPE_CHECKING:
    from collections.abc import Callable

    from .config import Settings
    from .core.agents import ChatAgent
    from .core.store import SQLiteConversationStore
    from .ui.app import ChatSetup


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xsus",
        description="A terminal chat client for pydantic-ai agents. Without a model configured it runs "
        "the embedded offline demo model.",
    )
    parser.add_argument("--version", action="version", version=f"xsus {__version__}")
    parser.add_argument(
        "-m",
        "--model",
        help="pydantic-ai model id, e.g. openai-chat:gpt-4o-mini, anthropic:claude-sonnet-4-5, or 'demo' "
        "(the embedded offline model). OPENAI_BASE_URL points openai-chat: at any compatible server.",
    )
    parser.add_argument(
        "-a",
        "--agent",
        metavar="TARGET",
        help="your own pydantic-ai agent: path/to/file.py:name or package.module:name (an Agent, or a "
        "function returning one); --model overrides its model",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="give a reply up after this many seconds of silence from the model (default 60, or config)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        choices=range(0, 11),
        metavar="N",
        help="retry a request that fails before its first token up to N times (default 3, or config)",
    )
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument(
        "-c", "--continue", dest="continue_", action="store_true", help="reopen the latest conversation"
    )
    resume.add_argument("-r", "--resume", metavar="ID", help="reopen the conversation with this id (or id prefix)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    config = commands.add_parser("config", help="where the config file is, and what it sets")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    config_commands.add_parser("path", help="print the config file's path (and where history is kept)")
    config_commands.add_parser("show", help="print the effective settings, as TOML")
    history = commands.add_parser("history", help="list and export stored conversations")
    history_commands = history.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    listing = history_commands.add_parser("list", help="list conversations, newest first")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.add_argument("-n", "--limit", type=int, default=None, help="show at most this many")
    export = history_commands.add_parser("export", help="export one conversation")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", help="conversation id (or a unique prefix of it)")
    which.add_argument("--latest", action="store_true", help="the most recently updated conversation")
    export.add_argument(
        "-f",
        "--format",
        choices=("md", "json"),
        default="md",
        help="md: a readable transcript; json: pydantic-ai's message list (ModelMessagesTypeAdapter)",
    )
    export.add_argument("-o", "--output", type=Path, help="write to this file (created private, 0600)")
    export.add_argument("--force", action="store_true", help="replace the --output file if it exists")
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 1 and 3600 seconds")
    return value


def main(argv: list[str] | None = None) -> int:
    # pydantic-ai prints a first-run banner from source checkouts; inside a TUI it would land on screen.
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "history":
            return asyncio.run(_history(args))
        if args.command == "config":
            return _config(args)
        code = _run_tui(args)
    except CliError as error:
        print(f"xsus: error: {error}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    # The chat has ended and everything is saved: a thread that never returns (a sync tool blocked
    # forever, an --agent import still running) must not keep the process alive.
    exit_despite_threads(code)
    return code


def _config(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_settings, to_toml

    path = paths.config_file()
    if args.config_command == "path":
        print(path)
        print(f"# history: {paths.history_db()}", file=sys.stderr)
        return 0
    try:
        settings = load_settings(path)
    except ConfigError as error:
        raise CliError(str(error)) from error
    origin = str(path) if path.exists() else f"{path} (does not exist: these are the defaults)"
    print(f"# {origin}")
    print(to_toml(settings), end="")
    return 0


READ_TIMEOUT = 2.0
"""Seconds a reading command waits for another process's lock before it says so."""


def _open_store(*, reading: bool = False):
    """The history store. `reading` commands open it read-only: they create, move and write nothing, so they
    work on a read-only home and never change what they read."""
    from .core.store import SQLiteConversationStore, StoreError

    db = paths.history_db()
    try:
        if reading:
            store = SQLiteConversationStore.open(db, readonly=True, busy_timeout=READ_TIMEOUT)
            if store.may_be_stale:
                print(
                    f"xsus: {db.parent} is read-only and the database's WAL can't be read there: "
                    "the latest turns may be missing",
                    file=sys.stderr,
                )
            return store
        return SQLiteConversationStore.open(db)
    except StoreError as error:
        if type(error).__name__ == "CorruptDatabase":
            raise CliError(f"{error}; the chat moves it aside (never deletes it) when it next starts") from error
        raise CliError(str(error)) from error


def _run_tui(args: argparse.Namespace) -> int:
    """The chat. It needs a terminal: without one it says so at once (nothing heavy imported yet). Before the
    TUI starts, only the config is read; pydantic-ai, mcp, the --agent module, the model and the store are
    loaded by `_ChatLoader` after the first frame (docs/architecture.md, Start-up)."""
    if (missing := missing_terminal()) is not None:
        raise CliError(
            f"the chat needs a terminal, and {missing}; to read conversations without one, use "
            "`xsus history export --latest` (or `xsus history list`)"
        )
    from .config import ConfigError, load_settings

    try:
        settings = load_settings(paths.config_file())
    except ConfigError as error:
        raise CliError(str(error)) from error
    if target := args.agent or settings.agent:
        from .core.agent_loader import AgentLoadError, parse_target  # no pydantic-ai yet

        try:
            parse_target(target)  # a malformed target is answered before the screen is taken over
        except AgentLoadError as error:
            raise CliError(str(error)) from error

    from .ui.app import XsusApp

    loader = _ChatLoader(args, settings)
    app = XsusApp(loader=loader, theme=settings.theme, quit_on_signals=True)
    loader.on_progress = app.show_progress
    try:
        run_bounded(app.run_async())
        if unsent := app.unsent.strip():
            print(f"xsus: not sent, still in the input when you quit:\n{unsent}", file=sys.stderr)
        saved = _farewell(app.session) if app.abandoned is None and app.startup_error is None else True
    finally:
        loader.close()
    if app.startup_error is not None:
        raise CliError(app.startup_error)
    if app.abandoned is not None:
        print(f"xsus: quit while {app.abandoned}: the load was abandoned", file=sys.stderr)
        return app.return_code or 130
    if not saved:
        return 1  # the conversation is not all on disk: a script should know
    return app.return_code or 0


FINAL_SAVE_TIMEOUT = 0.8
"""Seconds the last try at saving what a failed save left may take at quit (quitting stays within 2 s)."""
CLOSE_TIMEOUT = 0.5
"""Seconds closing the store may wait for the writes still queued (each gives up its lock wait at once)."""


def _farewell(session) -> bool:
    """After the chat: say where the conversation is, and tell the truth when part of it is not on disk.

    What a failed save left in memory is tried once more; if it still can't be saved, the unsaved part
    is printed as markdown, so what the user saw is at least in the terminal's scrollback. Returns whether
    everything is on disk."""
    if session is None or not session.conversation.messages:
        return True
    session.on_status = session.on_notice = None  # the screen that showed them is gone
    if session.unsaved:
        with contextlib.suppress(TimeoutError):
            asyncio.run(asyncio.wait_for(session.flush(), FINAL_SAVE_TIMEOUT))
    short = session.conversation.conversation_id[:13]
    if not (unsaved := session.unsaved):
        print(f"Conversation saved ({short}): continue it with  xsus -c  or  xsus -r {short}", file=sys.stderr)
        return True
    from .core.export import to_markdown

    messages = session.conversation.messages
    cause = session.save_error or "the history database did not answer in time"
    print(
        f"xsus: NOT saved: the last {unsaved} message{'s' * (unsaved != 1)} of conversation {short} could not be "
        f"written ({cause}); they follow as markdown.",
        file=sys.stderr,
    )
    sys.stdout.write(to_markdown(messages[len(messages) - unsaved :], title="Unsaved", conversation_id=short))
    sys.stdout.flush()
    return False


class _ChatLoader:
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
        target = args.agent or settings.agent
        if target:
            from .core.agent_loader import parse_target

            self._progress(f"loading agent {parse_target(target).short}")
        chat_agent = await in_daemon_thread(self._agent, target, name="agent-loader")
        self._progress(None)
        # Off the event loop: opening checks the file and may wait out another process's lock.
        store = self.store = await in_daemon_thread(_open_store, name="store-open")
        notices: list[str] = []
        if store.moved_aside is not None:
            notices.append(
                f"The history database was unreadable; it was moved to {store.moved_aside} and a new one started."
            )
        conversation = await _load_conversation(store, args, notices)

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
        return ChatSetup(session, notices, McpServers(settings.mcp_servers))

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

        try:
            if target:
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


async def _load_conversation(store, args: argparse.Namespace, notices: list[str]):
    from .core.store import StoreError

    try:
        return await _find_conversation(store, args, notices)
    except StoreError as error:  # a damaged row, say: one line, not a traceback
        raise CliError(str(error)) from error


async def _find_conversation(store, args: argparse.Namespace, notices: list[str]):
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


async def _history(args: argparse.Namespace) -> int:
    if not paths.history_db().exists():  # reading creates nothing
        if args.history_command == "list":
            return _no_conversations(args.json)
        raise CliError("there are no conversations to export yet")
    from .core.store import StoreError

    store = _open_store(reading=True)
    try:
        if args.history_command == "list":
            _print_list(store, as_json=args.json, limit=args.limit)
            return 0
        return await _export(store, args)
    except StoreError as error:  # a damaged row, say: one line, not a traceback
        raise CliError(str(error)) from error
    finally:
        store.close()


def _print_list(store, *, as_json: bool, limit: int | None) -> None:
    rows = store.summaries(limit=limit)
    if as_json:
        data = [
            {
                "id": row.conversation_id,
                "title": row.title,
                "created_at": row.created_at.isoformat(),
                "updated_at": row.updated_at.isoformat(),
                "messages": row.messages,
            }
            for row in rows
        ]
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if not rows:
        _no_conversations(False)
        return
    from rich.console import Console
    from rich.table import Table

    from .core.sanitize import inert

    table = Table(box=None, pad_edge=False)
    for column in ("id", "updated", "messages", "title"):
        table.add_column(column, no_wrap=column != "title", justify="right" if column == "messages" else "left")
    for row in rows:
        updated = row.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
        # The first 13 characters of a UUID7 are its creation time in ms: unique enough to type back.
        table.add_row(row.conversation_id[:13], updated, str(row.messages), inert(row.title))
    Console(highlight=False).print(table)


def _no_conversations(as_json: bool) -> int:
    print("[]" if as_json else "No conversations yet. Start one with: xsus")
    return 0


async def _export(store, args: argparse.Namespace) -> int:
    from .core.export import to_json, to_markdown

    if args.latest:
        conversation_id = store.latest_id()
        if conversation_id is None:
            raise CliError("there are no conversations to export yet")
    else:
        try:
            conversation_id = store.resolve_id(args.id)
        except KeyError as error:
            raise CliError(error.args[0]) from error
    conversation = await store.load(conversation_id)
    if conversation is None:
        raise CliError(f"conversation {conversation_id} disappeared while exporting")
    title = next((s.title for s in store.summaries() if s.conversation_id == conversation_id), "Conversation")
    if args.format == "json":
        text = to_json(conversation.messages)
    else:
        text = to_markdown(conversation.messages, title=title, conversation_id=conversation_id)
    if args.output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    _write_private(args.output, text, force=args.force)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _write_private(path: Path, text: str, *, force: bool) -> None:
    """Write `text` to `path` as a new file readable by its owner only (0600). An existing file is replaced only
    with `force`, and then whole or not at all: the text goes to a new file beside it first, which then takes its
    name (so a full disk leaves the old file as it was, and a symlink is replaced, not written through)."""
    if path.exists() or path.is_symlink():
        if not force:
            raise CliError(f"{path} exists; add --force to replace it")
    elif not path.parent.is_dir():
        raise CliError(f"cannot write {path}: no such file or directory")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp makes it 0600
    except OSError as error:
        raise CliError(f"cannot write {path}: {(error.strerror or str(error)).lower()}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if not force and (path.exists() or path.is_symlink()):
            raise CliError(f"{path} exists; add --force to replace it")
        os.replace(temporary, path)
    except OSError as error:
        raise CliError(f"cannot write {path}: {(error.strerror or str(error)).lower()}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
