"""The turn inspector's analysis: what a Recording says about its turn, without Textual.

`inspect_turn(recording)` walks the events once and returns a `TurnReport`:

- the timeline: each request sent (and each attempt), the first token, each part's start and end (text,
  thinking, a tool call's arguments, structured output), tool runs (ToolCallRunning -> ToolCallFinished),
  retries with their reason and wait, stalls (a run of `Stalled` reports is one stall), notices, each
  response's usage, output verdicts, and the ending;
- the gaps between consecutive chunks of a response (the wait for a response's first chunk is its time to
  first token, not a gap), the longest of them;
- each model request's usage, time to first token, tokens/s and cost (None when genai-prices doesn't know the
  model: never a guess);
- each structured-output attempt (OutputStarted .. OutputRejected / OutputValidated): when each top-level field
  went from missing to partial to complete (or invalid, when the validation errors name it), and a diff between a
  rejected attempt and the accepted one.

The output fields' states over time are `core/inspect_output.py`'s (`OutputBuilder`, fed here).

Every string a report holds that came from the model or a tool has passed through `sanitize.inert`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from . import events as ev
from .inspect_output import OutputAttempt, OutputBuilder
from .recording import EVENT_TYPES, Recording, Timed
from .sanitize import inert

LONGEST_GAPS = 5
"""How many of the longest gaps a report lists."""

_QUIET = (ev.Stalled, ev.Saving, ev.Notice)
"""Events that don't end a silence (the stall goes on through them)."""


# -- what a report holds ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the timeline."""

    t: float
    """Seconds since the prompt was sent."""
    kind: str
    """What happened, in a word or two: `request`, `first token`, `text`, `tool`, `retry`, `stall`, `end`..."""
    text: str
    """The line itself (inert)."""
    _: KW_ONLY
    duration: float | None = None
    """How long it lasted, when it is a span (a part, a tool run, a stall, a retry's wait)."""
    level: str = ""
    """`warning`, `error`, `success` or `` (plain), for colouring."""
    order: int = 0
    """The index of the event it came from, to order entries at the same time."""


@dataclass(frozen=True, slots=True)
class Part:
    """A part of a response: a run of text or thinking, a tool call's arguments, the structured output."""

    kind: str
    """`text`, `thinking`, `tool call` or `output`."""
    request: int
    """The request whose response it is part of."""
    start: float
    end: float
    """When its first and last chunk came."""
    chunks: int
    chars: int
    name: str = ""
    """The tool's name (tool calls and output)."""
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class Gap:
    """The time between two consecutive chunks of a response."""

    seconds: float
    t: float
    """When the chunk after the gap came."""
    request: int
    index: int
    """The index of that chunk's event in the recording."""
    after: str
    """What the gap came before: `text`, `thinking`, `tool call`, `output`."""


@dataclass(frozen=True, slots=True)
class Stall:
    """The stream was silent long enough for the watchdog to say so (one or more `Stalled` reports)."""

    t: float
    """When the silence began."""
    seconds: float
    """How long it had lasted at its last report."""
    limit: float
    """The idle timeout at which the turn is given up."""


@dataclass(frozen=True, slots=True)
class RequestReport:
    """One model request of the turn (its attempts together) and the response to it."""

    number: int
    sent: float
    """When its first attempt went out."""
    last_sent: float
    """When its last attempt went out (the one answered)."""
    attempts: int = 1
    model: str = ""
    first_chunk: float | None = None
    """When its response's first chunk came."""
    ended: float | None = None
    """When its response was complete (its usage came)."""
    usage: ev.ResponseUsage | None = None
    request: ev.RequestSent | None = field(default=None, repr=False)
    """The last attempt's request, as sent."""

    @property
    def ttft(self) -> float | None:
        """Seconds from the last attempt going out to its response's first chunk."""
        return None if self.first_chunk is None else self.first_chunk - self.last_sent

    @property
    def tokens_per_second(self) -> float | None:
        """Output tokens per second of streaming (first chunk to the usage); None when too short to tell."""
        if self.usage is None or self.first_chunk is None or self.ended is None or self.usage.output_tokens <= 0:
            return None
        streaming = self.ended - self.first_chunk
        return self.usage.output_tokens / streaming if streaming > 0.05 else None


@dataclass(frozen=True, slots=True)
class TurnReport:
    """What the inspector shows about one recorded turn."""

    recording: Recording = field(repr=False)
    timeline: tuple[Entry, ...]
    parts: tuple[Part, ...]
    requests: tuple[RequestReport, ...]
    gaps: tuple[float, ...] = field(repr=False)
    """Every gap between consecutive chunks of a response, in order (seconds)."""
    longest: tuple[Gap, ...]
    """The `LONGEST_GAPS` longest gaps, longest first."""
    stalls: tuple[Stall, ...]
    retries: tuple[ev.Retrying, ...]
    outputs: tuple[OutputAttempt, ...]
    first_chunk: float | None
    """When the turn's first chunk came (seconds since the prompt)."""
    ending: ev.TurnFinished | ev.TurnCancelled | ev.TurnFailed | None
    duration: float

    @property
    def cost(self) -> float | None:
        """The turn's price in USD: None when any response's price is unknown."""
        costs = [r.usage.cost for r in self.requests if r.usage is not None]
        if not costs or any(c is None for c in costs):
            return None
        return sum(c for c in costs if c is not None)

    def tokens(self) -> tuple[int, int]:
        """Input and output tokens over the responses that reported usage."""
        used = [r.usage for r in self.requests if r.usage is not None]
        return sum(u.input_tokens for u in used), sum(u.output_tokens for u in used)

    def diffs(self) -> list[tuple[OutputAttempt, OutputAttempt, list[str]]]:
        """Each rejected attempt against the accepted one after it: (rejected, accepted, unified diff lines)."""
        found = []
        for index, attempt in enumerate(self.outputs):
            if attempt.verdict != "rejected":
                continue
            accepted = next((a for a in self.outputs[index + 1 :] if a.verdict == "validated"), None)
            if accepted is None:
                continue
            lines = difflib.unified_diff(
                attempt.pretty(),
                accepted.pretty(),
                fromfile=f"attempt {attempt.number} (rejected)",
                tofile=f"attempt {accepted.number} (accepted)",
                lineterm="",
            )
            found.append((attempt, accepted, list(lines)))
        return found

    def gap_buckets(self, width: int = 512) -> list[float]:
        """The gaps shrunk to at most `width` values, each the longest of its stretch (for a sparkline)."""
        gaps = self.gaps
        if len(gaps) <= width:
            return list(gaps)
        step = len(gaps) / width
        return [max(gaps[int(i * step) : max(int((i + 1) * step), int(i * step) + 1)]) for i in range(width)]


# -- the one pass ------------------------------------------------------------------------------------------


_PART_KINDS: dict[type, str] = {  # the response itself speaking (a chunk): the first token, gaps between them
    ev.TextDelta: "text",
    ev.ThinkingDelta: "thinking",
    ev.ToolCallStarted: "tool call",
    ev.ToolArgsDelta: "tool call",
    ev.OutputStarted: "output",
    ev.OutputPartial: "output",
}


class _OpenPart:
    __slots__ = ("call_id", "chars", "chunks", "end", "index", "kind", "last_index", "name", "request", "start")

    def __init__(self, kind: str, request: int, t: float, index: int, name: str = "", call_id: str = "") -> None:
        self.kind, self.request, self.name, self.call_id = kind, request, name, call_id
        self.start = self.end = t
        self.index = self.last_index = index
        self.chunks = self.chars = 0

    def add(self, t: float, index: int, chars: int) -> None:
        self.end, self.last_index = t, index
        self.chunks += 1
        self.chars += chars

    def done(self) -> Part:
        return Part(
            kind=self.kind,
            request=self.request,
            start=self.start,
            end=self.end,
            chunks=self.chunks,
            chars=self.chars,
            name=self.name,
            call_id=self.call_id,
        )


def inspect_turn(recording: Recording) -> TurnReport:
    """The report on `recording`'s turn, in one pass over its events."""
    return _Pass(recording).run()


class _Pass:
    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.entries: list[Entry] = []
        self.parts: list[Part] = []
        self.requests: dict[int, dict[str, Any]] = {}
        self.request = 0
        self.gaps: list[float] = []
        self.gap_at: list[tuple[float, int, int, str]] = []  # (t, request, index, kind), aligned with gaps
        self.last_chunk: float | None = None
        self.first_chunk: float | None = None
        self.stalls: list[Stall] = []
        self.stalling: Stall | None = None
        self.retries: list[ev.Retrying] = []
        self.text_part: _OpenPart | None = None  # the open text or thinking run
        self.calls: dict[str, _OpenPart] = {}  # tool-call / output parts by call id, while their response lasts
        self.running: dict[str, tuple[float, str]] = {}  # tool runs: call id -> (started, name)
        self.names: dict[str, str] = {}  # call id -> tool name
        self.outputs: dict[str, OutputBuilder] = {}

    def run(self) -> TurnReport:
        events = self.recording.events
        handlers = {
            ev.TextDelta: self._text,
            ev.ThinkingDelta: self._text,
            ev.ToolCallStarted: self._tool_call,
            ev.ToolArgsDelta: self._args,
            ev.OutputStarted: self._output_started,
            ev.OutputPartial: self._output_partial,
            ev.ToolCallRunning: self._tool_running,
            ev.ToolCallFinished: self._tool_finished,
            ev.ApprovalRequested: self._approval,
            ev.OutputValidated: self._validated,
            ev.OutputRejected: self._rejected,
            ev.ResponseStarted: self._response_started,
            ev.RequestSent: self._request,
            ev.ResponseUsage: self._usage,
            ev.Retrying: self._retrying,
            ev.Stalled: self._stalled,
            ev.Saving: self._saving,
            ev.Notice: self._notice,
            ev.TurnFinished: self._ending,
            ev.TurnCancelled: self._ending,
            ev.TurnFailed: self._ending,
        }
        first_kind = ""
        for index, timed in enumerate(events):
            event, t = timed.event, timed.t
            kind = type(event)
            if kind in _PART_KINDS:
                if self.first_chunk is None:
                    self.first_chunk, first_kind = t, _PART_KINDS[kind]
                    self.entries.append(
                        Entry(t, "first token", f"{first_kind}, {format_seconds(t)} after the prompt", order=index)
                    )
                if kind is not ev.OutputStarted:  # (announced with its first chunk, which follows at once)
                    if self.last_chunk is not None:
                        self.gaps.append(t - self.last_chunk)
                        self.gap_at.append((t, self.request, index, _PART_KINDS[kind]))
                    self.last_chunk = t
                info = self.requests.get(self.request)
                if info is not None and info.get("first") is None:
                    info["first"] = t
            if kind not in _QUIET:
                self.stalling = None
            handler = handlers.get(kind)
            if handler is not None:
                handler(event, t, index)
        end = events[-1].t if events else 0.0
        self._close_text()
        self._close_calls()
        return TurnReport(
            recording=self.recording,
            timeline=tuple(sorted(self.entries, key=lambda e: (e.t, e.order))),
            parts=tuple(sorted(self.parts, key=lambda p: p.start)),
            requests=tuple(self._request_reports()),
            gaps=tuple(self.gaps),
            longest=tuple(self._longest()),
            stalls=tuple(self.stalls),
            retries=tuple(self.retries),
            outputs=tuple(builder.done(number) for number, builder in enumerate(self.outputs.values(), 1)),
            first_chunk=self.first_chunk,
            ending=self.recording.ending,
            duration=end,
        )

    # -- parts ---------------------------------------------------------------------------------------------

    def _close_text(self) -> None:
        part = self.text_part
        if part is not None:
            self.text_part = None
            self._part_done(part)

    def _close_calls(self) -> None:
        for part in self.calls.values():
            self._part_done(part)
        self.calls.clear()

    def _part_done(self, part: _OpenPart) -> None:
        done = part.done()
        self.parts.append(done)
        what = f"{done.kind} {inert(done.name)}".strip()
        size = f"{done.chunks} chunk{'' if done.chunks == 1 else 's'}, {_size(done.chars)}"
        self.entries.append(Entry(done.start, "part", f"{what} starts", order=part.index))
        self.entries.append(
            Entry(done.end, "part", f"{what} ends · {size}", duration=done.end - done.start, order=part.last_index)
        )

    def _text(self, event: ev.TextDelta | ev.ThinkingDelta, t: float, index: int) -> None:
        kind = "text" if isinstance(event, ev.TextDelta) else "thinking"
        part = self.text_part
        if part is None or part.kind != kind:
            self._close_text()
            part = self.text_part = _OpenPart(kind, self.request, t, index)
        part.add(t, index, len(event.text))

    def _tool_call(self, event: ev.ToolCallStarted, t: float, index: int) -> None:
        self._close_text()
        self.names[event.call_id] = event.tool_name
        part = self.calls[event.call_id] = _OpenPart(
            "tool call", self.request, t, index, event.tool_name, event.call_id
        )
        part.add(t, index, len(event.args))

    def _args(self, event: ev.ToolArgsDelta, t: float, index: int) -> None:
        part = self.calls.get(event.call_id)
        if part is not None:
            part.add(t, index, len(event.delta))

    def _output_started(self, event: ev.OutputStarted, t: float, index: int) -> None:
        self._close_text()
        self.names[event.call_id] = event.tool_name
        self.calls[event.call_id] = _OpenPart("output", self.request, t, index, event.tool_name, event.call_id)
        self.outputs[event.call_id] = OutputBuilder(event, self.request, t)

    def _output_partial(self, event: ev.OutputPartial, t: float, index: int) -> None:
        part = self.calls.get(event.call_id)
        if part is not None:
            part.add(t, index, len(event.delta))
        builder = self.outputs.get(event.call_id)
        if builder is not None:
            builder.feed(event.delta, t)

    # -- tools ---------------------------------------------------------------------------------------------

    def _tool_running(self, event: ev.ToolCallRunning, t: float, index: int) -> None:
        self._close_text()
        if (part := self.calls.pop(event.call_id, None)) is not None:
            self._part_done(part)
        name = self.names.get(event.call_id, "?")
        self.running[event.call_id] = (t, name)
        self.entries.append(Entry(t, "tool", f"tool {inert(name)} runs", order=index))

    def _tool_finished(self, event: ev.ToolCallFinished, t: float, index: int) -> None:
        started, _ = self.running.pop(event.call_id, (None, ""))
        took = t - started if started is not None else event.duration
        how = "ok" if event.ok else f"{event.outcome}: {_first_line(event.error or '')}"
        ran = f" after {format_seconds(took)}" if took is not None else ""
        level = "" if event.ok else ("warning" if event.outcome in ("retried", "denied") else "error")
        self.entries.append(
            Entry(
                t,
                "tool",
                f"tool {inert(event.tool_name)} done{ran} · {inert(how)}",
                duration=took,
                level=level,
                order=index,
            )
        )

    def _approval(self, event: ev.ApprovalRequested, t: float, index: int) -> None:
        self.entries.append(Entry(t, "approval", f"tool {inert(event.tool_name)} waits for approval", order=index))

    # -- output verdicts -----------------------------------------------------------------------------------

    def _validated(self, event: ev.OutputValidated, t: float, index: int) -> None:
        builder = self.outputs.get(event.call_id) if event.call_id else None
        if builder is None and self.outputs:
            builder = next(reversed(self.outputs.values()))
        if builder is not None:
            builder.verdict("validated", t, ())
        self.entries.append(Entry(t, "output", "output validated", level="success", order=index))

    def _rejected(self, event: ev.OutputRejected, t: float, index: int) -> None:
        errors = tuple(inert(line) for line in event.error.splitlines() if line.strip())
        builder = self.outputs.get(event.call_id)
        if builder is not None:
            builder.verdict("rejected", t, errors)
        first = errors[0] if errors else "no reason given"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        self.entries.append(Entry(t, "output", f"output rejected: {first}{more}", level="warning", order=index))

    # -- requests ------------------------------------------------------------------------------------------

    def _request(self, event: ev.RequestSent, t: float, index: int) -> None:
        self._close_text()
        self._close_calls()
        self.request = event.number
        self.last_chunk = None  # the wait for the first chunk is this request's ttft, not a gap
        info = self.requests.get(event.number)
        if info is None:
            info = self.requests[event.number] = {"sent": t, "attempts": 0, "first": None}
        info.update(attempts=info["attempts"] + 1, last_sent=t, request=event, model=event.model, first=None)
        what = f"request {event.number}" + (f", attempt {event.attempt}" if event.attempt > 1 else "")
        self.entries.append(
            Entry(
                t,
                "request",
                f"{what} sent · {inert(event.model)} · "
                f"{plural(len(event.messages), 'message')}, {plural(len(event.tools), 'tool')}",
                order=index,
            )
        )

    def _response_started(self, event: ev.ResponseStarted, t: float, index: int) -> None:
        if event.rejected_text:
            self.entries.append(
                Entry(t, "response", "the text before was not taken as the answer", level="warning", order=index)
            )

    def _usage(self, event: ev.ResponseUsage, t: float, index: int) -> None:
        self._close_text()
        info = self.requests.setdefault(event.number, {"sent": t, "attempts": 1, "first": None})
        info.update(usage=event, ended=t)
        tokens = f"{event.input_tokens} in / {event.output_tokens} out"
        if event.cache_read_tokens:
            tokens += f" ({event.cache_read_tokens} cached)"
        finish = f" · {inert(event.finish_reason)}" if event.finish_reason else ""
        self.entries.append(Entry(t, "usage", f"response {event.number} complete · {tokens}{finish}", order=index))

    def _request_reports(self) -> Iterable[RequestReport]:
        for number in sorted(self.requests):
            info = self.requests[number]
            yield RequestReport(
                number=number,
                sent=info["sent"],
                last_sent=info.get("last_sent", info["sent"]),
                attempts=max(1, info["attempts"]),
                model=info.get("model", ""),
                first_chunk=info.get("first"),
                ended=info.get("ended"),
                usage=info.get("usage"),
                request=info.get("request"),
            )

    # -- status --------------------------------------------------------------------------------------------

    def _retrying(self, event: ev.Retrying, t: float, index: int) -> None:
        self.retries.append(event)
        detail = f" · {inert(_first_line(event.detail))}" if event.detail else ""
        self.entries.append(
            Entry(
                t,
                "retry",
                f"retry {event.attempt}/{event.retries} after {format_seconds(event.delay)}: "
                f"{inert(event.reason)}{detail}",
                duration=event.delay,
                level="warning",
                order=index,
            )
        )

    def _stalled(self, event: ev.Stalled, t: float, index: int) -> None:
        if self.stalling is not None:  # the same silence, reported again: one stall, as long as its last report
            stall = self.stalls[-1] = self.stalling = dataclasses.replace(self.stalling, seconds=event.seconds)
            entry = self.entries[self._stall_entry]
            self.entries[self._stall_entry] = _stall_line(stall, entry.order)
            return
        stall = self.stalling = Stall(t - event.seconds, event.seconds, event.limit)
        self.stalls.append(stall)
        self._stall_entry = len(self.entries)
        self.entries.append(_stall_line(stall, index))

    _stall_entry = 0

    def _saving(self, event: ev.Saving, t: float, index: int) -> None:
        if not event.done:
            self.entries.append(
                Entry(t, "saving", f"the save waits for the database ({format_seconds(event.seconds)})", order=index)
            )

    def _notice(self, event: ev.Notice, t: float, index: int) -> None:
        self.entries.append(Entry(t, "notice", inert(event.text), order=index))

    def _ending(self, event: ev.TurnFinished | ev.TurnCancelled | ev.TurnFailed, t: float, index: int) -> None:
        self._close_text()
        self._close_calls()
        stats = event.stats
        figures = f"{stats.input_tokens} in / {stats.output_tokens} out, {stats.requests} request" + (
            "" if stats.requests == 1 else "s"
        )
        if isinstance(event, ev.TurnFinished):
            self.entries.append(Entry(t, "end", f"finished · {figures}", level="success", order=index))
        elif isinstance(event, ev.TurnCancelled):
            self.entries.append(Entry(t, "end", f"interrupted · {figures}", level="warning", order=index))
        else:
            self.entries.append(
                Entry(t, "end", f"failed: {inert(event.error)} · {figures}", level="error", order=index)
            )

    def _longest(self) -> list[Gap]:
        if not self.gaps:
            return []
        order = sorted(range(len(self.gaps)), key=self.gaps.__getitem__, reverse=True)[:LONGEST_GAPS]
        return [Gap(self.gaps[i], *self.gap_at[i]) for i in order]


def _stall_line(stall: Stall, order: int) -> Entry:
    return Entry(
        stall.t,
        "stall",
        f"silent for {format_seconds(stall.seconds)} (the turn gives up at {stall.limit:g} s)",
        duration=stall.seconds,
        level="warning",
        order=order,
    )


# -- the raw events, a line each -----------------------------------------------------------------------------

_SKIPPED = frozenset({"_", "chunks", "length", "schema", "messages"})


def event_line(timed: Timed, limit: int = 160) -> str:
    """One event as a line for the raw-events list: its time, its type, its fields in short (inert)."""
    event = timed.event
    kind = EVENT_TYPES.get(type(event), type(event).__name__)
    parts = [f"{timed.t:10.6f}  {kind:<15}"]
    if isinstance(event, ev.RequestSent):
        parts.append(
            f"number={event.number} attempt={event.attempt} model={event.model!r} "
            f"messages={len(event.messages)} tools={len(event.tools)}"
        )
    else:
        for f in dataclasses.fields(event):
            if f.name in _SKIPPED:
                continue
            value = getattr(event, f.name)
            if f.name == "stats":
                value = (
                    f"{value.input_tokens} in / {value.output_tokens} out, {value.requests} req, {value.duration:.3f} s"
                )
                parts.append(f"stats=({value})")
                continue
            if value is None or value == "" or value is False:
                continue
            text = repr(value) if not isinstance(value, float) else f"{value:.4g}"
            if len(text) > limit:
                text = text[: limit - 1] + "…"
            parts.append(f"{f.name}={text}")
    line = " ".join(parts)
    return inert(line.replace("\n", "\\n"))


# -- the request as sent ---------------------------------------------------------------------------------------


def message_lines(messages: Sequence[Any]) -> list[tuple[str, str]]:
    """The messages a request sent, as (who, text) pairs a person can read: `user`, `assistant`, `tool call`,
    `tool result`, `retry`, `system`, `thinking`... (inert)."""
    lines: list[tuple[str, str]] = []
    for message in messages:
        kind = getattr(message, "kind", "")
        for part in getattr(message, "parts", ()):
            lines.append(_part_line(kind, part))
    return lines


def shared_prefix(before: Sequence[Any], now: Sequence[Any]) -> int:
    """How many leading messages of `now` are those of `before` (a request repeats the one before it, then adds)."""
    count = 0
    for old, new in zip(before, now, strict=False):
        if old is not new and old != new:
            break
        count += 1
    return count


def _part_line(kind: str, part: Any) -> tuple[str, str]:
    part_kind = getattr(part, "part_kind", type(part).__name__)
    if part_kind == "tool-call" or part_kind == "builtin-tool-call":
        args = getattr(part, "args", None)
        text = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False, default=repr)
        return "tool call", inert(f"{part.tool_name}({text}) [{part.tool_call_id}]")
    if part_kind in ("tool-return", "builtin-tool-return"):
        outcome = getattr(part, "outcome", "success")
        marker = "" if outcome == "success" else f" ({outcome})"
        return "tool result", inert(f"{part.tool_name}{marker} [{part.tool_call_id}]: {_content(part.content)}")
    if part_kind == "retry-prompt":
        name = getattr(part, "tool_name", None)
        return "retry", inert((f"{name}: " if name else "") + _content(part.content))
    who = {
        "user-prompt": "user",
        "system-prompt": "system",
        "text": "assistant",
        "thinking": "thinking",
        "instruction": "instructions",
    }.get(part_kind, part_kind)
    if hasattr(part, "content"):
        return who, inert(_content(part.content))
    return who, inert(repr(part)[:500])


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list | tuple):
        return " ".join(_content(item) for item in content)
    if isinstance(content, dict):
        return json.dumps(content, ensure_ascii=False, default=repr)
    kind = getattr(content, "kind", None)
    if kind is not None and not isinstance(content, int | float):
        return f"[{kind}]"
    return json.dumps(content, ensure_ascii=False, default=repr)


# -- small formatting helpers -----------------------------------------------------------------------------------


def format_seconds(seconds: float | None) -> str:
    """`0.3 ms`, `12 ms`, `1.25 s`, `2 min 3 s`; `-` for None."""
    if seconds is None:
        return "-"
    if seconds < 0.001:
        return f"{seconds * 1000:.2f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes:.0f} min {rest:.0f} s"


def format_cost(cost: float | None) -> str:
    """USD, or `cost unknown` (genai-prices doesn't know the model): never a guess."""
    if cost is None:
        return "cost unknown"
    return f"${cost:.6f}" if cost < 0.01 else f"${cost:.4f}"


def plural(count: int, word: str) -> str:
    """`1 tool`, `2 tools`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def _size(chars: int) -> str:
    return f"{chars} chars" if chars < 10_000 else f"{chars / 1000:.1f} K chars"


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def median(values: Sequence[float]) -> float | None:
    """The middle value (None for none)."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
