"""What `xsus ask` writes: the reply on stdout (plain text, rendered markdown, or the NDJSON recording) and one line
on stderr for each tool call, status and error. Everything from the model is made `inert` on the way, except in the
recording (`--json`), which is data.

Textual is never imported here; Rich and markdown-it only when stdout is a terminal.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from .core.session import ChatSession

TOOL_LINE = 240
"""Characters of a tool call's arguments or result shown in its line on stderr."""


def isatty(stream: Any) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, OSError, ValueError):
        return False


# -- what goes to stderr -----------------------------------------------------------------------------------


def one_line(text: str, limit: int = TOOL_LINE) -> str:
    from .core.sanitize import inert

    flat = " ".join(inert(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def args_text(args: Any) -> str:
    return args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)


class Warnings:
    """Lines on stderr: tool calls, status, notices and errors, each one line, inert; dim on a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = isatty(self.stream)
        self.terminal = self.tty and "NO_COLOR" not in os.environ
        """Dim lines (a terminal that takes colour)."""
        self._status = ""
        """The transient line on the terminal (`thinking…`), erased before anything else is written."""
        self._shown: set[str] = set()
        """Tool calls whose line is out."""
        self._names: dict[str, str] = {}
        self._stalled = False
        self._waiting = False

    def __call__(self, text: str) -> None:
        self._write(f"xsus: {one_line(text, 4 * TOOL_LINE)}")

    def dim(self, text: str) -> None:
        self._write(f"xsus: {one_line(text, 4 * TOOL_LINE)}", dim=True)

    def _write(self, line: str, *, dim: bool = False) -> None:
        self.clear()
        if self.terminal and dim:
            line = f"\x1b[2m{line}\x1b[0m"
        self.stream.write(line + "\n")
        self.stream.flush()

    def transient(self, text: str) -> None:
        """Show `text` on the terminal's current line until something else is written (only on a terminal)."""
        if not self.tty or text == self._status:
            return
        self._status = text
        shown = f"\x1b[2m{text}\x1b[0m" if self.terminal else text
        self.stream.write(f"\r\x1b[K{shown}")
        self.stream.flush()

    def clear(self) -> None:
        if self._status:
            self._status = ""
            self.stream.write("\r\x1b[K")
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
                    self.dim(f"tool {name} {outcome}: {one_line(error or result or '')}")
                elif error is not None:
                    self.dim(f"tool {name} failed: {one_line(error)}")
                else:
                    self.dim(f"tool {name} → {one_line(result or '')}")
            case ev.OutputRejected(error=error):
                self.dim(f"the output did not validate ({one_line(error)}); the model tries again")
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
        self.dim(f"tool {name} {one_line(args_text(args))}".rstrip())


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

    def __init__(self, console: Any = None, warn: Warnings | None = None) -> None:
        from markdown_it import MarkdownIt
        from rich.console import Console

        self.console = console or Console(highlight=False)
        self.warn = warn
        """Where `thinking…` shows while the model thinks, and `…` while a block is still arriving."""
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
            if self.source.strip():
                self._transient("writing…")
        elif isinstance(event, ev.ThinkingDelta):
            self._transient("thinking…")
        elif isinstance(event, ev.RequestSent):
            self._transient("waiting for the model…")
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
            self._clear()
            self._gap()
            value = event.value if isinstance(event, ev.OutputValidated) else event.output
            self.console.print(JSON(_json_text(value)), soft_wrap=True)

    def pause(self) -> None:
        if self.source.strip():
            self._print(self.source)
        self.source = ""
        self._clear()

    def _transient(self, text: str) -> None:
        if self.warn is not None:
            self.warn.transient(text)

    def _clear(self) -> None:
        if self.warn is not None:
            self.warn.clear()

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
        self._clear()
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
        """The header the session will store for this turn (the prompt's entry, the history it started from)."""
        recording = self.session.turn_recording()
        if recording is None:  # recording off: what the conversation says
            from .core.recording import Recording

            session = self.session
            return Recording(
                prompt=self.prompt,
                events=(),
                history=tuple(session.conversation.messages),
                conversation_id=session.conversation.conversation_id,
                model=session.chat_agent.label,
                agent=session.chat_agent.target,
            )
        return recording
