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
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, paths
from .loading import (
    READ_TIMEOUT,
    ChatLoader,
    CliError,
    open_store,
    open_writer,
    read_source,
    seconds_option,
    store_cli_error,
    store_error_type,
    warn_stale,
)
from .process import (
    enter_typed_ahead_kept,
    exit_despite_threads,
    missing_terminal,
    pause_gc,
    resume_gc,
    run_bounded,
)

if TYPE_CHECKING:
    pass


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
        type=seconds_option,
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
    from . import headless  # standard library only at import

    headless.add_arguments(
        commands.add_parser(
            "ask",
            help="one turn for pipes and scripts: the reply on stdout (xsus ask PROMPT, or the prompt on stdin)",
            description="Ask once and print the reply as it streams: rendered markdown on a terminal, plain text "
            "when piped; tool calls and errors on stderr. stdin, when piped, is the prompt, or goes under PROMPT "
            "as context. Saved to the history like the chat. Exit status: 0 done, 1 the model failed, 2 bad "
            "usage, 130 interrupted (the partial reply is saved).",
        )
    )
    config = commands.add_parser("config", help="where the config file is, and what it sets")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    config_commands.add_parser("path", help="print the config file's path (and where history is kept)")
    config_commands.add_parser("show", help="print the effective settings, as TOML")
    history = commands.add_parser("history", help="list, search, export, import and delete stored conversations")
    history_commands = history.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    listing = history_commands.add_parser("list", help="list conversations, newest first")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.add_argument("-n", "--limit", type=_count, default=None, help="show at most this many")
    search = history_commands.add_parser("search", help="find messages in every conversation, newest first")
    search.add_argument(
        "query", help="words that must all appear (3 characters or more each: parts of words and code match too)"
    )
    search.add_argument("--json", action="store_true", help="print JSON instead of a table")
    search.add_argument("-n", "--limit", type=_count, default=20, help="show at most this many (default 20)")
    tree = history_commands.add_parser("tree", help="every version of each turn of a conversation (● = current)")
    tree.add_argument("id", help="conversation id (or a unique prefix of it)")
    export = history_commands.add_parser("export", help="export one conversation")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", help="conversation id (or a unique prefix of it)")
    which.add_argument("--latest", action="store_true", help="the most recently updated conversation")
    export.add_argument(
        "-f",
        "--format",
        choices=("md", "json", "events"),
        default="md",
        help="md: a readable transcript; json: pydantic-ai's message list (ModelMessagesTypeAdapter); "
        "events: each turn's recording as NDJSON, one event a line (docs/recordings.md)",
    )
    export.add_argument(
        "--all-branches",
        action="store_true",
        help="every version of every turn too: json, a tree `xsus history import` takes; md, a section for each",
    )
    export.add_argument("-o", "--output", type=Path, help="write to this file (created private, 0600)")
    export.add_argument("--force", action="store_true", help="replace the --output file if it exists")
    importing = history_commands.add_parser(
        "import", help="store a JSON export (a message list, or --all-branches) as a new conversation"
    )
    importing.add_argument("file", help="the JSON file, or - to read it from stdin")
    importing.add_argument("--title", help="the new conversation's title (default: its first prompt)")
    delete = history_commands.add_parser("delete", help="delete a conversation for good (asks first)")
    delete.add_argument("id", help="conversation id (or a unique prefix of it)")
    delete.add_argument("-y", "--yes", action="store_true", help="don't ask (needed without a terminal)")
    rename = history_commands.add_parser("rename", help="give a conversation a title")
    rename.add_argument("id", help="conversation id (or a unique prefix of it)")
    rename.add_argument("title", nargs="+", help="the new title (one line)")
    from .replaying import add_parser as add_replay  # here: replaying imports cli

    add_replay(commands)
    serve = commands.add_parser(
        "serve",
        help="serve the chat to a browser (every xsus flag applies: xsus serve --model X --agent F)",
        description="Serve the same chat to a browser: each tab runs xsus with the flags given here. The URL "
        "printed holds a random token; without it the page is refused.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000; 0 picks a free one)")
    return parser


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be between 0 and 65535")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def main(argv: list[str] | None = None) -> int:
    # pydantic-ai prints a first-run banner from source checkouts; inside a TUI it would land on screen.
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "serve":
        args = parser.parse_args(argv)  # says what is not understood, and exits
    try:
        if args.command == "serve":
            return _serve(parser, args, extra)
        if args.command == "history":
            return _history(args)
        if args.command == "config":
            return _config(args)
        if args.command == "replay":
            from .replaying import replay

            code = replay(args)
        elif args.command == "ask":
            from .headless import run as ask

            code = ask(args)
        else:
            code = _run_tui(args)
    except CliError as error:
        print(f"xsus: error: {error}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:  # `xsus history list | head`: the reader has all it wanted
        _quiet_stdout()
        return 141
    # The chat has ended and everything is saved: a thread that never returns (a sync tool blocked
    # forever, an --agent import still running) must not keep the process alive.
    exit_despite_threads(code)
    return code


def _serve(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]) -> int:
    """`xsus serve`: the chat flags (given before or after `serve`) are checked here, then run per browser tab."""
    chat = parser.parse_args(extra)  # the flags after `serve`: a bad one is answered now, not in each tab
    if chat.command is not None:
        parser.error(f"serve runs the chat; {chat.command!r} can't follow it")
    flags = _chat_flags(args) + extra
    try:
        from .serving import ServeError, serve
    except ImportError as error:  # textual-serve is a dependency; a broken install says so in one line
        raise CliError(f"xsus serve needs textual-serve ({error})") from error
    try:
        return serve(flags, host=args.host, port=args.port)
    except ServeError as error:
        raise CliError(str(error)) from error


def _chat_flags(args: argparse.Namespace) -> list[str]:
    """The chat's flags given before `serve` (`xsus --model X serve`), as flags again."""
    flags = []
    for name, flag in (("model", "--model"), ("agent", "--agent"), ("resume", "--resume")):
        if (value := getattr(args, name)) is not None:
            flags += [flag, value]
    if args.idle_timeout is not None:
        flags += ["--idle-timeout", repr(args.idle_timeout)]
    if args.retries is not None:
        flags += ["--retries", str(args.retries)]
    if args.continue_:
        flags.append("--continue")
    return flags


def _quiet_stdout() -> None:
    """Send what is left of stdout nowhere: the pipe is closed, and flushing at exit would fail again."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


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


def _run_tui(args: argparse.Namespace) -> int:
    """The chat. It needs a terminal: without one it says so at once (nothing heavy imported yet). Before the
    TUI starts, only the config is read; pydantic-ai, mcp, the --agent module, the model and the store are
    loaded by `ChatLoader` after the first frame (docs/architecture.md, Start-up)."""
    if (missing := missing_terminal()) is not None:
        raise CliError(
            f"the chat needs a terminal, and {missing}; for pipes and scripts use `xsus ask` "
            "(echo hi | xsus ask), and to read conversations `xsus history export --latest`"
        )
    pause_gc()  # until the chat is ready (XsusApp resumes it), or this ends
    try:
        with enter_typed_ahead_kept():
            return _start_tui(args)
    finally:
        resume_gc()


def _start_tui(args: argparse.Namespace) -> int:
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

    loader = ChatLoader(args, settings)
    app = XsusApp(loader=loader, theme=settings.theme, quit_on_signals=True)
    loader.on_progress = app.show_progress
    try:
        run_bounded(app.run_async())
        if (unsent := app.unsent.rstrip()).strip():  # (its first line's indentation kept: code, say)
            unsent = _shown(unsent.lstrip("\n"))
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


def _shown(text: str) -> str:
    """Text for the terminal as the app leaves: its control characters (an escape sequence pasted in) shown as
    symbols, not written raw; the rest (emoji, joiners, line breaks) as it is."""
    import unicodedata

    from .core.sanitize import inert

    control = {char for char in set(text) if unicodedata.category(char) == "Cc" and char not in "\n\t"}
    return "".join(inert(char) if char in control else char for char in text) if control else text


FINAL_SAVE_TIMEOUT = 0.8
"""Seconds the last try at saving what a failed save left may take at quit (quitting stays within 2 s)."""


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
    from .served import in_browser

    out = sys.stderr if in_browser() else sys.stdout  # served to a browser, stdout carries the screen's packets
    out.write(to_markdown(messages[len(messages) - unsaved :], title="Unsaved", conversation_id=short))
    out.flush()
    return False


def _history(args: argparse.Namespace) -> int:
    command = args.history_command
    if command == "import":
        return _import(args)
    if command in ("delete", "rename"):
        return _change(args)
    if not paths.history_db().exists():  # reading creates nothing
        if command in ("list", "search"):
            return _no_conversations(args.json)
        raise CliError(f"there are no conversations to {'export' if command == 'export' else 'show'} yet")
    from .core.db import StoreError

    try:
        if command == "export":
            return asyncio.run(_export(args))
        reader = _open_reader()
        try:
            if command == "list":
                _print_list(reader, as_json=args.json, limit=args.limit)
            elif command == "search":
                _print_search(reader, args.query, as_json=args.json, limit=args.limit)
            else:
                _print_tree(reader, args.id)
            return 0
        finally:
            reader.close()
    except StoreError as error:  # a damaged row, say: one line, not a traceback
        raise CliError(str(error)) from error


def _open_reader():
    """The history database read-only, without pydantic-ai (list, search and tree answer in a tenth of the time)."""
    from .core.db import StoreError
    from .core.reader import HistoryReader

    db = paths.history_db()
    try:
        reader = HistoryReader.open(db, busy_timeout=READ_TIMEOUT)
    except StoreError as error:
        raise store_cli_error(error) from error
    if reader.may_be_stale:
        warn_stale(db)
    return reader


def _resolve(store, prefix: str) -> str:
    try:
        return store.resolve_id(prefix)
    except KeyError as error:
        raise CliError(error.args[0]) from error


def _console():
    from rich.console import Console

    return Console(highlight=False)


def _print_list(reader, *, as_json: bool, limit: int | None) -> None:
    from .core.usage import as_json as usage_json
    from .core.usage import format_brief

    rows = reader.summaries(limit=limit)
    if as_json:
        data = [
            {
                "id": row.conversation_id,
                "title": row.title,
                "created_at": row.created_at.isoformat(),
                "updated_at": row.updated_at.isoformat(),
                "turns": row.turns,
                "messages": row.messages,
                "model": row.model,
                "agent": row.agent,
                "preview": row.preview,
                "usage": usage_json(row.usage),
            }
            for row in rows
        ]
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if not rows:
        _no_conversations(False)
        return
    from .core.sanitize import inert

    # The first 13 characters of a UUID7 are its creation time in ms: unique enough to type back.
    cells = [
        [
            row.conversation_id[:13],
            row.updated_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            str(row.turns),
            format_brief(row.usage),
            inert(row.agent or row.model or ""),
            inert(row.title),
            inert(row.preview),
        ]
        for row in rows
    ]
    headers = ["id", "updated", "turns", "usage", "agent/model", "title", "preview"]
    if not any(cell[3] for cell in cells):  # none counted (or no usage reported): no empty column
        headers.pop(3)
        cells = [cell[:3] + cell[4:] for cell in cells]
    _print_table(
        headers,
        cells,
        right={"turns", "usage"},
        caps={"agent/model": 24},
        squeeze=(("preview", 16), ("title", 16), ("agent/model", 8), ("title", 8)),
        drop=("preview", "agent/model", "usage", "turns"),
        dim={"preview"},
    )


def _print_table(
    headers: list[str],
    rows: list[list],
    *,
    right: set[str] = frozenset(),
    caps: dict[str, int] | None = None,
    squeeze: tuple[tuple[str, int], ...] = (),
    drop: tuple[str, ...] = (),
    dim: set[str] = frozenset(),
    wrap: str | None = None,
) -> None:
    """A table of one line a row (`wrap`: that column wraps instead). On a terminal it fits the width: the `squeeze`
    columns, in turn, are cut (with an ellipsis, or wrapped) down to their minimum width, then the `drop` columns
    are left out, in turn. Piped, every cell is whole."""
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    console = _console()
    caps = caps or {}
    natural = [
        min(caps.get(header, 10**6), max([cell_len(header), *(cell_len(_plain(row[i])) for row in rows)]))
        for i, header in enumerate(headers)
    ]
    widths = dict(zip(headers, natural, strict=True))
    if console.is_terminal:
        room = console.width

        def total() -> int:
            return sum(widths.values()) + 2 * (len(widths) - 1)

        for header, smallest in squeeze:  # each gives way down to its minimum, in turn
            if (over := total() - room) > 0 and header in widths:
                widths[header] = max(min(smallest, widths[header]), widths[header] - over)
        for header in drop:  # then whole columns, in turn
            if total() > room:
                del widths[header]
    else:
        console.width = max(console.width, sum(widths.values()) + 2 * (len(widths) - 1))
    if wrap is None:  # one line a row: laid out here, as Rich's Table takes about a millisecond a row
        _print_lines(console, headers, rows, widths, right=right, dim=dim)
        return
    table = Table(box=None, pad_edge=False)
    for header, width in widths.items():
        table.add_column(
            header,
            width=width,
            no_wrap=header != wrap,
            overflow="fold" if header == wrap else "ellipsis",
            justify="right" if header in right else "left",
            style="dim" if header in dim else None,
        )
    keep = [i for i, header in enumerate(headers) if header in widths]
    for row in rows:
        table.add_row(*(row[i] if isinstance(row[i], Text) else Text(row[i]) for i in keep))
    if console.is_terminal:
        console.print(table)
        return
    with console.capture() as captured:
        console.print(table)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def _print_lines(console, headers: list[str], rows: list[list], widths: dict[str, int], *, right, dim) -> None:
    """The table `_print_table` would print with Rich, without a wrapping column: each cell cut with an ellipsis
    or padded to its column's width (in terminal cells), two spaces between columns."""
    from rich.cells import cell_len, set_cell_size
    from rich.text import Text

    keep = [(i, header, widths[header]) for i, header in enumerate(headers) if header in widths]
    last = len(keep) - 1

    def cell(text: str, width: int, header: str, end: bool) -> str:
        size = cell_len(text)
        if size > width:
            return set_cell_size(text, width - 1) + "…"
        if header in right:
            return " " * (width - size) + text
        return text if end else text + " " * (width - size)

    def line(values: list[str]) -> list[str]:
        return [cell(values[i], width, header, n == last) for n, (i, header, width) in enumerate(keep)]

    head = line(headers)
    body = [line([_plain(value) for value in row]) for row in rows]
    if not console.is_terminal:
        sys.stdout.write("".join("  ".join(cells).rstrip() + "\n" for cells in [head, *body]))
        return
    dim_at = {n for n, (_, header, _) in enumerate(keep) if header in dim}
    out = Text()
    out.append("  ".join(head).rstrip() + "\n", style="bold")
    for cells in body:
        for n, value in enumerate(cells):
            out.append(("  " if n else "") + value, style="dim" if n in dim_at else "")
        out.append("\n")
    console.print(out, no_wrap=True, overflow="ignore", crop=False, end="")


def _plain(cell) -> str:
    return cell if isinstance(cell, str) else cell.plain


def _no_conversations(as_json: bool) -> int:
    print("[]" if as_json else "No conversations yet. Start one with: xsus")
    return 0


def marked_spans(snippet: str) -> tuple[str, list[tuple[int, int]]]:
    """A search snippet without its match marks (index.MARK_START/MARK_END), and where the marked spans are in it
    (start, end), adjacent spans joined."""
    from .core.index import MARK_END, MARK_START

    plain: list[str] = []
    spans: list[tuple[int, int]] = []
    at, start = 0, None
    for piece in re.split(f"([{MARK_START}{MARK_END}])", snippet):
        if piece == MARK_START:
            start = at if start is None else start
        elif piece == MARK_END:
            if start is not None and at > start:
                if spans and spans[-1][1] == start:
                    spans[-1] = (spans[-1][0], at)
                else:
                    spans.append((start, at))
            start = None
        elif piece:
            plain.append(piece)
            at += len(piece)
    if start is not None and at > start:  # a mark left open: up to the end
        spans.append((start, at))
    return "".join(plain), spans


TITLE_MATCHES = 20
"""Conversations listed by title before the messages that match (the browser lists as many)."""


def _spans_of(text: str, query: str) -> list[tuple[int, int]]:
    """Where `query` occurs in `text`, case aside."""
    spans, folded, needle = [], text.casefold(), query.casefold()
    at = folded.find(needle) if needle else -1
    while at >= 0:
        spans.append((at, at + len(needle)))
        at = folded.find(needle, at + len(needle))
    return spans


def _print_search(reader, query: str, *, as_json: bool, limit: int) -> None:
    from .core.index import fts_queries

    # As the browser (Ctrl+O) lists them: the conversations whose title has the query, then the messages.
    titles = reader.summaries(limit=TITLE_MATCHES, title=query.strip()) if query.strip() else []
    hits = reader.search(query, limit=limit)
    if as_json:
        data = []
        for row in titles:
            data.append(
                {
                    "conversation_id": row.conversation_id,
                    "title": row.title,
                    "turn": None,
                    "role": "title",
                    "entry_id": None,
                    "snippet": row.title,
                    "matches": [list(span) for span in _spans_of(row.title, query.strip())],
                }
            )
        for hit in hits:
            plain, spans = marked_spans(hit.snippet)
            data.append(
                {
                    "conversation_id": hit.conversation.conversation_id,
                    "title": hit.conversation.title,
                    "turn": hit.turn,
                    "role": hit.role,
                    "entry_id": hit.entry_id,
                    "snippet": plain,
                    "matches": [list(span) for span in spans],
                }
            )
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if not hits and not titles:
        if not fts_queries(query):
            print(f"Nothing to search for in {query!r}: each word needs at least 3 characters.")
        else:
            print(f"No messages match {query!r}.")
        return
    from rich.text import Text

    from .core.sanitize import inert

    rows = []
    for row in titles:
        title = Text()
        at = 0
        for start, end in _spans_of(row.title, query.strip()):
            title.append(inert(row.title[at:start]))
            title.append(inert(row.title[start:end]), style="bold reverse")
            at = end
        title.append(inert(row.title[at:]))
        rows.append([row.conversation_id[:13], "", "title", inert(row.title), title])
    for hit in hits:
        plain, spans = marked_spans(hit.snippet)
        snippet = Text()
        at = 0
        for start, end in spans:
            snippet.append(inert(plain[at:start]))
            snippet.append(inert(plain[start:end]), style="bold reverse")
            at = end
        snippet.append(inert(plain[at:]))
        rows.append(
            [hit.conversation.conversation_id[:13], str(hit.turn), hit.role, inert(hit.conversation.title), snippet]
        )
    _print_table(
        ["id", "turn", "role", "title", "snippet"],
        rows,
        right={"turn"},
        caps={"title": 32},
        squeeze=(("snippet", 24), ("title", 8), ("snippet", 12)),
        drop=("title",),
        wrap="snippet",
    )


def _print_tree(reader, prefix: str) -> None:
    from rich.text import Text

    from .core.sanitize import inert

    if reader.schema < 2:
        from .core.db import no_search_index

        raise CliError(str(no_search_index(reader.path)).replace("search index", "index of turns"))
    conversation_id = _resolve(reader, prefix)
    tree = reader.tree(conversation_id)
    if tree is None:
        raise CliError(f"conversation {conversation_id[:13]} disappeared while reading it")
    lines = tree.lines()
    texts = reader.texts(
        [line.version.prompt_id for line in lines] + [line.version.reply_id for line in lines if line.version.reply_id]
    )
    console = _console()
    if console.is_terminal and (summary := reader.summary(conversation_id)) is not None:
        header = Text(conversation_id[:13], style="dim") + Text(f"  {inert(summary.title)}", style="bold")
        console.print(header, no_wrap=True, overflow="ellipsis")
    width = console.width if console.is_terminal else None
    for line in lines:
        version = line.version
        head = "  " * line.indent + ("● " if line.current else "○ ") + str(version.turn)
        if line.of > 1:
            head += f" ‹{line.position}/{line.of}›"
        prompt = inert(texts.get(version.prompt_id, "")) or "(empty prompt)"
        reply = inert(texts.get(version.reply_id, "")) if version.reply_id else "(no reply)"
        if width is not None:  # both ends visible: the prompt takes at most about half of what is left
            room = max(12, (width - len(head) - 5) // 2)
            if len(prompt) > room:
                prompt = prompt[: room - 1].rstrip() + "…"
        text = Text(head + "  ", style="bold" if line.current else "dim")
        text.append(prompt)
        text.append(" → ", style="dim")
        text.append(reply or "…", style="" if line.current else "dim")
        if width is None:
            print(text.plain)
        else:
            console.print(text, no_wrap=True, overflow="ellipsis")


async def _export(args: argparse.Namespace) -> int:
    from .core.export import to_json, to_markdown

    store = open_store(reading=True)
    try:
        if args.latest:
            conversation_id = store.latest_id()
            if conversation_id is None:
                raise CliError("there are no conversations to export yet")
        else:
            conversation_id = _resolve(store, args.id)
        conversation = await store.load(conversation_id)
        if conversation is None:
            raise CliError(f"conversation {conversation_id} disappeared while exporting")
        if store.schema >= 2:
            summary = await store.summary(conversation_id)
            title = summary.title if summary is not None else "Conversation"
        else:
            title = next((s.title for s in store.summaries() if s.conversation_id == conversation_id), "Conversation")
        if args.format == "events":
            text = await _export_events(store, conversation_id, all_branches=args.all_branches)
        elif args.all_branches:
            text = await _export_all_branches(store, conversation, title, args.format)
        elif args.format == "json":
            text = to_json(conversation.messages)
        else:
            text = to_markdown(conversation.messages, title=title, conversation_id=conversation_id)
    finally:
        store.close()
    if args.output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    _write_private(args.output, text, force=args.force)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


async def _export_events(store, conversation_id: str, *, all_branches: bool) -> str:
    """The recordings of the conversation's turns (every version's with --all-branches) as NDJSON."""
    from .core.recording import to_ndjson

    recordings = await store.recordings(conversation_id, all_branches=all_branches)
    if not recordings:
        raise CliError(
            f"conversation {conversation_id[:13]} has no recorded turns (turns from before recordings have none)"
        )
    return "".join(to_ndjson(recordings))


async def _export_all_branches(store, conversation, title: str, form: str) -> str:
    """Every version of every turn: the tree document (json) or a section for each other version (md)."""
    from pydantic_ai.conversation_store import ConversationEntry

    from .core.export import to_markdown_all_branches, to_tree_json

    conversation_id = conversation.conversation_id
    if store.schema < 2:
        from .core.db import no_search_index

        raise CliError(str(no_search_index(store.path)).replace("search index", "index of turns"))
    found = await store.all_entries(conversation_id)
    if found is None:
        raise CliError(f"conversation {conversation_id} disappeared while exporting")
    record, entries = found
    head_id = record.head_id
    # Read-only, a reply a crashed process left in its checkpoint is part of the conversation (as `load` has it).
    for message in await store.pending_reply(conversation_id, record.revision):
        entries.append(entry := ConversationEntry(parent_id=head_id, message=message))
        head_id = entry.id
    if form == "json":
        return to_tree_json(entries, conversation_id=conversation_id, title=title, head_id=head_id)
    from .core.index import ConversationTree, Node

    turn_of: dict[str, int] = {}
    nodes = {}
    for order, entry in enumerate(entries):  # each after its parent
        prompt = entry.message.kind == "request" and any(p.part_kind == "user-prompt" for p in entry.message.parts)
        turn_of[entry.id] = turn_of.get(entry.parent_id or "", 0) + prompt
        nodes[entry.id] = Node(entry.id, entry.parent_id, turn_of[entry.id], order)
    tree = ConversationTree(nodes, head_id)
    return to_markdown_all_branches(
        conversation.messages,
        tree,
        {entry.id: entry.message for entry in entries},
        title=title,
        conversation_id=conversation_id,
    )


# -- commands that write -----------------------------------------------------------------------------------


def _import(args: argparse.Namespace) -> int:
    from .core.export import NotImportable, read_import

    label = "stdin" if args.file == "-" else args.file
    title = None
    if args.title is not None:
        title = " ".join(args.title.split())
        if not title:
            raise CliError("a title can't be empty")
    text = read_source(args.file)
    try:
        imported = read_import(text)  # all of it checked before anything is stored
    except NotImportable as error:
        raise CliError(f"{label}: {error}; nothing was imported") from None
    store = open_writer()
    try:
        if imported.entries:
            conversation_id = asyncio.run(
                store.import_tree(imported.entries, imported.head_id, title=title or imported.title)
            )
        else:
            conversation_id = asyncio.run(store.import_messages(imported.messages, title=title))
    except store_error_type() as error:
        raise CliError(str(error)) from error
    finally:
        store.close()
    print(conversation_id)
    return 0


def _change(args: argparse.Namespace) -> int:
    """`delete` and `rename`: they open the store for writing (an old store is indexed first)."""
    if not paths.history_db().exists():
        raise CliError(f"no conversation with id {args.id!r} (there are no conversations yet)")
    store = open_writer()
    try:
        conversation_id = _resolve(store, args.id)
        if args.history_command == "rename":
            try:
                title = asyncio.run(store.rename(conversation_id, " ".join(args.title)))
            except ValueError as error:
                raise CliError(str(error)) from error
            print(f"Renamed {conversation_id[:13]} to {title!r}.")
            return 0
        return _delete(store, conversation_id, ask=not args.yes)
    except store_error_type() as error:
        raise CliError(str(error)) from error
    except KeyError as error:
        raise CliError(f"no conversation with id {args.id!r}") from error
    finally:
        store.close()


def _delete(store, conversation_id: str, *, ask: bool) -> int:
    from .core.sanitize import inert

    summary = asyncio.run(store.summary(conversation_id))
    if summary is None:
        raise KeyError(conversation_id)
    title = inert(summary.title)
    if ask:
        if not sys.stdin.isatty():
            raise CliError(f"stdin is not a terminal to ask on: add --yes to delete {conversation_id[:13]} for good")
        updated = summary.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
        turns = f"{summary.turns} turn{'s' * (summary.turns != 1)}"
        # Asked outside any event loop: asyncio.run turns the first Ctrl+C into a cancellation a blocking read
        # would never see.
        try:  # (around the question too: a Ctrl+C as soon as it shows may come before the read starts)
            print(f'Delete "{title}" ({turns}, updated {updated})? [y/N] ', end="", file=sys.stderr, flush=True)
            answer = sys.stdin.readline()
        except KeyboardInterrupt:
            print("\nNot deleted.", file=sys.stderr)
            return 130
        if not answer:
            print(file=sys.stderr)
        if answer.strip().lower() not in ("y", "yes"):
            print("Not deleted.", file=sys.stderr)
            return 1
    asyncio.run(store.delete_now(conversation_id))
    print(f'Deleted "{title}" ({conversation_id[:13]}).')
    return 0


def _write_private(path: Path, text: str, *, force: bool) -> None:
    """Write `text` to `path` as a new private file (0600); an existing one is replaced only with `force`."""
    from .core.export import NotWritten, write_private

    try:
        write_private(path, text, replace=force)
    except NotWritten as error:
        raise CliError(f"{error}; add --force to replace it" if error.exists else str(error)) from None
