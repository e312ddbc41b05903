"""A small OpenAI-compatible Chat Completions server on 127.0.0.1, standard library only.

It streams scripted replies as `chat.completion.chunk` SSE events over HTTP/1.1 (chunked body,
`Connection: close`), records every request body and how its reply ended (`server.exchanges`), and
counts connections, noticing when the client hangs up (reader EOF or a failed write) at any point,
even while the server is deliberately silent.

    async with OpenAICompatServer([text_reply("Hello!", chunks=3)]) as server:
        ...  # point OPENAI_BASE_URL at server.base_url

A reply can also be a fault, so a script can read "503, then 503, then a normal reply":

    error_reply(503, "overloaded", retry_after=2)   # JSON error body, Retry-After header, no stream
    text_reply(text, cut_after=3)                   # 3 chunks, then the connection closes mid-body
    text_reply(text, stall_after=2, stall_for=1.5)  # 2 chunks, 1.5 s of silence, then the rest
    text_reply(text, stall_after=0, stall_for=None) # headers, then silence until the client leaves
    text_reply(text, malformed_at=1)                # event 1 is `data: ` + half of its JSON
    text_reply(text, malformed_at=1, end_after=2)   # ... and the body ends there, without [DONE]
    hang_reply(2.0)                                 # read the request, say nothing for 2 s, close
    hang_reply(None, then=text_reply(text))         # no status line until the client leaves

Indices (`cut_after`, `stall_after`, `end_after`, `malformed_at`) count the SSE events of the
stream: the reply's chunks, then the finish chunk, the usage chunk (if asked for) and `[DONE]`.
So with k <= len(chunks), `cut_after=k` sends exactly the first k chunks.
`dataclasses.replace(tool_call_reply(...), cut_after=2)` puts the same faults on any reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any, Literal

JSON = dict[str, Any]
FOREVER = math.inf
"""As a wait: until the client hangs up."""

Outcome = Literal["completed", "client_disconnected", "cut", "error_status"]
"""How the server ended a reply: all of it sent; the client hung up first; the server closed the
connection mid-reply (a `cut_after` or a `hang_reply` without `then`); a non-200 status was sent."""

Frame = tuple[float, bytes | None]
"""The delay before an HTTP chunk and its data: b"" ends the body, None closes the connection instead."""


@dataclass(frozen=True, slots=True)
class TextChunk:
    """A piece of the reply's content, sent `delay` seconds after the previous chunk."""

    text: str
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class ToolCallChunk:
    """A piece of a tool call's arguments; a call's first piece carries its `call_id` and `name`."""

    arguments: str
    index: int = 0
    call_id: str | None = None
    name: str | None = None
    delay: float = 0.0


Chunk = TextChunk | ToolCallChunk


@dataclass(slots=True)
class Reply:
    """One scripted response to one chat-completions request: a stream, an HTTP error, or a fault."""

    chunks: list[Chunk] = field(default_factory=list)
    finish_reason: Literal["stop", "tool_calls", "length"] = "stop"
    prompt_tokens: int = 10
    completion_tokens: int | None = None
    """Defaults to the number of chunks."""
    status: int | None = 200
    """Not 200: send `error` as a JSON body instead of the stream. None: close without any response."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers, for any status, e.g. `{"Retry-After": "2"}`."""
    error: JSON | None = None
    """The body of a non-200 response; defaults to `openai_error(status)`."""
    hang: float = 0.0
    """Seconds between reading the request and sending the status line (FOREVER: until the client leaves)."""
    stall_after: int | None = None
    stall_for: float = FOREVER
    """After `stall_after` events, send nothing for `stall_for` seconds, then carry on."""
    cut_after: int | None = None
    """Close the connection after this many events: no finish chunk, no [DONE], no end of the chunked body."""
    end_after: int | None = None
    """End the body properly after this many events, but without the rest (finish chunk, [DONE])."""
    malformed_at: int | None = None
    malformed: str | None = None
    """Send event `malformed_at` as `data: <malformed>`, by default the first half of its JSON."""


@dataclass(slots=True)
class Exchange:
    """One chat-completions request the server received, and how its reply ended."""

    body: JSON
    received_at: float = field(default_factory=time.monotonic)
    ended_at: float | None = None
    outcome: Outcome | None = None
    """None while the reply is under way (or if the server was shut down during it)."""
    events_sent: int = 0
    """SSE events written, the malformed one included."""


Script = Callable[[JSON], Reply] | Sequence[Reply]
"""Either a function of the request body, or the replies to the 1st, 2nd, ... request in turn."""


def split(text: str, pieces: int) -> list[str]:
    """`text` cut into `pieces` consecutive non-empty parts (fewer if the text is shorter)."""
    pieces = max(1, min(pieces, len(text)))
    bounds = [round(i * len(text) / pieces) for i in range(pieces + 1)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def text_reply(
    text: str,
    chunks: int = 5,
    delay: float = 0.0,
    *,
    cut_after: int | None = None,
    end_after: int | None = None,
    stall_after: int | None = None,
    stall_for: float | None = None,
    malformed_at: int | None = None,
    malformed: str | None = None,
) -> Reply:
    """A reply streaming `text` in `chunks` pieces, `delay` seconds apart, with optional faults (see `Reply`).

    `stall_for=None` stalls until the client hangs up.
    """
    return Reply(
        [TextChunk(piece, delay if i else 0.0) for i, piece in enumerate(split(text, chunks))],
        cut_after=cut_after,
        end_after=end_after,
        stall_after=stall_after,
        stall_for=FOREVER if stall_for is None else stall_for,
        malformed_at=malformed_at,
        malformed=malformed,
    )


def tool_call_reply(
    name: str, arguments: JSON | str, pieces: int = 3, *, call_id: str = "call_1", delay: float = 0.0
) -> Reply:
    """A reply calling tool `name`, its JSON arguments streamed in `pieces` pieces."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    chunks: list[Chunk] = [ToolCallChunk("", call_id=call_id, name=name)]
    chunks += [ToolCallChunk(piece, delay=delay) for piece in split(raw, pieces)]
    return Reply(chunks, finish_reason="tool_calls")


def openai_error(
    status: int, message: str | None = None, *, error_type: str | None = None, code: str | None = None
) -> JSON:
    """An OpenAI-style error body, `{"error": {"message", "type", "param", "code"}}`, with defaults for `status`."""
    default_type, default_code = {
        401: ("invalid_request_error", "invalid_api_key"),
        429: ("requests", "rate_limit_exceeded"),
    }.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    error = {"message": message or _reason(status), "type": error_type or default_type, "param": None}
    return {"error": error | {"code": code or default_code}}


def error_reply(
    status: int,
    message: str | None = None,
    *,
    retry_after: float | str | None = None,
    error_type: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """An HTTP error instead of a stream: `error_reply(429, "slow down", retry_after=2)`."""
    extra = dict(headers or {})
    if retry_after is not None:
        extra["Retry-After"] = retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
    return Reply(status=status, headers=extra, error=openai_error(status, message, error_type=error_type, code=code))


def hang_reply(seconds: float | None = None, then: Reply | None = None) -> Reply:
    """Say nothing for `seconds` (None: until the client hangs up), then reply `then` or just close."""
    return replace(then or Reply(status=None), hang=FOREVER if seconds is None else seconds)


def messages_with_role(body: JSON, role: str) -> list[JSON]:
    """The request's messages with the given role."""
    return [m for m in body.get("messages", []) if m.get("role") == role]


def sse_frames(reply: Reply, completion_id: str, model: str, include_usage: bool) -> list[tuple[float, bytes]]:
    """The SSE events streaming `reply`, each with the delay before it, ending with `[DONE]`."""
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    base["system_fingerprint"] = "fp_loopback"

    def choice(delta: JSON, finish_reason: str | None = None) -> JSON:
        return base | {"choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

    payloads = [(c.delay, choice(_delta(c, first=i == 0))) for i, c in enumerate(reply.chunks)]
    payloads.append((0.0, choice({} if reply.chunks else {"role": "assistant"}, reply.finish_reason)))
    if include_usage:
        done = len(reply.chunks) if reply.completion_tokens is None else reply.completion_tokens
        usage = {"prompt_tokens": reply.prompt_tokens, "completion_tokens": done}
        payloads.append((0.0, base | {"choices": [], "usage": usage | {"total_tokens": reply.prompt_tokens + done}}))
    return [(delay, f"data: {json.dumps(p)}\n\n".encode()) for delay, p in payloads] + [(0.0, b"data: [DONE]\n\n")]


def scripted_frames(reply: Reply, events: list[tuple[float, bytes]]) -> list[Frame]:
    """The HTTP chunks to write for `reply`: its SSE `events` and the end of the body, faults applied."""
    frames: list[Frame] = [*events, (0.0, b"")]
    last = len(frames) - 1  # the end of the body: every index below is clamped to it
    if (k := reply.malformed_at) is not None:
        if not 0 <= k < last:
            raise ValueError(f"malformed_at={k}, but the stream has {last} events")
        delay, data = events[k]
        whole = data.removeprefix(b"data: ").removesuffix(b"\n\n").decode()
        text = whole[: len(whole) // 2] if reply.malformed is None else reply.malformed
        frames[k] = (delay, f"data: {text}\n\n".encode())
    if reply.stall_after is not None:
        k = min(reply.stall_after, last)
        frames[k] = (frames[k][0] + reply.stall_for, frames[k][1])
    stops = [(k, end) for k, end in ((reply.cut_after, None), (reply.end_after, b"")) if k is not None]
    if stops:  # the earlier one wins
        k, end = min(stops, key=lambda stop: stop[0])
        k = min(k, last)
        frames[k:] = [(frames[k][0], end)]
    return frames


def _delta(chunk: Chunk, *, first: bool) -> JSON:
    delta: JSON = {"role": "assistant"} if first else {}
    if isinstance(chunk, TextChunk):
        return delta | {"content": chunk.text}
    call: JSON = {"index": chunk.index, "function": {"arguments": chunk.arguments}}
    if chunk.call_id is not None:
        call |= {"id": chunk.call_id, "type": "function"}
    if chunk.name is not None:
        call["function"]["name"] = chunk.name
    return delta | {"content": None, "tool_calls": [call]}


class OpenAICompatServer:
    """`async with OpenAICompatServer(script) as server:` serves `POST /v1/chat/completions`."""

    def __init__(self, script: Script | None = None, *, model: str = "test-model") -> None:
        self.script: Script | None = script
        self.model = model
        self.requests: list[JSON] = []
        """Parsed JSON bodies of every chat-completions request, in order."""
        self.exchanges: list[Exchange] = []
        """The same requests with how each reply ended."""
        self.connections_opened = 0
        self.connections_closed = 0
        self.client_disconnects = 0
        """Replies the client abandoned (hung up) before they were complete."""
        self.replies_completed = 0
        self.errors: list[Exception] = []
        """Exceptions raised by the script or the server (the client got a 500)."""
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1"

    @property
    def outcomes(self) -> list[Outcome | None]:
        """How each request's reply ended, in order, e.g. `["error_status", "error_status", "completed"]`."""
        return [exchange.outcome for exchange in self.exchanges]

    async def __aenter__(self) -> OpenAICompatServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 2.0) -> None:  # noqa: ASYNC109
        """Wait until `condition()` holds, checked as requests arrive and replies end; TimeoutError after `timeout`."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(condition)

    async def wait_all_closed(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109
        """Wait until every connection opened so far is closed; TimeoutError after `timeout` seconds."""
        await self.wait_for(lambda: self.connections_closed == self.connections_opened, timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections_opened += 1
        try:
            if (request := await _read_request(reader)) is not None:
                await self._respond(*request, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except Exception as error:  # a broken script: visible to the test and to the client
            self.errors.append(error)
            with contextlib.suppress(Exception):
                await _send_json(writer, 500, openai_error(500, f"loopback server error: {error!r}"))
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._handlers.discard(task)
            self.connections_closed += 1
            await self._notify()

    async def _respond(
        self, method: str, path: str, body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if (method, path.partition("?")[0]) != ("POST", "/v1/chat/completions"):
            return await _send_json(writer, 404, openai_error(404, f"no route {method} {path}"))
        request: JSON = json.loads(body)
        self.requests.append(request)
        self.exchanges.append(exchange := Exchange(request))
        await self._notify()
        hangup = asyncio.ensure_future(reader.read(1))  # the request was read whole: EOF means gone
        try:
            exchange.outcome = await self._reply(exchange, hangup, writer)
        except Exception as error:
            exchange.outcome = "client_disconnected" if isinstance(error, ConnectionError) else "error_status"
            raise
        finally:
            exchange.ended_at = time.monotonic()
            hangup.cancel()
            if hangup.done() and not hangup.cancelled():
                hangup.exception()  # retrieved, so asyncio does not log it
            if exchange.outcome == "completed":
                self.replies_completed += 1
            elif exchange.outcome == "client_disconnected":
                self.client_disconnects += 1

    async def _reply(self, exchange: Exchange, hangup: asyncio.Future[bytes], writer: asyncio.StreamWriter) -> Outcome:
        if (reply := self._reply_for(exchange.body)) is None:
            await _send_json(writer, 500, openai_error(500, "the test script has no reply"))
            return "error_status"
        if await _hung_up(hangup, reply.hang):
            return "client_disconnected"
        if reply.status is None:
            return "cut"
        if reply.status != 200:
            await _send_json(writer, reply.status, reply.error or openai_error(reply.status), reply.headers)
            return "error_status"
        if not exchange.body.get("stream"):
            await _send_json(writer, 400, openai_error(400, "only stream=true is supported"))
            return "error_status"
        include_usage = bool((exchange.body.get("stream_options") or {}).get("include_usage"))
        events = sse_frames(reply, f"chatcmpl-{next(self._ids)}", self.model, include_usage)
        frames = scripted_frames(reply, events)
        head = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "Transfer-Encoding": "chunked"}
        _write_head(writer, 200, head | reply.headers)
        return await _stream(frames, exchange, hangup, writer)

    def _reply_for(self, request: JSON) -> Reply | None:
        if callable(self.script):
            return self.script(request)
        index = len(self.requests) - 1
        return self.script[index] if self.script is not None and index < len(self.script) else None


async def _stream(
    frames: list[Frame], exchange: Exchange, hangup: asyncio.Future[bytes], writer: asyncio.StreamWriter
) -> Outcome:
    """Write the body frame by frame, after the head, until its end, a cut or the client hanging up."""
    try:
        await writer.drain()
        for delay, data in frames:
            if await _hung_up(hangup, delay):
                return "client_disconnected"
            if data is None:
                return "cut"  # the caller closes the connection, the body unfinished
            await _send_chunk(writer, data)
            if data:
                exchange.events_sent += 1
        return "completed"
    except ConnectionError:
        return "client_disconnected"


async def _hung_up(hangup: asyncio.Future[bytes], delay: float) -> bool:
    """Wait `delay` seconds (FOREVER: indefinitely) unless the client hangs up first; whether it has."""
    if delay > 0 and not hangup.done():
        await asyncio.wait({hangup}, timeout=None if math.isinf(delay) else delay)
    return hangup.done()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes] | None:
    """(method, path, body) of one HTTP/1.1 request with a Content-Length body, or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    return method, path, await reader.readexactly(int(headers.get("content-length", "0")))


async def _send_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    """One HTTP/1.1 chunk (empty `data` ends the body); ConnectionError once the client is gone."""
    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
    await writer.drain()
    if writer.transport.is_closing():
        raise ConnectionResetError("client went away")


async def _send_json(
    writer: asyncio.StreamWriter, status: int, payload: JSON, headers: Mapping[str, str] | None = None
) -> None:
    body = json.dumps(payload).encode()
    head = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    _write_head(writer, status, head | dict(headers or {}))
    writer.write(body)
    await writer.drain()


def _write_head(writer: asyncio.StreamWriter, status: int, headers: Mapping[str, str]) -> None:
    lines = [f"HTTP/1.1 {status} {_reason(status)}", *(f"{k}: {v}" for k, v in headers.items()), "Connection: close"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
