"""The loopback server's scripted faults, seen by plain HTTP clients (raw sockets, `httpx2`) and the `openai` SDK.

These check the server itself, so that app tests built on its faults can trust them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx2
import openai
import pytest

from .loopback import JSON, OpenAICompatServer, Reply, error_reply, hang_reply, split, text_reply

TEXT = "The quick brown fox jumps over the lazy dog."
REQUEST: JSON = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=3.0) as client:
        yield client


def url(server: OpenAICompatServer) -> str:
    return f"{server.base_url}/chat/completions"


async def raw_request(server: OpenAICompatServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A chat-completions request sent over a plain socket; the response is left unread."""
    port = int(server.base_url.split(":")[2].split("/")[0])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps(REQUEST).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: loopback\r\nContent-Length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body)
    await writer.drain()
    return reader, writer


async def read_all(reader: asyncio.StreamReader, seconds: float = 2.0) -> tuple[str, bytes]:
    """The status line and the raw body (headers skipped) of a response read to EOF."""
    async with asyncio.timeout(seconds):
        response = await reader.read()
    head, _, body = response.partition(b"\r\n\r\n")
    return head.decode().split("\r\n")[0], body


def dechunk(body: bytes) -> tuple[list[bytes], bool]:
    """The chunks of a chunked body, and whether the zero-length chunk ended it."""
    chunks: list[bytes] = []
    while body:
        size, _, body = body.partition(b"\r\n")
        if int(size, 16) == 0:
            return chunks, True
        chunks.append(body[: int(size, 16)])
        body = body[int(size, 16) + 2 :]
    return chunks, False


def data_lines(chunks: list[bytes]) -> list[str]:
    """The `data:` payloads of the SSE events in `chunks` (one event per chunk)."""
    return [chunk.decode().removeprefix("data: ").removesuffix("\n\n") for chunk in chunks]


def content(payloads: list[str]) -> str:
    """The streamed text of the valid chat-completion chunks among `payloads`."""
    text = ""
    for payload in payloads:
        with_choices = json.loads(payload) if payload != "[DONE]" else {}
        text += "".join(choice["delta"].get("content") or "" for choice in with_choices.get("choices", []))
    return text


# -- HTTP errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 429, 500, 502, 503, 504])
async def test_error_status_with_retry_after_and_json_body(http: httpx2.AsyncClient, status: int) -> None:
    reply = error_reply(status, "overloaded", retry_after=2, code="busy", headers={"x-request-id": "req_1"})
    async with OpenAICompatServer([reply]) as server:
        response = await http.post(url(server), json=REQUEST)
        await server.wait_all_closed()

    assert response.status_code == status
    assert response.headers["retry-after"] == "2" and response.headers["x-request-id"] == "req_1"
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["connection"] == "close"
    error = response.json()["error"]
    assert error["message"] == "overloaded" and error["code"] == "busy"
    assert error["type"] == {429: "requests"}.get(status, "server_error" if status >= 500 else "invalid_request_error")
    assert server.outcomes == ["error_status"] and server.replies_completed == 0


async def test_a_script_of_errors_then_a_reply(http: httpx2.AsyncClient) -> None:
    script = [error_reply(500), error_reply(503, retry_after=1), text_reply(TEXT, chunks=4)]
    async with OpenAICompatServer(script) as server:
        statuses = [(await http.post(url(server), json=REQUEST)).status_code for _ in script]
        await server.wait_all_closed()

    assert statuses == [500, 503, 200]
    assert len(server.requests) == 3
    assert server.outcomes == ["error_status", "error_status", "completed"]
    assert [e.events_sent for e in server.exchanges] == [0, 0, 6]  # 4 chunks, finish, [DONE]


# -- a cut stream -------------------------------------------------------------------------------------


async def test_cut_stream_ends_after_k_chunks_without_done(http: httpx2.AsyncClient) -> None:
    script = [text_reply(TEXT, chunks=6, cut_after=3), text_reply(TEXT, chunks=6, cut_after=3)]
    async with OpenAICompatServer(script) as server:
        reader, writer = await raw_request(server)
        status, body = await read_all(reader)  # EOF, not a hang
        writer.close()
        lines: list[str] = []
        with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
            async with http.stream("POST", url(server), json=REQUEST) as response:
                async for line in response.aiter_lines():
                    lines.append(line)
        await server.wait_all_closed()

    assert status == "HTTP/1.1 200 OK"
    chunks, ended = dechunk(body)
    assert not ended and not body.endswith(b"0\r\n\r\n")
    payloads = data_lines(chunks)
    assert len(payloads) == 3 and "[DONE]" not in payloads
    assert all(json.loads(p)["choices"][0]["finish_reason"] is None for p in payloads)
    assert content(payloads) == "".join(split(TEXT, 6)[:3])
    assert len([line for line in lines if line.startswith("data:")]) == 3  # httpx2 got the same 3, then the error
    assert server.outcomes == ["cut", "cut"] and server.client_disconnects == 0
    assert [e.events_sent for e in server.exchanges] == [3, 3]


# -- stalls -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 2])
async def test_stall_sends_k_chunks_then_silence_then_the_rest(http: httpx2.AsyncClient, k: int) -> None:
    stall = 0.4
    async with OpenAICompatServer([text_reply(TEXT, chunks=5, stall_after=k, stall_for=stall)]) as server:
        start = time.perf_counter()
        async with http.stream("POST", url(server), json=REQUEST) as response:
            headers_at = time.perf_counter() - start
            arrivals = [
                (time.perf_counter() - start, line) async for line in response.aiter_lines() if line.startswith("data:")
            ]
        await server.wait_all_closed()

    assert response.status_code == 200 and headers_at < 0.2  # the headers are not held back
    times = [t for t, _ in arrivals]
    assert all(t < 0.2 for t in times[:k]), times
    assert stall <= times[k] < stall + 0.3, times
    assert times[-1] - times[k] < 0.2, times
    assert arrivals[-1][1] == "data: [DONE]" and len(arrivals) == 7
    assert content([line.removeprefix("data: ") for _, line in arrivals]) == TEXT
    assert server.outcomes == ["completed"]


async def test_client_leaving_an_endless_stall_is_a_disconnect(http: httpx2.AsyncClient) -> None:
    async with OpenAICompatServer([text_reply(TEXT, chunks=5, stall_after=2, stall_for=None)]) as server:
        received: list[str] = []
        async with http.stream("POST", url(server), json=REQUEST) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    received.append(line)
                if len(received) == 2:
                    await asyncio.sleep(0.2)  # the stall: the server is silent but the connection stays open
                    assert server.outcomes == [None] and server.connections_closed == 0
                    break
        left_at = time.monotonic()
        await server.wait_all_closed(timeout=1)

    [exchange] = server.exchanges
    assert exchange.outcome == "client_disconnected" and exchange.events_sent == 2
    assert exchange.ended_at is not None and exchange.ended_at - left_at < 0.2
    assert server.client_disconnects == 1 and server.replies_completed == 0


# -- malformed events ---------------------------------------------------------------------------------


async def test_malformed_event_arrives_verbatim_and_the_stream_goes_on() -> None:
    broken = '{"choices": [{"delta": {"content": "x"'
    async with OpenAICompatServer([text_reply(TEXT, chunks=5, malformed_at=3, malformed=broken)]) as server:
        reader, writer = await raw_request(server)
        _, body = await read_all(reader)
        writer.close()
        await server.wait_all_closed()

    assert f"\r\ndata: {broken}\n\n\r\n".encode() in body
    chunks, ended = dechunk(body)
    payloads = data_lines(chunks)
    assert ended and payloads[3] == broken and payloads[-1] == "[DONE]" and len(payloads) == 7
    for i, payload in enumerate(payloads[:-1]):
        if i != 3:
            json.loads(payload)
    assert server.outcomes == ["completed"]


async def test_malformed_event_by_default_is_half_a_chunk_and_can_end_the_body() -> None:
    async with OpenAICompatServer([text_reply(TEXT, chunks=5, malformed_at=1, end_after=2)]) as server:
        reader, writer = await raw_request(server)
        _, body = await read_all(reader)
        writer.close()
        await server.wait_all_closed()

    chunks, ended = dechunk(body)
    assert ended  # a proper end of the body, but no finish chunk and no [DONE]
    first, broken = data_lines(chunks)
    assert broken.startswith('{"id": "chatcmpl-') and len(broken) < len(first)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken)
    assert server.exchanges[0].events_sent == 2


# -- hanging before the status line -------------------------------------------------------------------


async def test_hang_sends_no_status_line_then_closes() -> None:
    async with OpenAICompatServer([hang_reply(0.5)]) as server:
        start = time.perf_counter()
        reader, writer = await raw_request(server)
        await server.wait_for(lambda: len(server.requests) == 1)  # the request was read
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.4):
                await reader.readline()
        assert await reader.read() == b""  # then closed without a response
        closed_after = time.perf_counter() - start
        writer.close()
        await server.wait_all_closed()

    assert 0.5 <= closed_after < 0.8
    assert server.outcomes == ["cut"]


async def test_endless_hang_ends_when_the_client_leaves() -> None:
    async with OpenAICompatServer([hang_reply(None)]) as server:
        reader, writer = await raw_request(server)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await reader.read(1)
        writer.close()
        await server.wait_all_closed(timeout=1)

    assert server.outcomes == ["client_disconnected"] and server.client_disconnects == 1


async def test_hang_then_a_reply(http: httpx2.AsyncClient) -> None:
    async with OpenAICompatServer([hang_reply(0.3, then=text_reply(TEXT))]) as server:
        start = time.perf_counter()
        response = await http.post(url(server), json=REQUEST)
        took = time.perf_counter() - start

    assert response.status_code == 200 and 0.3 <= took < 0.6
    assert content([line.removeprefix("data: ") for line in response.text.splitlines() if line]) == TEXT
    assert server.outcomes == ["completed"]


# -- the openai SDK -----------------------------------------------------------------------------------


async def chat(server: OpenAICompatServer, read_timeout: float = 3.0, max_retries: int = 0) -> list[str]:
    """The content deltas of one streamed chat completion through the real SDK."""
    timeout = httpx2.Timeout(3.0, read=read_timeout)
    async with openai.AsyncOpenAI(
        base_url=server.base_url, api_key="k", max_retries=max_retries, timeout=timeout
    ) as client:
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        return [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]


async def test_openai_sdk_sees_a_503_with_retry_after() -> None:
    async with OpenAICompatServer([error_reply(503, "overloaded", retry_after=2)]) as server:
        with pytest.raises(openai.APIStatusError) as caught:
            await chat(server)

    assert caught.value.status_code == 503
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.type == "server_error" and "overloaded" in caught.value.message


async def test_openai_sdk_retries_after_retry_after() -> None:
    script = [error_reply(503, retry_after=0.1), error_reply(429, retry_after=0.1), text_reply(TEXT)]
    async with OpenAICompatServer(script) as server:
        assert "".join(await chat(server, max_retries=2)) == TEXT

    assert server.outcomes == ["error_status", "error_status", "completed"]
    arrived = [exchange.received_at for exchange in server.exchanges]
    assert all(later - earlier >= 0.1 for earlier, later in zip(arrived, arrived[1:], strict=False)), arrived


async def test_openai_sdk_raises_on_a_cut_stream() -> None:
    async with OpenAICompatServer([text_reply(TEXT, chunks=6, cut_after=3)]) as server:
        with pytest.raises(openai.APIConnectionError) as caught:
            await chat(server)

    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
    assert server.outcomes == ["cut"]


async def test_openai_sdk_raises_on_a_malformed_event() -> None:
    async with OpenAICompatServer([text_reply(TEXT, chunks=5, malformed_at=2)]) as server:
        with pytest.raises(json.JSONDecodeError):  # not wrapped in an openai error
            await chat(server)


@pytest.mark.parametrize(
    "reply",
    [text_reply(TEXT, chunks=5, stall_after=2, stall_for=None), hang_reply(None)],
    ids=["stall", "hang"],
)
async def test_openai_sdk_times_out_on_a_stall(reply: Reply) -> None:
    async with OpenAICompatServer([reply]) as server:
        start = time.perf_counter()
        with pytest.raises(openai.APITimeoutError) as caught:
            await chat(server, read_timeout=0.3)
        took = time.perf_counter() - start
        await server.wait_all_closed(timeout=1)

    assert isinstance(caught.value.__cause__, httpx2.ReadTimeout)
    assert 0.3 <= took < 0.8
    assert server.outcomes == ["client_disconnected"] and server.client_disconnects == 1
