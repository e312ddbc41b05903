"""A small OpenAI-compatible Chat Completions server on 127.0.0.1, standard library only.

It streams scripted replies as `chat.completion.chunk` SSE events over HTTP/1.1 (chunked body,
`Connection: close`), records every request body, and counts connections, noticing when the client
hangs up mid-stream (reader EOF or a failed write) without waiting for the stream to finish.

    async with OpenAICompatServer([text_reply("Hello!", chunks=3)]) as server:
        ...  # point OPENAI_BASE_URL at server.base_url

Faults (HTTP errors, Retry-After, cut streams, stalls, malformed chunks) fit in as fields of `Reply`:
a status/headers check at the top of `OpenAICompatServer._respond`, or edits of the `(delay, data)`
frames `sse_frames` builds before `_stream` writes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

JSON = dict[str, Any]


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
    """One scripted response to one chat-completions request."""

    chunks: list[Chunk] = field(default_factory=list)
    finish_reason: Literal["stop", "tool_calls", "length"] = "stop"
    prompt_tokens: int = 10
    completion_tokens: int | None = None
    """Defaults to the number of chunks."""


Script = Callable[[JSON], Reply] | Sequence[Reply]
"""Either a function of the request body, or the replies to the 1st, 2nd, ... request in turn."""


def split(text: str, pieces: int) -> list[str]:
    """`text` cut into `pieces` consecutive non-empty parts (fewer if the text is shorter)."""
    pieces = max(1, min(pieces, len(text)))
    bounds = [round(i * len(text) / pieces) for i in range(pieces + 1)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def text_reply(text: str, chunks: int = 5, delay: float = 0.0) -> Reply:
    """A reply streaming `text` in `chunks` pieces, `delay` seconds apart."""
    return Reply([TextChunk(piece, delay if i else 0.0) for i, piece in enumerate(split(text, chunks))])


def tool_call_reply(
    name: str, arguments: JSON | str, pieces: int = 3, *, call_id: str = "call_1", delay: float = 0.0
) -> Reply:
    """A reply calling tool `name`, its JSON arguments streamed in `pieces` pieces."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    chunks: list[Chunk] = [ToolCallChunk("", call_id=call_id, name=name)]
    chunks += [ToolCallChunk(piece, delay=delay) for piece in split(raw, pieces)]
    return Reply(chunks, finish_reason="tool_calls")


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

    async def wait_all_closed(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109
        """Wait until every connection opened so far is closed; TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.connections_closed == self.connections_opened)

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
                await _send_json(writer, 500, {"error": {"message": f"loopback server error: {error!r}"}})
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._handlers.discard(task)
            self.connections_closed += 1
            async with self._changed:
                self._changed.notify_all()

    async def _respond(
        self, method: str, path: str, body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if (method, path.partition("?")[0]) != ("POST", "/v1/chat/completions"):
            return await _send_json(writer, 404, {"error": {"message": f"no route {method} {path}"}})
        request: JSON = json.loads(body)
        self.requests.append(request)
        if (reply := self._reply_for(request)) is None:
            return await _send_json(writer, 500, {"error": {"message": "the test script has no reply"}})
        if not request.get("stream"):
            return await _send_json(writer, 400, {"error": {"message": "only stream=true is supported"}})
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        frames = sse_frames(reply, f"chatcmpl-{next(self._ids)}", self.model, include_usage)
        if await self._stream(frames, reader, writer):
            self.replies_completed += 1
        else:
            self.client_disconnects += 1

    def _reply_for(self, request: JSON) -> Reply | None:
        if callable(self.script):
            return self.script(request)
        index = len(self.requests) - 1
        return self.script[index] if self.script is not None and index < len(self.script) else None

    async def _stream(
        self, frames: list[tuple[float, bytes]], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Write a 200 SSE response frame by frame; False when the client hung up before the end."""
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        writer.write((head + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode())
        hangup = asyncio.ensure_future(reader.read(1))  # the request was read whole: EOF means gone
        try:
            for delay, data in [*frames, (0.0, b"")]:  # an empty HTTP chunk ends the body
                if delay > 0:
                    await asyncio.wait({hangup}, timeout=delay)
                if hangup.done():
                    return False
                await _send_chunk(writer, data)
            return True
        except ConnectionError:
            return False
        finally:
            hangup.cancel()
            if hangup.done() and not hangup.cancelled():
                hangup.exception()  # retrieved, so asyncio does not log it


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


async def _send_json(writer: asyncio.StreamWriter, status: int, payload: JSON) -> None:
    body = json.dumps(payload).encode()
    reason = {400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}.get(status, "Error")
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    writer.write((head + "Connection: close\r\n\r\n").encode() + body)
    await writer.drain()
