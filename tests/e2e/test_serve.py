"""`xsus serve` end to end: the real server as a subprocess, on the demo model, with a private XSUS_HOME.

Without a browser: the token (403 and no app started), the port, the flags, and the websocket protocol itself
(type, see the reply stream, drop the socket mid-reply: the partial reply is saved, and the next session
offers it again). In a real headless Chromium (skipped only where none is installed): the same, as a user.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart

from ..terminal_helpers import latest_messages
from .browser import Browser, find_chromium, visible

ROOT = Path(__file__).resolve().parents[2]
LONG_REPLY_TEXT = "Pressing Esc"
"""Words from the demo model's long reply (core/demo_text.py), drawn once it is streaming."""
RESUMED_TEXT = "Continued the conversation"
"""The start of the notice of a session that reopened a conversation cut off (served.resumed_notice)."""
IDLE = "idle"
"""The status line of a chat waiting for a prompt."""


@dataclass
class Served:
    process: subprocess.Popen
    url: str
    """What `xsus serve` printed: http://127.0.0.1:PORT/?token=T"""

    @property
    def base(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def token(self) -> str:
        return urlsplit(self.url).query.removeprefix("token=")

    def children(self) -> list[int]:
        """The processes the server started (a browser session's app each)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def _serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "xsus_tui", "serve", *args]


def _environment(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "XSUS_HOME": str(home), "PYTHONPATH": str(ROOT), "XSUS_DEMO_DELAY": "0.02", **extra}


@contextmanager
def served(home: Path, *args: str) -> Iterator[Served]:
    process = subprocess.Popen(
        _serve_command("--port", "0", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_environment(home),
        text=True,
        start_new_session=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "xsus serve printed no URL within 30 s"
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), (url, process.stderr.read() if process.poll() is not None else "")
        yield Served(process, url)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def wait_until(condition, within: float = 30, what: str = "the condition") -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(0.05)


def shown(screen: bytearray) -> str:
    return visible(bytes(screen).decode("utf-8", "replace"))


async def saved_messages(home: Path) -> list:
    """The latest conversation's messages, read as another process would (the store's own loop, in a thread)."""
    return await asyncio.to_thread(latest_messages, home)


async def assert_partial_reply_saved(home: Path) -> None:
    messages = await saved_messages(home)
    assert messages, "nothing saved"
    assert isinstance(messages[0], ModelRequest) and isinstance(messages[0].parts[0], UserPromptPart)
    assert messages[0].parts[0].content == "long"
    assert isinstance(messages[-1], ModelResponse), messages  # the partial reply, not just the prompt
    text = "".join(p.content for p in messages[-1].parts if isinstance(p, TextPart))
    assert LONG_REPLY_TEXT in text, text


# -- without a browser --------------------------------------------------------------------------------------


async def test_a_wrong_or_missing_token_is_refused_and_starts_no_app(xsus_home):
    with served(xsus_home) as server:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.url) as response:
                page = await response.text()
                assert response.status == 200
                assert f"/ws/{server.token}" in page  # the page's websocket carries the token
            for path in ("/", "/?token=", "/?token=wrong", f"/?token={server.token}x", "/ws", "/ws/wrong"):
                async with http.get(server.base + path) as response:
                    assert response.status == 403, path
                    assert "wrong or missing token" in await response.text()
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"{server.base}/ws/{server.token[:-1]}?width=80&height=24")
            assert refused.value.status == 403
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await http.ws_connect(f"{server.base}/ws?token={server.token}&width=80&height=24")
            async with http.get(server.base + "/static/js/textual.js") as response:
                assert response.status == 200  # the page's own script needs no token
        assert server.children() == []  # no app was started for any of them


def test_the_token_is_random_and_not_written_anywhere(xsus_home):
    with served(xsus_home) as first, served(xsus_home) as second:
        assert first.token != second.token and len(first.token) >= 32
        token = first.token
        with socket.create_connection(urlsplit(first.url).netloc.split(":")) as raw:  # a request line too long
            raw.sendall(f"GET /?token={token}&x={'a' * 20000} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert b" 400 " in raw.recv(100)
    said = first.process.stderr.read()
    assert "refused a malformed request" in said and token not in said
    for path in xsus_home.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_a_port_in_use_is_one_line_and_status_2(xsus_home):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            _serve_command("--port", str(port)), capture_output=True, text=True, env=_environment(xsus_home), timeout=60
        )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"xsus: error: port {port} on 127.0.0.1 is in use; choose another with --port, or --port 0 for a free one"
    ]
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--retries", "99"], "--retries"),
        (["--port", "70000"], "must be between 0 and 65535"),
        (["history", "list"], "can't follow it"),
    ],
)
def test_bad_flags_are_answered_before_serving(xsus_home, args, says):
    environment = _environment(xsus_home)
    done = subprocess.run(_serve_command(*args), capture_output=True, text=True, env=environment, timeout=60)
    assert done.returncode == 2
    assert says in done.stderr
    assert done.stdout == ""


async def test_over_the_websocket_a_dropped_session_saves_and_is_offered_again(xsus_home):
    """The browser's protocol without a browser: type, see the stream, drop the socket mid-reply."""
    with served(xsus_home, "--model", "demo") as server:
        url = f"{server.base}/ws/{server.token}?width=110&height=36"
        async with aiohttp.ClientSession() as http:
            screen = bytearray()

            async def read(ws) -> None:
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.BINARY:
                        screen.extend(message.data)

            ws = await http.ws_connect(url)
            reading = asyncio.create_task(read(ws))
            await wait_until(lambda: IDLE in shown(screen), 60, "the chat idle")
            assert len(server.children()) == 1
            await ws.send_json(["stdin", "long\r"])
            await wait_until(lambda: LONG_REPLY_TEXT in shown(screen), 60, "the long reply streaming")
            await ws.close()  # mid-reply: the network dropped, the tab closed
            await reading
            await wait_until(lambda: server.children() == [], 15, "the app ended")
            await assert_partial_reply_saved(xsus_home)
            saved = await saved_messages(xsus_home)

            screen.clear()
            ws = await http.ws_connect(url)
            reading = asyncio.create_task(read(ws))
            await wait_until(lambda: RESUMED_TEXT in shown(screen), 60, "the cut conversation offered again")
            await wait_until(lambda: LONG_REPLY_TEXT in shown(screen), 60, "its partial reply shown")
            await ws.send_json(["stdin", "\x11"])  # Ctrl+Q: quit by the user, not cut
            await reading
            await wait_until(lambda: server.children() == [], 15, "the app ended")
            assert await saved_messages(xsus_home) == saved  # nothing lost, nothing doubled

            screen.clear()  # quit, not cut: the next session is a new chat
            ws = await http.ws_connect(url)
            reading = asyncio.create_task(read(ws))
            await wait_until(lambda: IDLE in shown(screen), 60, "the chat idle")
            assert RESUMED_TEXT not in shown(screen)
            await ws.close()
            await reading


# -- in a real browser ----------------------------------------------------------------------------------------

CHROMIUM = find_chromium()


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium, or set XSUS_CHROMIUM)")
async def test_in_chromium_the_chat_streams_a_closed_tab_saves_and_reopening_offers_it(xsus_home, tmp_path):
    assert CHROMIUM is not None
    with served(xsus_home, "--model", "demo") as server:
        async with Browser(CHROMIUM, tmp_path / "profile") as browser:
            refused = await browser.open_tab(server.url.replace(server.token, "not-the-token"))
            await wait_until_async(lambda: refused.body_text(), "wrong or missing token")
            await refused.close()
            assert server.children() == []

            tab = await browser.open_tab(server.url)
            await tab.wait_for_screen(IDLE)
            assert len(server.children()) == 1
            await tab.type("long")
            await tab.wait_for_screen(LONG_REPLY_TEXT)
            await tab.close()  # mid-reply
            await wait_until(lambda: server.children() == [], 15, "the app ended")
            await assert_partial_reply_saved(xsus_home)

            tab = await browser.open_tab(server.url)
            await tab.wait_for_screen(RESUMED_TEXT)
            await tab.wait_for_screen(LONG_REPLY_TEXT)
            await tab.type("hello from the browser")
            await tab.wait_for_screen("hello from the browser")
            deadline = time.monotonic() + 60
            while len(messages := await saved_messages(xsus_home)) < 4 or not isinstance(messages[-1], ModelResponse):
                assert time.monotonic() < deadline, f"the second reply not saved within 60 s: {messages}"
                await asyncio.sleep(0.2)
            assert messages[-2].parts[0].content == "hello from the browser"
            await tab.close()


async def wait_until_async(get, expected: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while expected not in (text := await get()):
        assert time.monotonic() < deadline, f"{expected!r} not shown within {within} s: {text!r}"
        await asyncio.sleep(0.1)


async def test_stopping_the_server_mid_reply_saves_it(xsus_home):
    with served(xsus_home) as server:
        async with aiohttp.ClientSession() as http:
            screen = bytearray()
            ws = await http.ws_connect(f"{server.base}/ws/{server.token}?width=110&height=36")

            async def read() -> None:
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.BINARY:
                        screen.extend(message.data)

            reading = asyncio.create_task(read())
            await wait_until(lambda: IDLE in shown(screen), 60, "the chat idle")
            await ws.send_json(["stdin", "long\r"])
            await wait_until(lambda: LONG_REPLY_TEXT in shown(screen), 60, "the long reply streaming")
            sent = time.monotonic()
            server.process.send_signal(signal.SIGINT)  # Ctrl+C where `xsus serve` runs
            status = await asyncio.to_thread(server.process.wait, 30)
            assert time.monotonic() - sent < 10
            assert status == 0
            await reading
        await assert_partial_reply_saved(xsus_home)
