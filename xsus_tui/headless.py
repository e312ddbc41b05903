"""`xsus ask`: one turn without the TUI, for pipes and scripts.

The prompt is the command's arguments, stdin, or both (stdin then goes under the prompt as a fenced block,
`MAX_STDIN` bytes at most), with files attached by `-f FILE` or an `@path` in the arguments (as in the chat).
The reply streams to stdout as it arrives: the text as it streams when stdout is a
pipe or a file, markdown rendered block by block (Rich) on a terminal, and a structured output as JSON. Tool
calls, status and errors go to stderr, one line each. Model text is made inert (`core.sanitize.inert`) on both,
as `xsus history export` does. `--json` writes the turn's recording instead (docs/recordings.md): its header,
then one event a line as it happens, which is what `xsus history export --format events` gives for the turn.

It runs the TUI's ChatSession against the TUI's store, so the turn is in the history (`xsus -c` goes on with
it). Exit status: 0 done, 1 the model failed (or the turn could not be saved), 2 bad usage, 130 interrupted
(Ctrl+C: the partial reply is saved; a second Ctrl+C exits at once), 141 stdout closed early.

This module runs the command (arguments, prompt, the turn, signals, approvals); `headless_output.py` writes what
it produces. Textual is never imported; pydantic-ai only once the arguments and stdin have been read.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import select
import signal
import sys
from typing import TYPE_CHECKING, Any

from . import paths
from .headless_output import (
    JsonOutput,
    Output,
    PlainOutput,
    RenderedOutput,
    Warnings,
    args_text,
    isatty,
    one_line,
)
from .loading import ChatLoader, CliError, load_conversation, open_store, open_writer, seconds_option
from .process import in_daemon_thread, run_bounded

if TYPE_CHECKING:
    from .config import Settings
    from .core.session import ChatSession

MAX_STDIN = 1_000_000
"""Bytes of stdin `xsus ask` takes; more is refused with one line rather than sent silently."""
STDIN_HINT_AFTER = 3.0
"""Seconds of silence on a stdin that is not a terminal before a terminal's stderr says it is being read."""
FINAL_SAVE_TIMEOUT = 0.8
"""Seconds the last try at saving what a failed save left may take."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`xsus ask`'s arguments. The options the chat also has (`--model` ...) are SUPPRESSed when not given, so
    `xsus --model X ask` and `xsus ask --model X` both work."""
    unset = argparse.SUPPRESS
    parser.add_argument(
        "prompt", nargs="*", help="the prompt (several words are joined); stdin, if piped, goes under it as context"
    )
    parser.add_argument("-m", "--model", default=unset, help="pydantic-ai model id, or 'demo' (as for the chat)")
    parser.add_argument("-a", "--agent", metavar="TARGET", default=unset, help="your agent: file.py:name or mod:name")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "-c", "--continue", dest="continue_", action="store_true", default=unset, help="go on with the latest chat"
    )
    which.add_argument("-r", "--resume", metavar="ID", default=unset, help="go on with the conversation with this id")
    parser.add_argument(
        "--json",
        dest="as_json",
        action="store_true",
        help="write the turn's events as NDJSON on stdout, the recording format (docs/recordings.md)",
    )
    decide = parser.add_mutually_exclusive_group()
    decide.add_argument("--approve", action="store_true", help="run tools that need approval without asking")
    decide.add_argument(
        "--deny", action="store_true", help="refuse tools that need approval (the default without a terminal to ask)"
    )
    parser.add_argument(
        "-f",
        "--file",
        dest="files",
        metavar="FILE",
        action="append",
        default=[],
        help="attach FILE (text, an image, a PDF), as @FILE in the prompt does; repeat for more",
    )
    parser.add_argument("--usage", action="store_true", help="print the turn's tokens and cost on stderr when it ends")
    parser.add_argument("--no-save", action="store_true", help="keep this turn out of the history")
    parser.add_argument(
        "--retries", type=int, choices=range(0, 11), metavar="N", default=unset, help="as for the chat (default 3)"
    )
    parser.add_argument(
        "--idle-timeout", type=seconds_option, metavar="SECONDS", default=unset, help="as for the chat (default 60)"
    )


def run(args: argparse.Namespace) -> int:
    """`xsus ask`: the exit status, or CliError (one line, status 2) for a problem the user can fix."""
    if args.continue_ and args.resume:
        raise CliError("-c/--continue and -r/--resume can't go together")
    if sys.stderr is None:  # `2>&-`: nowhere to say anything, but the turn still runs and is saved
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the process's stderr from now on
    if sys.stdout is None:
        raise CliError("stdout is closed: there is nowhere to write the reply (>&- ?)")
    settings = _settings()
    text, files = _files(args, settings)  # before stdin: a file that can't be attached stops it unread
    prompt: Any = compose_prompt(text, _read_stdin())
    if not prompt.strip() and not files:
        raise CliError('nothing to ask: give a prompt (xsus ask "...") or pipe one in (echo "..." | xsus ask)')
    target = args.agent or settings.agent
    if target:
        from .core.agent_loader import AgentLoadError, parse_target  # no pydantic-ai yet

        try:
            parse_target(target)
        except AgentLoadError as error:
            raise CliError(str(error)) from error
    chat_agent = ChatLoader(args, settings)._agent(target)  # the chat's own: same errors, config named
    if files:
        from .core import attachments

        prompt = attachments.Prompt(prompt, tuple(files))
        model = chat_agent.model or getattr(chat_agent.agent, "model", None)
        if (refused := attachments.unsupported(prompt, getattr(model, "profile", None))) is not None:
            raise CliError(f"not sent: {refused}")
    store, conversation, notices = _conversation(args)
    try:
        from .core.session import ChatSession

        session = ChatSession(
            chat_agent,
            None if args.no_save else store,
            conversation=conversation,
            retries=settings.retries if args.retries is None else args.retries,
            idle_timeout=args.idle_timeout or settings.idle_timeout,
            model_settings=settings.model_settings,
        )
        warn = Warnings()
        for notice in notices:
            warn(notice)
        output: Output = (
            JsonOutput(session, getattr(prompt, "text", prompt), sys.stdout)
            if args.as_json
            else RenderedOutput(warn=warn)
            if isatty(sys.stdout)
            else PlainOutput(sys.stdout)
        )
        return run_bounded(_ask(session, prompt, output, warn, args, settings))
    finally:
        if store is not None:
            store.close(timeout=0.5)


def _files(args: argparse.Namespace, settings: Settings) -> tuple[str, list[Any]]:
    """The prompt's words, and the files to attach: each `-f FILE`, then each `@path` in the words (which stay
    in them, as in the chat). A file that can't be attached is a CliError saying why."""
    text = " ".join(args.prompt)
    if not args.files and "@" not in text:
        return text, []
    from pathlib import Path

    from .core import attachments

    limit = int(settings.max_attachment_mb * 1024 * 1024)
    files: list[Any] = []
    try:
        for name in args.files:
            files.append(attachments.read_file(attachments.expand(name), limit=limit, name=name))
        text, mentioned = attachments.take_mentions(text, cwd=Path.cwd(), limit=limit)
    except attachments.AttachmentError as error:
        raise CliError(f"not sent: {error}") from None
    once: list[Any] = []
    for attachment in [*files, *mentioned]:  # a file named twice (-f, or its @path too) is sent once
        if not any(os.path.samefile(attachment.source, present.source) for present in once):
            once.append(attachment)
    return text, once


def _settings() -> Settings:
    from .config import ConfigError, load_settings

    try:
        return load_settings(paths.config_file())
    except ConfigError as error:
        raise CliError(str(error)) from error


def _conversation(args: argparse.Namespace) -> tuple[Any, Any, list[str]]:
    """The store (None with --no-save) and the conversation to go on with (None: a new one), with notices."""
    notices: list[str] = []
    going_on = bool(args.continue_ or args.resume)
    if args.no_save:
        if not going_on:
            return None, None, notices
        if not paths.history_db().exists():
            if args.resume:
                raise CliError(f"no conversation with id {args.resume!r} (there are no conversations yet)")
            return None, None, ["There is no saved conversation to continue yet, so this is a new one."]
        store = open_store(reading=True)
    else:
        store = open_writer()
    try:
        conversation = asyncio.run(load_conversation(store, args, notices)) if going_on else None
    except BaseException:
        store.close(timeout=0.5)
        raise
    if args.no_save:
        store.close(timeout=0.5)
        store = None
    return store, conversation, notices


# -- the prompt --------------------------------------------------------------------------------------------


def compose_prompt(prompt: str, context: str | None) -> str:
    """The prompt sent: the arguments, stdin alone, or the arguments with stdin under them in a fenced block
    (a fence longer than any run of backticks in it, so the block can't be closed early)."""
    prompt = prompt.strip()
    if context is None or not context.strip():
        return prompt
    if not prompt:
        return context.strip()
    body = context.strip("\n")
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", body)), default=0))
    return f"{prompt}\n\n{fence}\n{body}\n{fence}"


def _read_stdin() -> str | None:
    """stdin's text when it is not a terminal (a pipe, a file, /dev/null), else None. More than `MAX_STDIN`
    bytes, or bytes that are not UTF-8, are a CliError."""
    stdin = sys.stdin
    if stdin is None or isatty(stdin):
        return None
    try:
        fd = stdin.fileno()
    except (OSError, ValueError):
        return None
    if isatty(sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            ready, _, _ = select.select([fd], [], [], STDIN_HINT_AFTER)
            if not ready:
                print(
                    "xsus: reading stdin (it is not a terminal): end it with Ctrl+D, or run with </dev/null",
                    file=sys.stderr,
                    flush=True,
                )
    data = stdin.buffer.read(MAX_STDIN + 1)
    if len(data) > MAX_STDIN:
        raise CliError(
            f"stdin holds more than {MAX_STDIN:,} bytes, more than xsus ask sends; cut it down first "
            f"(e.g. head -c {MAX_STDIN})"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CliError(f"stdin is not UTF-8 text (byte {error.start}); xsus ask sends text only") from None


# -- the turn ----------------------------------------------------------------------------------------------


async def _ask(
    session: ChatSession, prompt: str, output: Output, warn: Warnings, args: argparse.Namespace, settings: Settings
) -> int:
    from .core import events as ev

    approvals = Approvals(session, warn, policy="approve" if args.approve else "deny" if args.deny else None)
    interrupts = Interrupts(session, warn, approvals)
    session.expect_turn()  # a Ctrl+C from here on stops the turn, also before it starts
    mcp = await _start_mcp(session, settings, warn, interrupts)
    ending: Any = None
    usage = None
    if args.usage:
        from .core.pricing import UsageTracker

        usage = UsageTracker()
    try:
        async with contextlib.aclosing(session.run_turn(prompt)) as events:
            async for event in events:
                if usage is not None and isinstance(event, ev.ResponseUsage):
                    usage.add(event)
                if isinstance(event, ev.ApprovalRequested):
                    output.pause()
                    approvals.request(event)
                output.event(event)
                warn.event(event)
                if isinstance(event, ev.TurnFinished | ev.TurnCancelled | ev.TurnFailed):
                    ending = event
        output.end()
    except BrokenPipeError:  # `xsus ask ... | head -1`: the reader has what it wanted (the turn was saved above)
        _quiet_stdout()
        return 141
    except OSError as error:  # stdout on a full disk (`> /dev/full`): one line, not a traceback
        _quiet_stdout()
        warn(f"error: can't write the reply: {(error.strerror or str(error)).lower()}; what came is saved")
        return 1
    finally:
        approvals.close()
        interrupts.close()
        if mcp is not None:
            await mcp.stop()
    code = _exit_code(ending, interrupts.signal)
    if usage is not None:
        print(usage_line(usage.figures.turn), file=sys.stderr, flush=True)
    if session.unsaved:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.flush(), FINAL_SAVE_TIMEOUT)
        if session.unsaved:
            warn(f"NOT saved: this turn could not be written to the history ({session.save_error or 'no answer'})")
            return code or 1
    if session.store is not None and session.conversation.messages and isatty(sys.stderr) and not args.as_json:
        short = session.conversation.conversation_id[:13]
        warn.dim(f"saved in conversation {short}: go on with  xsus ask -c  or  xsus -r {short}")
    return code


def usage_line(turn: Any) -> str:
    """`--usage`: `usage: 1,234 in, 56 out tokens in 2 requests, $0.0012` (the cost as the chat's status says it)."""
    from .core.usage import format_cost

    if turn is None or not turn.responses:
        return "usage: no response came back"
    requests = f" in {turn.responses} requests" if turn.responses > 1 else ""
    return f"usage: {turn.input_tokens:,} in, {turn.output_tokens:,} out tokens{requests}, {format_cost(turn)}"


def _exit_code(ending: Any, signal_number: int | None) -> int:
    from .core.events import TurnCancelled, TurnFailed, TurnFinished

    if isinstance(ending, TurnFinished):
        return 0
    if isinstance(ending, TurnFailed):
        return 1
    if isinstance(ending, TurnCancelled):
        return 128 + (signal_number or signal.SIGINT)
    return 1


async def _start_mcp(session: ChatSession, settings: Settings, warn: Warnings, interrupts: Interrupts) -> Any:
    """The configured MCP servers, as the chat starts them (a Ctrl+C while they start stops waiting)."""
    if not settings.mcp_servers:
        return None
    from .core.mcp_servers import McpServers

    mcp = McpServers(settings.mcp_servers)
    starting = asyncio.ensure_future(mcp.start())
    await asyncio.wait({starting, asyncio.ensure_future(interrupts.happened.wait())}, return_when="FIRST_COMPLETED")
    if starting.done():
        for problem in starting.result():
            warn(problem)
        session.toolsets = mcp.toolsets
    return mcp


def _quiet_stdout() -> None:
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


class Interrupts:
    """Ctrl+C (and SIGTERM) during `xsus ask`: the first cancels the turn, which saves its partial reply and ends
    it; a second exits at once."""

    def __init__(self, session: ChatSession, warn: Warnings, approvals: Approvals) -> None:
        self.session = session
        self.warn = warn
        self.approvals = approvals
        self.signal: int | None = None
        """The first signal received."""
        self.happened = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            self._loop.add_signal_handler(number, self._received, number)

    def _received(self, number: int) -> None:
        if self.signal is not None:
            self.warn("interrupted again: exiting without waiting for the save")
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            os._exit(128 + number)
        self.signal = number
        self.happened.set()
        self.approvals.interrupted()
        self.session.cancel()

    def close(self) -> None:
        for number in (signal.SIGINT, signal.SIGTERM):
            self._loop.remove_signal_handler(number)


class Approvals:
    """Tools that need approval: `--approve`, `--deny`, or a question on the terminal (/dev/tty), one at a time;
    without a terminal to ask on, denied with a line saying so."""

    def __init__(self, session: ChatSession, warn: Warnings, *, policy: str | None) -> None:
        self.session = session
        self.warn = warn
        self.policy = policy
        self._asking = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._question: int | None = None
        """The terminal while a question waits for its answer there."""

    def request(self, event: Any) -> None:
        name = event.tool_name
        if self.policy == "approve":
            self.warn(f"{name} needs approval: approved (--approve)")
            self.session.decide(event.call_id, True)
        elif self.policy == "deny":
            self.warn(f"{name} needs approval: denied (--deny)")
            self.session.decide(event.call_id, False, "The user denied this tool call.")
        else:
            task = asyncio.create_task(self._ask(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _ask(self, event: Any) -> None:
        name = event.tool_name
        async with self._asking:
            if (tty := _open_tty()) is None:
                self.warn(f"{name} needs approval and there is no terminal to ask on: denied (--approve allows it)")
                self.session.decide(event.call_id, False, "The user was not there to approve this tool call.")
                return
            try:
                _write(tty, f"xsus: allow {name} {one_line(args_text(event.args))}? [y/N] ")
                self._question = tty
                answer = await in_daemon_thread(_read_line, tty, name="approval")
            except OSError:
                answer = ""
            finally:  # cancelled (Ctrl+C), the read is left to its daemon thread
                self._question = None
            with contextlib.suppress(OSError):
                os.close(tty)
            approved = answer.strip().lower() in ("y", "yes")
            self.session.decide(event.call_id, approved, None if approved else "The user denied this tool call.")

    def interrupted(self) -> None:
        """Ctrl+C: the question's line is left as it is; what comes next starts on a line of its own."""
        if self._question is not None:
            _write(self._question, "\n")

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()


def _open_tty() -> int | None:
    """The controlling terminal (a file descriptor), to ask on also when stdin and stdout are pipes; None without
    one."""
    try:
        return os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None


def _write(fd: int, text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, text.encode())


def _read_line(fd: int) -> str:
    """One line typed on the terminal (its line discipline hands it over whole), or "" at end of input."""
    return os.read(fd, 4096).decode(errors="replace")
