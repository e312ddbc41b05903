"""A headless Chromium driven over the Chrome DevTools Protocol (aiohttp's websocket client): enough for the
`xsus serve` test to open a page, type, read what the page received, and close the tab.

The system Chromium is used (`chromium` from Debian's packages, or `XSUS_CHROMIUM`); nothing is downloaded.
textual-serve's page draws the terminal with xterm.js on a canvas, so there is no text in the DOM: a script
added before the page loads keeps what its websocket receives (the app's screen output, which xterm.js
draws) in `window.__xsusScreen`.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

RECORD_SCREEN = """
(() => {
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  window.__xsusScreen = "";
  window.WebSocket = function (url, protocols) {
    const socket = protocols === undefined ? new Native(url) : new Native(url, protocols);
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") window.__xsusScreen += decoder.decode(event.data, {stream: true});
    });
    window.__xsusSocket = socket;
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
})();
"""


def find_chromium() -> str | None:
    if explicit := os.environ.get("XSUS_CHROMIUM"):
        return explicit if Path(explicit).exists() else None
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


class Browser:
    """One headless Chromium process and a DevTools connection to it."""

    def __init__(self, executable: str, profile: Path) -> None:
        self.executable = executable
        self.profile = profile
        self.process: subprocess.Popen | None = None
        self.http: aiohttp.ClientSession | None = None
        self.socket: aiohttp.ClientWebSocketResponse | None = None
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future] = {}
        self.reader: asyncio.Task | None = None

    async def __aenter__(self) -> Browser:
        self.process = subprocess.Popen(
            [
                self.executable,
                "--headless=new",
                "--no-sandbox",  # tests run as root on CI
                "--disable-gpu",
                "--no-first-run",
                "--window-size=1400,1000",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        endpoint = await asyncio.wait_for(asyncio.to_thread(self._endpoint), 30)
        self.http = aiohttp.ClientSession()
        self.socket = await self.http.ws_connect(endpoint, max_msg_size=0)
        self.reader = asyncio.create_task(self._read())
        return self

    def _endpoint(self) -> str:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            if found := re.search(r"DevTools listening on (ws://\S+)", line):
                return found.group(1)
        raise RuntimeError(f"chromium ended without a DevTools endpoint (status {self.process.wait()})")

    async def __aexit__(self, *exc: object) -> None:
        if self.reader is not None:
            self.reader.cancel()
        if self.socket is not None:
            await self.socket.close()
        if self.http is not None:
            await self.http.close()
        if self.process is not None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    async def _read(self) -> None:
        assert self.socket is not None
        async for message in self.socket:
            data = message.json()
            if (future := self.pending.pop(data.get("id", -1), None)) is not None and not future.done():
                if "error" in data:
                    future.set_exception(RuntimeError(f"CDP error: {data['error']}"))
                else:
                    future.set_result(data.get("result", {}))

    async def send(self, method: str, session: str | None = None, **params: Any) -> dict:
        assert self.socket is not None
        message_id = next(self.ids)
        future = self.pending[message_id] = asyncio.get_running_loop().create_future()
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self.socket.send_json(message)
        return await asyncio.wait_for(future, 30)

    async def open_tab(self, url: str) -> Tab:
        target = (await self.send("Target.createTarget", url="about:blank"))["targetId"]
        session = (await self.send("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
        tab = Tab(self, target, session)
        await tab.send("Page.enable")
        await tab.send("Runtime.enable")
        await tab.send("Page.addScriptToEvaluateOnNewDocument", source=RECORD_SCREEN)
        await tab.send("Page.navigate", url=url)
        return tab


class Tab:
    """One page of the browser."""

    def __init__(self, browser: Browser, target: str, session: str) -> None:
        self.browser, self.target, self.session = browser, target, session

    async def send(self, method: str, **params: Any) -> dict:
        return await self.browser.send(method, self.session, **params)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def screen(self) -> str:
        """All the page's websocket received from the app: the output xterm.js drew."""
        return await self.evaluate("window.__xsusScreen || ''") or ""

    async def body_text(self) -> str:
        return await self.evaluate("document.body ? document.body.innerText : ''") or ""

    async def wait_for_screen(self, text: str, within: float = 60) -> str:
        """Wait until `text` has been drawn; the visible output so far."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            screen = visible(await self.screen())
            if text in screen:
                return screen
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{text!r} not drawn within {within} s; last: {screen[-600:]!r}")
            await asyncio.sleep(0.1)

    async def type(self, text: str) -> None:
        """Type into the terminal as a person would: focus it, the text, then Enter."""
        await self.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
        await self.send("Input.insertText", text=text)
        for kind in ("keyDown", "keyUp"):
            await self.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key="Enter",
                code="Enter",
                windowsVirtualKeyCode=13,
                **({"text": "\r"} if kind == "keyDown" else {}),
            )

    async def close(self) -> None:
        await self.browser.send("Target.closeTarget", targetId=self.target)


def visible(screen: str) -> str:
    """The text of the app's output, without its escape sequences (styles and cursor moves)."""
    return re.sub(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07", "", screen)
