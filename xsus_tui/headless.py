"""`xsus ask`: one turn without the TUI, for pipes and scripts.

The prompt is the command's arguments, stdin, or both (stdin then goes under the prompt as a fenced block,
`MAX_STDIN` bytes at most). The reply streams to stdout as it arrives: the text as it streams when stdout is a
pipe or a file, markdown rendered block by block (Rich) on a terminal, and a structured output as JSON. Tool
calls, status and errors go to stderr, one line each. Model text is made inert (`core.sanitize.inert`) on both,
as `xsus history export` does. `--json` writes the turn's recording instead (docs/recordings.md): its header,
then one event a line as it happens, which is what `xsus history export --format events` gives for the turn.

It runs the TUI's ChatSession against the TUI's store, so the turn is in the history (`xsus -c` goes on with
it). Exit status: 0 done, 1 the model failed (or the turn could not be saved), 2 bad usage, 130 interrupted
(Ctrl+C: the partial reply is saved; a second Ctrl+C exits at once), 141 stdout closed early.

Textual is never imported; pydantic-ai only once the arguments and stdin have been read.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import select
import signal
import sys
from typing import TYPE_CHECKING, Any, TextIO

from . import paths
from .cli import CliError, _ChatLoader, _load_conversation, _open_store, _open_writer, _seconds
from .process import in_daemon_thread, run_bounded

if TYPE_CHECKING:
    from .config import Settings
    from .core.session import ChatSession

MAX_STDIN = 1_000_000
"""Bytes of stdin `xsus ask` takes; more is refused with one line rather than sent silently."""
STDIN_HINT_AFTER = 3.0
"""Seconds of silence on a stdin that is not a terminal before a terminal's stderr says it is being read."""
TOOL_LINE = 240
"""Characters of a tool call's arguments or result shown in its line on stderr."""
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
    parser.add_argument("--no-save", action="store_true", help="keep this turn out of the history")
    parser.add_argument(
        "--retries", type=int, choices=range(0, 11), metavar="N", default=unset, help="as for the chat (default 3)"
    )
    parser.add_argument(
        "--idle-timeout", type=_seconds, metavar="SECONDS", default=unset, help="as for the chat (default 60)"
    )


def run(args: argparse.Namespace) -> int:
    """`xsus ask`: the exit status, or CliError (one line, status 2) for a problem the user can fix."""
    if args.continue_ and args.resume:
        raise CliError("-c/--continue and -r/--resume can't go together")
    settings = _settings()
    prompt = compose_prompt(" ".join(args.prompt), _read_stdin())
    if not prompt.strip():
        raise CliError('nothing to ask: give a prompt (xsus ask "...") or pipe one in (echo "..." | xsus ask)')
    target = args.agent or settings.agent
    if target:
        from .core.agent_loader import AgentLoadError, parse_target  # no pydantic-ai yet

        try:
            parse_target(target)
        except AgentLoadError as error:
            raise CliError(str(error)) from error
    chat_agent = _ChatLoader(args, settings)._agent(target)  # the chat's own: same errors, config named
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
            JsonOutput(session, prompt, sys.stdout)
            if args.as_json
            else RenderedOutput()
            if _isatty(sys.stdout)
            else PlainOutput(sys.stdout)
        )
        return run_bounded(_ask(session, prompt, output, warn, args, settings))
    finally:
        if store is not None:
            store.close(timeout=0.5)


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
        store = _open_store(reading=True)
    else:
        store = _open_writer()
    try:
        conversation = asyncio.run(_load_conversation(store, args, notices)) if going_on else None
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
    if stdin is None or _isatty(stdin):
        return None
    try:
        fd = stdin.fileno()
    except (OSError, ValueError):
        return None
    if _isatty(sys.stderr):
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


def _isatty(stream: Any) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, OSError, ValueError):
        return False


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
    try:
        async with contextlib.aclosing(session.run_turn(prompt)) as events:
            async for event in events:
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
    finally:
        approvals.close()
        interrupts.close()
        if mcp is not None:
            await mcp.stop()
    code = _exit_code(ending, interrupts.signal)
    if session.unsaved:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.flush(), FINAL_SAVE_TIMEOUT)
        if session.unsaved:
            warn(f"NOT saved: this turn could not be written to the history ({session.save_error or 'no answer'})")
            return code or 1
    if session.store is not None and session.conversation.messages and _isatty(sys.stderr) and not args.as_json:
        short = session.conversation.conversation_id[:13]
        warn.dim(f"saved in conversation {short}: go on with  xsus ask -c  or  xsus -r {short}")
    return code


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
                _write(tty, f"xsus: allow {name} {_one_line(_args(event.args))}? [y/N] ")
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


# -- what goes to stderr -----------------------------------------------------------------------------------


def _one_line(text: str, limit: int = TOOL_LINE) -> str:
    from .core.sanitize import inert

    flat = " ".join(inert(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _args(args: Any) -> str:
    return args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)


class Warnings:
    """Lines on stderr: tool calls, status, notices and errors, each one line, inert; dim on a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.terminal = _isatty(self.stream) and "NO_COLOR" not in os.environ
        self._shown: set[str] = set()
        """Tool calls whose line is out."""
        self._names: dict[str, str] = {}
        self._stalled = False
        self._waiting = False

    def __call__(self, text: str) -> None:
        self._write(f"xsus: {_one_line(text, 4 * TOOL_LINE)}")

    def dim(self, text: str) -> None:
        self._write(f"xsus: {_one_line(text, 4 * TOOL_LINE)}", dim=True)

    def _write(self, line: str, *, dim: bool = False) -> None:
        if self.terminal and dim:
            line = f"\x1b[2m{line}\x1b[0m"
        self.stream.write(line + "\n")
        self.stream.flush()

    def event(self, event: Any) -> None:
        from .core import events as ev

        match event:
            case ev.ToolCallRunning(call_id=call_id, args=args):
                if call_id not in self._shown:
                    self._call(call_id, self._names.get(call_id, "tool"), args)
            case ev.ToolCallStarted(call_id=call_id, tool_name=name):
                self._names[call_id] = name
            case ev.ApprovalRequested(call_id=call_id):
                self._shown.add(call_id)  # Approvals says it
            case ev.ToolCallFinished(call_id=call_id, tool_name=name, result=result, error=error, outcome=outcome):
                if call_id not in self._shown:
                    self._call(call_id, name, "")
                if outcome in ("denied", "interrupted"):
                    self.dim(f"tool {name} {outcome}: {_one_line(error or result or '')}")
                elif error is not None:
                    self.dim(f"tool {name} failed: {_one_line(error)}")
                else:
                    self.dim(f"tool {name} → {_one_line(result or '')}")
            case ev.OutputRejected(error=error):
                self.dim(f"the output did not validate ({_one_line(error)}); the model tries again")
            case ev.Retrying(attempt=attempt, retries=retries, delay=delay, reason=reason, detail=detail):
                self(f"{detail or reason}: retry {attempt} of {retries} in {delay:.1f} s")
            case ev.Stalled(seconds=seconds, limit=limit):
                if not self._stalled:
                    self._stalled = True
                    self.dim(f"the model has sent nothing for {seconds:.0f} s (given up after {limit:g} s)")
            case ev.Saving(done=done):
                if not done and not self._waiting:
                    self.dim("waiting for the history database (another xsus may be writing to it)")
                self._waiting = not done
            case ev.Notice(text=text):
                self(text)
            case ev.TurnFailed(error=error, unsent=unsent):
                self(f"error: {error}" + (" (nothing came back)" if unsent else ""))
            case ev.TurnCancelled(unsent=unsent):
                self("interrupted" + ("" if unsent else "; the partial reply is kept"))
        if not isinstance(event, ev.Stalled | ev.Saving | ev.Notice | ev.RequestSent | ev.ResponseUsage):
            self._stalled = False

    def _call(self, call_id: str, name: str, args: Any) -> None:
        self._shown.add(call_id)
        self.dim(f"tool {name} {_one_line(_args(args))}".rstrip())


# -- what goes to stdout -----------------------------------------------------------------------------------


class Output:
    """Writes a turn's events to stdout."""

    def event(self, event: Any) -> None:
        raise NotImplementedError

    def pause(self) -> None:
        """About to ask on the terminal: write out what is held."""

    def end(self) -> None:
        """The turn has ended."""


class InertStream:
    """`inert` applied delta by delta: a zero-width joiner at the start of a delta keeps its place after a
    character outside ASCII at the end of the one before (an emoji sequence split across two deltas)."""

    def __init__(self) -> None:
        self._last = ""

    def __call__(self, text: str) -> str:
        from .core.sanitize import inert

        if not text:
            return text
        if text[0] in "\u200c\u200d" and self._last:
            safe = inert(self._last + text)[len(inert(self._last)) :]
        else:
            safe = inert(text)
        self._last = text[-1]
        return safe


class PlainOutput(Output):
    """stdout is a pipe or a file: the reply's text as it streams, each delta written and flushed. Text of a later
    response (after tool calls) starts on a line of its own, the output ends with a newline, and a structured
    output is written as JSON."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.inert = InertStream()
        self.tail = ""
        """The last two characters written."""
        self.values = 0
        self.gap = False
        """Text from here on is another run of the reply (after a tool call): a paragraph of its own."""

    def write(self, text: str) -> None:
        if text:
            self.stream.write(text)
            self.stream.flush()
            self.tail = (self.tail + text)[-2:]

    def event(self, event: Any) -> None:
        from .core import events as ev

        if isinstance(event, ev.TextDelta):
            if self.gap and self.tail:
                newlines = len(self.tail) - len(self.tail.rstrip("\n"))
                self.write("\n" * (2 - newlines))
            self.gap = False
            self.write(self.inert(event.text))
        elif isinstance(event, ev.ResponseStarted | ev.ToolCallStarted | ev.OutputStarted):
            self.gap = True
        elif isinstance(event, ev.OutputValidated) or (
            isinstance(event, ev.TurnFinished) and event.output is not None and not isinstance(event.output, str)
        ):
            if isinstance(event, ev.TurnFinished) and self.values:
                return
            self.values += 1
            self._new_line()
            self.write(_json_text(event.value if isinstance(event, ev.OutputValidated) else event.output) + "\n")

    def _new_line(self) -> None:
        if self.tail and not self.tail.endswith("\n"):
            self.write("\n")

    def end(self) -> None:
        self._new_line()


def _json_text(value: Any) -> str:
    from .core.sanitize import inert
    from .core.translate import jsonable

    return inert(json.dumps(jsonable(value), indent=2, ensure_ascii=False))


class RenderedOutput(Output):
    """stdout is a terminal: the reply as markdown, each top-level block printed once it is complete (the one
    still growing at the end), through Rich; links written out as `text (target)`; a structured output as
    highlighted JSON."""

    def __init__(self, console: Any = None) -> None:
        from markdown_it import MarkdownIt
        from rich.console import Console

        self.console = console or Console(highlight=False)
        self.parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
        self.inert = InertStream()
        self.source = ""
        """Text of the current run not printed yet: the blocks that may still grow."""
        self.printed = False
        self.values = 0

    def event(self, event: Any) -> None:
        from .core import events as ev

        if isinstance(event, ev.TextDelta):
            self.source += self.inert(event.text)
            if "\n" in event.text:
                self._print_finished()
        elif isinstance(event, ev.ResponseStarted | ev.ToolCallStarted | ev.OutputStarted) or isinstance(
            event, ev.TurnFinished | ev.TurnCancelled | ev.TurnFailed
        ):
            self.pause()
        if isinstance(event, ev.OutputValidated) or (
            isinstance(event, ev.TurnFinished) and event.output is not None and not isinstance(event.output, str)
        ):
            if isinstance(event, ev.TurnFinished) and self.values:
                return
            from rich.json import JSON

            self.values += 1
            self._gap()
            value = event.value if isinstance(event, ev.OutputValidated) else event.output
            self.console.print(JSON(_json_text(value)), soft_wrap=True)

    def pause(self) -> None:
        if self.source.strip():
            self._print(self.source)
        self.source = ""

    def end(self) -> None:
        self.pause()

    def _print_finished(self) -> None:
        blocks = self._blocks(self.source)
        # The next block's first line may still join the last one ("2" then ". b" goes on with a list): while it
        # is arriving, both stay.
        keep = 2 if len(blocks) > 1 and "\n" not in blocks[-1] else 1
        if len(blocks) <= keep:
            return
        for block in blocks[:-keep]:
            self._print(block)
        self.source = "".join(blocks[-keep:])

    def _blocks(self, source: str) -> list[str]:
        lines = source.splitlines(keepends=True)
        starts = sorted({token.map[0] for token in self.parser.parse(source) if token.level == 0 and token.map})
        if not starts:
            return [source]
        starts[0] = 0
        bounds = [*starts, len(lines)]
        return ["".join(lines[start:end]) for start, end in zip(bounds, bounds[1:], strict=False)]

    def _gap(self) -> None:
        if self.printed:
            self.console.line()
        self.printed = True

    def _print(self, block: str) -> None:
        from rich.markdown import Markdown
        from rich.segment import Segment, Segments

        console = self.console
        rendered = console.render_lines(Markdown(block, hyperlinks=False), console.options, pad=False)
        text = ["".join(segment.text for segment in line) for line in rendered]
        start, end = 0, len(text)  # without the blank lines Rich puts around some blocks
        while start < end and not text[start].strip():
            start += 1
        while end > start and not text[end - 1].strip():
            end -= 1
        if start == end:
            return
        self._gap()
        segments: list[Segment] = []
        for line in rendered[start:end]:
            segments.extend(line)
            segments.append(Segment.line())
        console.print(Segments(segments), end="")
        console.file.flush()


class JsonOutput(Output):
    """`--json`: the turn's recording as NDJSON (docs/recordings.md), written as it happens. The header goes out
    once the prompt is saved (it holds the prompt's entry and the conversation so far), then each event the
    session recorded, with the time it recorded. So the output is the recording the store keeps for the turn,
    and `recording.from_ndjson` (or `xsus replay`) reads it back."""

    def __init__(self, session: ChatSession, prompt: str, stream: TextIO) -> None:
        self.session = session
        self.prompt = prompt
        self.stream = stream
        self.header = False
        self.written = 0
        self.previous: Any = None

    def event(self, event: Any) -> None:
        from .core import events as ev
        from .core.recording import dumps_line, event_line

        recorder = self.session.last_recording
        if recorder is None:
            return
        ending = isinstance(event, ev.TurnFinished | ev.TurnCancelled | ev.TurnFailed)
        if not self.header:
            if isinstance(event, ev.Saving | ev.Notice) and not ending:
                return  # the prompt is still being saved: its entry is not known yet (the event is kept meanwhile)
            header = self._header()
            self.previous = header.history
            self.stream.write(dumps_line(header.header()) + "\n")
            self.header = True
        for timed in recorder.events[self.written :]:
            self.stream.write(dumps_line(event_line(timed, self.previous)) + "\n")
            if isinstance(timed.event, ev.RequestSent):
                self.previous = timed.event.messages
        self.written = len(recorder.events)
        self.stream.flush()

    def _header(self) -> Any:
        """The header the session will store for this turn. The session keeps what it knows of the turn (its
        prompt's entry, the history it started from) in `_turn_context`; without it the header is rebuilt from
        the conversation, without the entry id."""
        from .core.recording import Recording

        session = self.session
        context = getattr(session, "_turn_context", None)
        messages = tuple(session.conversation.messages)
        return Recording(
            prompt=getattr(context, "prompt", self.prompt),
            events=(),
            history=getattr(context, "history", None) or messages,
            conversation_id=session.conversation.conversation_id,
            turn=getattr(context, "turn", None),
            entry_id=getattr(context, "entry_id", None),
            started_at=getattr(context, "started_at", None),
            model=session.chat_agent.label,
            agent=session.chat_agent.target,
        )
