"""Structured output over time, for the turn inspector: each attempt's top-level fields as the JSON streamed.

`OutputBuilder` is fed an output call's chunks (by `core.inspect`'s one pass) and follows its top-level keys with
`_FieldScanner`, which looks only at the structural characters of each chunk: a 100 KB output costs one regex pass,
not a parse per chunk. A field is partial once its key is followed by `:`, complete at the `,` or `}` that ends its
value at the top level, and invalid when an `OutputRejected`'s error lines (`loc: message`) name it. What is kept is
the moment each field changed, so `OutputAttempt.samples` costs nothing until shown.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from . import events as ev
from .partial import parse_partial
from .sanitize import inert

SAMPLES = 200
"""At most this many points at which `OutputAttempt.samples` gives every field's state."""

MISSING, PARTIAL, COMPLETE, INVALID = "missing", "partial", "complete", "invalid"
"""A structured-output field's states."""


@dataclass(frozen=True, slots=True)
class FieldHistory:
    """One top-level field of a structured-output attempt over time."""

    name: str
    required: bool = False
    partial_at: float | None = None
    """When its value began (its key and `:` had arrived); None: it never did."""
    complete_at: float | None = None
    """When its value ended (a `,` or the closing `}` at the top level)."""
    invalid_at: float | None = None
    """When validation named it in its errors."""
    errors: tuple[str, ...] = ()
    """The validation errors about it (inert)."""

    def state(self, t: float) -> str:
        if self.invalid_at is not None and t >= self.invalid_at:
            return INVALID
        if self.complete_at is not None and t >= self.complete_at:
            return COMPLETE
        if self.partial_at is not None and t >= self.partial_at:
            return PARTIAL
        return MISSING

    @property
    def final(self) -> str:
        return self.state(float("inf"))


@dataclass(frozen=True, slots=True)
class Sample:
    """Every field's state at one moment of an output attempt."""

    t: float
    states: tuple[str, ...]
    """In the order of `OutputAttempt.fields`."""


@dataclass(frozen=True, slots=True)
class OutputAttempt:
    """One structured output as it streamed, and what validation said of it."""

    number: int
    """1 for the turn's first output attempt."""
    call_id: str
    tool_name: str
    request: int
    start: float
    end: float
    """When its last chunk (or its verdict) came."""
    raw: str = field(repr=False)
    """The JSON text as streamed (inert)."""
    fields: tuple[FieldHistory, ...] = ()
    verdict: str | None = None
    """`validated`, `rejected`, or None (the turn ended first)."""
    verdict_at: float | None = None
    errors: tuple[str, ...] = ()
    """The validation errors, one per line (inert)."""
    schema: dict[str, Any] | None = field(default=None, repr=False)
    boundaries: tuple[float, ...] = field(default=(), repr=False)
    """The times at which some field changed state."""

    @property
    def samples(self) -> tuple[Sample, ...]:
        """Every field's state at each moment one changed (at most `SAMPLES` of them, evenly picked)."""
        times = sorted(set(self.boundaries) | {self.start, self.end})
        if len(times) > SAMPLES:
            step = (len(times) - 1) / (SAMPLES - 1)
            times = [times[round(i * step)] for i in range(SAMPLES)]
        return tuple(Sample(t, tuple(f.state(t) for f in self.fields)) for t in times)

    def pretty(self) -> list[str]:
        """The JSON as indented lines (as far as it parses; else the raw text's lines)."""
        value = parse_partial(self.raw)
        if value is None:
            return self.raw.splitlines()
        return inert(json.dumps(value, indent=2, ensure_ascii=False)).splitlines()


# -- structured output, field by field ---------------------------------------------------------------------

_STRUCTURE = re.compile(r'[{}\[\]",:]')
_IN_STRING = re.compile(r'["\\]')


class _FieldScanner:
    """Follows a streaming JSON object's top-level keys through its structural characters only."""

    __slots__ = ("closed", "depth", "escape", "expect_key", "in_key", "in_string", "key", "key_text", "opened")

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = self.escape = self.in_key = False
        self.expect_key = False
        self.opened = self.closed = False
        self.key: str | None = None  # the field whose value is streaming
        self.key_text: list[str] = []

    def feed(self, chunk: str) -> list[tuple[str, str]]:
        """The changes `chunk` brings: (`partial` | `complete`, field name) in order."""
        changes: list[tuple[str, str]] = []
        position, length = 0, len(chunk)
        while position < length and not self.closed:
            if self.in_string:
                if self.escape:
                    self.escape = False
                    if self.in_key:
                        self.key_text.append(chunk[position])
                    position += 1
                    continue
                match = _IN_STRING.search(chunk, position)
                end = match.start() if match else length
                if self.in_key:
                    self.key_text.append(chunk[position:end])
                if match is None:
                    break
                if match.group() == "\\":
                    self.escape = True
                    if self.in_key:
                        self.key_text.append("\\")
                else:
                    self.in_string = False
                position = end + 1
                continue
            match = _STRUCTURE.search(chunk, position)
            if match is None:
                break
            char, position = match.group(), match.end()
            if char == '"':
                self.in_string = True
                self.in_key = self.depth == 1 and self.expect_key
                if self.in_key:
                    self.key_text = []
            elif char in "{[":
                self.depth += 1
                if self.depth == 1:
                    if char == "[":
                        self.closed = True  # not an object: no fields to follow
                    self.opened, self.expect_key = True, True
            elif char in "}]":
                self.depth -= 1
                if self.depth == 0:
                    if self.key is not None:
                        changes.append((COMPLETE, self.key))
                        self.key = None
                    self.closed = True
            elif self.depth == 1:
                if char == ":" and self.expect_key:
                    self.expect_key = False
                    self.key = _key_name("".join(self.key_text))
                    changes.append((PARTIAL, self.key))
                elif char == ",":
                    if self.key is not None:
                        changes.append((COMPLETE, self.key))
                        self.key = None
                    self.expect_key = True
        return changes


def _key_name(raw: str) -> str:
    try:
        name = json.loads(f'"{raw}"')
    except ValueError:
        name = raw
    return inert(name)


class OutputBuilder:
    """One output call as it streams: its chunks, its fields' changes, its verdict."""

    def __init__(self, event: ev.OutputStarted, request: int, t: float) -> None:
        self.call_id, self.tool_name, self.schema = event.call_id, event.tool_name, event.schema
        self.request, self.start, self.end = request, t, t
        self.chunks: list[str] = []
        self.scanner = _FieldScanner()
        properties = (self.schema or {}).get("properties")
        required = set((self.schema or {}).get("required") or ())
        self.fields: dict[str, dict[str, Any]] = {}
        if isinstance(properties, dict):
            for name in properties:
                self.fields[inert(str(name))] = {"required": name in required}
        self.boundaries: list[float] = []
        self.verdict_kind: str | None = None
        self.verdict_at: float | None = None
        self.errors: tuple[str, ...] = ()

    def feed(self, delta: str, t: float) -> None:
        self.chunks.append(delta)
        self.end = t
        changes = self.scanner.feed(delta)
        if changes:
            self.boundaries.append(t)
            for state, name in changes:
                info = self.fields.setdefault(name, {"required": False})
                info.setdefault(f"{state}_at", t)

    def verdict(self, kind: str, t: float, errors: tuple[str, ...]) -> None:
        self.verdict_kind, self.verdict_at, self.errors = kind, t, errors
        self.end = max(self.end, t)
        if kind == "rejected":
            named = False
            for line in errors:
                name = _error_field(line)
                if name is None:
                    continue
                info = self.fields.setdefault(name, {"required": False})
                info["invalid_at"] = t
                info.setdefault("errors", []).append(line)
                named = True
            if named:
                self.boundaries.append(t)

    def done(self, number: int) -> OutputAttempt:
        fields = tuple(
            FieldHistory(
                name=name,
                required=info["required"],
                partial_at=info.get("partial_at"),
                complete_at=info.get("complete_at"),
                invalid_at=info.get("invalid_at"),
                errors=tuple(info.get("errors", ())),
            )
            for name, info in self.fields.items()
        )
        return OutputAttempt(
            number=number,
            call_id=inert(self.call_id),
            tool_name=inert(self.tool_name),
            request=self.request,
            start=self.start,
            end=self.end,
            raw=inert("".join(self.chunks)),
            fields=fields,
            verdict=self.verdict_kind,
            verdict_at=self.verdict_at,
            errors=self.errors,
            schema=self.schema,
            boundaries=tuple(self.boundaries),
        )


_ERROR_LOCATION = re.compile(r"([^\s.:][^.:]*?)(?:\.[^:]*)?: ")


def _error_field(line: str) -> str | None:
    """The top-level field a validation error line (`loc.sub: message`) is about, if it names one."""
    match = _ERROR_LOCATION.match(line)
    return match.group(1) if match else None
