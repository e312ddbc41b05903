"""Recordings: every event of a turn with its time, and what each model request was sent.

`Recorder` taps a turn's one stream (`ChatSession.run_turn` feeds it): each event is kept with its
monotonic offset from the moment the prompt was sent. When the turn ends the session stores the
recording with the conversation (`SQLiteConversationStore.save_recording`), keyed by the turn's prompt
entry, so each version of a turn has its own.

The format (documented in docs/recordings.md) is NDJSON: a header line, then one event a line:

    {"type": "recording", "version": 1, "prompt": "...", "history": [...], ...}
    {"t": 0.000412, "type": "request", "number": 1, "messages": [[0, 3], {...}], "tools": [...], ...}
    {"t": 0.031877, "type": "text", "text": "Hello"}
    ...
    {"t": 1.207313, "type": "finished", "stats": {...}, "output": "Hello there"}

A request's `messages` are stored against the request before it (for the first, the header's `history`:
the conversation up to the prompt): a `[start, count]` item stands for that run of its messages, anything
else is written out (pydantic-ai joins a tool's result and the next prompt into one request, say). A
header's `history` is written the same way against the history of the recording before it in the file.
In the store the header's `history` is left out (the conversation's own entries hold it), and the event
lines are compressed (zlib): a text turn costs about its text's size.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydantic

from .. import __version__
from . import adapters
from . import events as ev
from .translate import jsonable

VERSION = 1
"""The recording format's version: a reader refuses a newer one with one line."""


EVENT_TYPES: dict[type, str] = {
    ev.RequestSent: "request",
    ev.ResponseStarted: "response",
    ev.Steered: "steered",
    ev.TextDelta: "text",
    ev.ThinkingDelta: "thinking",
    ev.ToolCallStarted: "tool_call",
    ev.ToolArgsDelta: "tool_args",
    ev.ToolCallRunning: "tool_running",
    ev.ToolCallFinished: "tool_result",
    ev.ApprovalRequested: "approval",
    ev.OutputStarted: "output_start",
    ev.OutputPartial: "output_delta",
    ev.OutputValidated: "output_valid",
    ev.OutputRejected: "output_rejected",
    ev.ResponseUsage: "usage",
    ev.Retrying: "retrying",
    ev.Stalled: "stalled",
    ev.Saving: "saving",
    ev.Notice: "notice",
    ev.TurnFinished: "finished",
    ev.TurnCancelled: "cancelled",
    ev.TurnFailed: "failed",
}
"""Each event class and its `type` in a recording line."""
_CLASSES = {name: cls for cls, name in EVENT_TYPES.items()}


class RecordingError(ValueError):
    """A recording that can't be read: damaged, foreign, or from a newer xsus. The message is one line."""


@dataclass(frozen=True, slots=True)
class Timed:
    """One event of a recording and when it came."""

    t: float
    """Seconds since the prompt was sent (monotonic clock)."""
    event: ev.TurnEvent
    """The event as the turn's stream yielded it."""


@dataclass(frozen=True, kw_only=True)
class Recording:
    """One turn as it streamed."""

    prompt: str
    """The prompt the turn answered."""
    events: tuple[Timed, ...]
    """Every event in order, the ending last (when the turn ended)."""
    history: tuple[Any, ...] | None = field(default=None, repr=False)
    """The conversation's messages the turn started from, its prompt included (pydantic-ai `ModelMessage`s);
    None when not known (read from the store without them)."""
    conversation_id: str | None = None
    """The conversation it belongs to."""
    turn: int | None = None
    """Which turn of the conversation (1 = the first), when known."""
    entry_id: str | None = None
    """The stored entry of the turn's prompt (each version of a turn has its own)."""
    started_at: str | None = None
    """Wall-clock time the prompt was sent (ISO 8601, UTC)."""
    model: str | None = None
    """The model the turn ran on (`openai-chat:gpt-4o-mini`, `demo`), as xsus named it."""
    agent: str | None = None
    """The agent it ran (`app.py:support`), when not the default one."""
    version: int = VERSION
    """The format version it was written in."""

    @property
    def ending(self) -> ev.TurnFinished | ev.TurnCancelled | ev.TurnFailed | None:
        last = self.events[-1].event if self.events else None
        return last if isinstance(last, ev.TurnFinished | ev.TurnCancelled | ev.TurnFailed) else None

    @property
    def duration(self) -> float:
        return self.events[-1].t if self.events else 0.0

    def header(self, *, with_history: bool = True, before: Sequence[Any] | None = None) -> dict[str, Any]:
        """The header line; its history as runs of `before` (the history of the recording written before it)."""
        header: dict[str, Any] = {"type": "recording", "version": self.version, "xsus": __version__}
        for name in ("conversation_id", "turn", "entry_id", "started_at", "model", "agent", "prompt"):
            if (value := getattr(self, name)) is not None:
                header[name] = value
        if with_history and self.history is not None:
            header["history"] = runs(before or (), self.history)
        return header


class Recorder:
    """Keeps a turn's events with their times as they stream (a clock read and an append per event)."""

    __slots__ = ("_clock", "_start", "events")

    def __init__(self) -> None:
        self._clock = time.monotonic
        self._start = self._clock()
        self.events: list[Timed] = []

    def add(self, event: ev.TurnEvent) -> None:
        self.events.append(Timed(self._clock() - self._start, event))


# -- events <-> JSON lines -------------------------------------------------------------------------------


def _value(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _value(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "_"}
    if isinstance(value, tuple):
        return [_value(item) for item in value]
    return value


def event_line(timed: Timed, previous: Sequence[Any] | None) -> dict[str, Any]:
    """One event as a JSON-able line. A request's messages are written after the `same` leading ones it shares
    with `previous` (the request before it, or the turn's history)."""
    event = timed.event
    kind = type(event)
    if kind is ev.TextDelta or kind is ev.ThinkingDelta:  # most lines: no field lookup
        return {"t": round(timed.t, 6), "type": EVENT_TYPES[kind], "text": event.text}  # type: ignore[union-attr]
    line: dict[str, Any] = {"t": round(timed.t, 6), "type": EVENT_TYPES[kind]}
    if isinstance(event, ev.OutputPartial):
        line["call_id"] = event.call_id
        line["delta"] = event.delta
        return line
    if isinstance(event, ev.RequestSent):
        line.update(
            number=event.number,
            attempt=event.attempt,
            model=event.model,
            messages=runs(previous or (), event.messages),
            instructions=event.instructions,
            tools=list(event.tools),
            settings=event.settings,
        )
        return line
    for name in _field_names(kind):
        value = getattr(event, name)
        if name == "output":
            value = jsonable(value)
        line[name] = _value(value)
    return line


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "_")


def runs(base: Sequence[Any], messages: Sequence[Any]) -> list[Any]:
    """`messages` against `base`: `[start, count]` for each run of messages that are `base`'s own (the same
    objects), and each other message written out (pydantic-ai's message JSON)."""
    where = {id(message): index for index, message in enumerate(base)}
    out: list[Any] = []
    for message in messages:
        index = where.get(id(message))
        if index is None:
            out.append(adapters.message_to_python(message))
        elif out and isinstance(out[-1], list) and out[-1][0] + out[-1][1] == index:
            out[-1][1] += 1
        else:
            out.append([index, 1])
    return out


def from_runs(base: Sequence[Any], items: Any) -> list[Any]:
    """The messages `runs` wrote, back: the runs taken from `base` (the same objects), the others read."""
    if not isinstance(items, list):
        raise ValueError("its messages are not a list")
    messages: list[Any] = []
    for item in items:
        if isinstance(item, list):
            if len(item) != 2 or not all(isinstance(n, int) and n >= 0 for n in item) or item[0] + item[1] > len(base):
                raise ValueError(f"it refers to messages that came before it but are not there ({item!r})")
            messages.extend(base[item[0] : item[0] + item[1]])
        else:
            messages.append(adapters.message_from_python(item))
    return messages


class _Decoder:
    """Lines back into events; keeps what later lines refer to (output schemas, the previous request)."""

    def __init__(self, history: Sequence[Any] | None) -> None:
        self.previous: list[Any] = list(history or ())
        self.outputs: dict[str, tuple[list[str], dict[str, Any] | None]] = {}

    def event(self, line: dict[str, Any]) -> Timed:
        kind = line.get("type")
        cls = _CLASSES.get(kind) if isinstance(kind, str) else None
        t = line.get("t")
        if cls is None:
            raise RecordingError(f"not an event line (type {kind!r})")
        if not isinstance(t, int | float) or isinstance(t, bool):
            raise RecordingError(f"a {kind} event without its time (t is {t!r}, not a number)")
        fields = {k: v for k, v in line.items() if k not in ("t", "type")}
        try:
            return Timed(float(t), self._build(cls, fields))
        except (TypeError, ValueError, KeyError, pydantic.ValidationError) as error:
            raise RecordingError(f"a {kind} event can't be read ({_first_line(error)})") from error

    def _build(self, cls: type, fields: dict[str, Any]) -> Any:
        if cls is ev.OutputPartial:
            call_id = fields["call_id"]
            chunks, schema = self.outputs.setdefault(call_id, ([], None))
            chunks.append(fields["delta"])
            return ev.OutputPartial(
                call_id=call_id, delta=fields["delta"], chunks=chunks, length=len(chunks), schema=schema
            )
        if cls is ev.OutputStarted:
            event = ev.OutputStarted(**fields)
            self.outputs[event.call_id] = ([], event.schema)
            return event
        if cls is ev.RequestSent:
            messages = from_runs(self.previous, fields.pop("messages", []))
            self.previous = messages
            tools = tuple(fields.pop("tools", None) or ())
            return ev.RequestSent(messages=tuple(messages), tools=tools, **fields)
        if cls in (ev.TurnFinished, ev.TurnCancelled, ev.TurnFailed):
            stats = fields.pop("stats", None) or {}
            return cls(stats=ev.TurnStats(**stats), **fields)
        return cls(**fields)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


# -- whole recordings ------------------------------------------------------------------------------------


def lines(
    recording: Recording, *, with_history: bool = True, before: Sequence[Any] | None = None
) -> Iterator[dict[str, Any]]:
    """The recording as JSON-able lines: its header (its history against `before`, the history of the recording
    written before it), then each event."""
    yield recording.header(with_history=with_history, before=before)
    previous: Sequence[Any] | None = recording.history
    for timed in recording.events:
        yield event_line(timed, previous)
        if isinstance(timed.event, ev.RequestSent):
            previous = timed.event.messages


def dumps_line(line: Any) -> str:
    """One NDJSON line (no newline inside: JSON escapes them), valid UTF-8 also when a text holds a lone surrogate
    (then written as its `\\udXXX` escape, which reads back as it was)."""
    text = json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=repr)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(line, ensure_ascii=True, separators=(",", ":"), default=repr)
    return text


def to_ndjson(recordings: Iterable[Recording]) -> Iterator[str]:
    """NDJSON text, a line at a time (each with its newline): every recording's header and events."""
    before: Sequence[Any] | None = None
    for recording in recordings:
        for line in lines(recording, before=before):
            yield dumps_line(line) + "\n"
        before = recording.history


def from_ndjson(text: str, *, history: Sequence[Any] | None = None) -> list[Recording]:
    """The recordings in an NDJSON text (one or more, each from its header line); RecordingError when damaged.
    `history` stands for the first recording's history (a stored recording has none of its own)."""
    found: list[Recording] = []
    header: dict[str, Any] | None = None
    decoder: _Decoder | None = None
    events: list[Timed] = []
    past: list[Any] | None = None
    for number, raw in enumerate(text.split("\n"), 1):  # not splitlines: U+2028 is inside a JSON string
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError as error:
            raise RecordingError(f"line {number} is not JSON ({_first_line(error)})") from None
        if not isinstance(line, dict):
            raise RecordingError(f"line {number} is not a JSON object")
        if line.get("type") == "recording":
            if header is not None:
                found.append(_recording(header, past, events))
            header, events = _checked_header(line, number), []
            past = list(history) if history is not None and not found else _history(header, number, past)
            decoder = _Decoder(past)
            continue
        if decoder is None:
            raise RecordingError("this is not an xsus recording (its first line is not a recording header)")
        try:
            events.append(decoder.event(line))
        except RecordingError as error:
            raise RecordingError(f"line {number}: {error}") from None
    if header is None:
        raise RecordingError("this is not an xsus recording (no recording header)")
    found.append(_recording(header, past, events))
    return found


def _checked_header(line: dict[str, Any], number: int) -> dict[str, Any]:
    version = line.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordingError(f"line {number}: the recording header has no valid version")
    if version > VERSION:
        raise RecordingError(f"this recording is version {version}; this xsus reads version {VERSION} or older")
    for name in ("prompt", "conversation_id", "entry_id", "started_at", "model", "agent"):
        if not isinstance(line.get(name, ""), str):
            raise RecordingError(f"line {number}: the recording header's {name} is not text")
    if not isinstance(line.get("turn", 0), int):
        raise RecordingError(f"line {number}: the recording header's turn is not a number")
    return line


def _history(header: dict[str, Any], number: int, before: list[Any] | None) -> list[Any] | None:
    if "history" not in header:
        return None
    try:
        return from_runs(before or [], header["history"])
    except pydantic.ValidationError as error:
        raise RecordingError(f"line {number}: the recording's history can't be read ({error.title})") from None
    except ValueError as error:
        raise RecordingError(f"line {number}: the recording's history can't be read ({error})") from None


def _recording(header: dict[str, Any], history: list[Any] | None, events: list[Timed]) -> Recording:
    return Recording(
        prompt=header.get("prompt", ""),
        events=tuple(events),
        history=tuple(history) if history is not None else None,
        conversation_id=header.get("conversation_id"),
        turn=header.get("turn"),
        entry_id=header.get("entry_id"),
        started_at=header.get("started_at"),
        model=header.get("model"),
        agent=header.get("agent"),
        version=header["version"],
    )


# -- the stored form -------------------------------------------------------------------------------------

PART_MIN = 200
"""A request's tools or instructions longer than this (as JSON) are stored once, by their hash, not per turn."""


@dataclass(frozen=True)
class Packed:
    """A recording as the store keeps it."""

    header: str
    """The header line, without the history (the conversation's entries hold it)."""
    body: bytes
    """zlib of `{"t": [µs since the event before], "e": [events]}`: a text delta is its bare string, a thinking delta
    its string in a list, every other event its line without `t`; long tools and instructions as `{"ref": hash}`;
    a text output is not repeated (`output_is_text`)."""
    parts: dict[str, str]
    """The long values the body refers to, by hash (JSON text): shared by every turn that sent the same."""


def pack(recording: Recording) -> Packed:
    """The stored form: about the size of the reply's text for a text turn (timings and event kinds included)."""
    times: list[int] = []
    compact: list[Any] = []
    parts: dict[str, str] = {}
    previous_us = 0
    texts: list[str] = []
    for line in list(lines(recording, with_history=False))[1:]:
        us = round(line.pop("t") * 1_000_000)
        times.append(us - previous_us)
        previous_us = us
        if line["type"] == "text":
            texts.append(line["text"])
            compact.append(line["text"])
            continue
        if line["type"] == "thinking":
            compact.append([line["text"]])
            continue
        if line["type"] == "finished" and isinstance(line.get("output"), str) and line["output"] == "".join(texts):
            del line["output"]  # the reply's text, already there delta by delta
            line["output_is_text"] = True
        if line["type"] == "request":
            for name in ("tools", "instructions"):
                text = json.dumps(line.get(name), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
                if len(text) > PART_MIN:
                    key = hashlib.sha256(text.encode()).hexdigest()[:32]
                    parts[key] = text
                    line[name] = {"ref": key}
        compact.append(line)
    body = dumps_line({"t": times, "e": compact})
    return Packed(dumps_line(recording.header(with_history=False)), zlib.compress(body.encode(), 9), parts)


def part_refs(packed: Packed) -> list[str]:
    """The hashes of the parts a packed recording refers to."""
    return sorted(packed.parts)


def unpack(header: str, body: bytes, history: Sequence[Any] | None, parts: dict[str, str]) -> Recording:
    """A stored recording back, its requests rebuilt on `history` (the conversation up to the turn's prompt)."""
    try:
        data = json.loads(zlib.decompress(body))
        times, compact = data["t"], data["e"]
        head = json.loads(header)
    except (zlib.error, ValueError, KeyError, TypeError) as error:
        raise RecordingError(f"the stored recording is damaged ({_first_line(error)})") from None
    decoder = _Decoder(history)
    events: list[Timed] = []
    texts: list[str] = []
    us = 0
    for delta, item in zip(times, compact, strict=False):
        us += delta
        if isinstance(item, str):
            texts.append(item)
            line: dict[str, Any] = {"type": "text", "text": item}
        elif isinstance(item, list):
            line = {"type": "thinking", "text": item[0]}
        else:
            line = dict(item)
            if line.pop("output_is_text", False):
                line["output"] = "".join(texts)
        line["t"] = us / 1_000_000
        if line.get("type") == "request":
            for name in ("tools", "instructions"):
                value = line.get(name)
                if isinstance(value, dict) and set(value) == {"ref"}:
                    if value["ref"] not in parts:
                        raise RecordingError(f"the stored recording refers to a missing part ({name})")
                    line[name] = json.loads(parts[value["ref"]])
        events.append(decoder.event(line))
    head = _checked_header(head, 1)
    return _recording(head, list(history) if history is not None else None, events)
