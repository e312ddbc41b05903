"""`xsus serve`: the same app in a browser, through textual-serve.

textual-serve runs an aiohttp server; each browser tab opens a websocket, and for each one it starts the
app command as a subprocess with Textual's web driver (the screen as packets on stdout, keys on stdin).
Here, around it:

- **A token.** The page (`/?token=T`) and the websocket (`/ws/T`) need the random token printed in the URL,
  so other local users (every one can reach 127.0.0.1) can't open the chat: a wrong or missing one gets
  403 and no app is started. It is compared in constant time, and written nowhere (no access log). It
  is in the websocket's path, not its query: textual.js appends `?width=..&height=..` to that URL.
- **Every flag of xsus.** Each browser session runs `python -m xsus_tui FLAGS`, the flags `xsus serve` was
  given (`--model`, `--agent`, `-c`...), with this Python, shlex-quoted.
- **Nothing lost when the tab closes.** textual-serve then sends the app a `quit` packet; the app's driver
  (`ui/web_driver.py`) quits as Ctrl+Q does, saving the partial reply. Meanwhile the app's output is still
  read (and dropped): an app blocked writing to a full pipe could never save. An app that has not ended
  after `STOP_GRACE` seconds is terminated, then killed.
- **Offered again.** A session cut off that way (not one the user quit) leaves its conversation id with
  the server; the next browser session opens that conversation with a one-line notice (Ctrl+N for a new
  one), once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import ipaddress
import json
import logging
import secrets
import shlex
import signal
import socket
import sys
from typing import Any

from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from .served import CONVERSATION_META, RESUMED_CUT_ENV

log = logging.getLogger("xsus.serve")

STOP_GRACE = 5.0
"""Seconds an app told to quit (its tab closed) gets to save and end before it is terminated."""
KILL_GRACE = 2.0
"""Seconds a terminated app gets before it is killed."""
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class ServeError(Exception):
    """The server can't start (the port is in use, the host can't be bound): one line for the user."""


def chat_command(flags: list[str]) -> list[str]:
    """The command run for each browser session: this Python running xsus with `flags`."""
    return [sys.executable, "-m", "xsus_tui", *flags]


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ChatService(AppService):
    """One browser session's app: its output drained to the end, its stop bounded, how it ended noted."""

    def __init__(self, command: str, *, environment: dict[str, str], **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self.extra_environment = environment
        self.browser_gone = False
        """The websocket can no longer be written to: the app's output is read and dropped."""
        self.app_exited = False
        """The app said it is ending (the user quit it, or it could not start)."""
        self.cut = False
        """The browser went away while the app was running (a closed tab, a dropped network)."""
        self.conversation_id: str | None = None
        """The conversation the app had when it stopped, if it had one with messages."""

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width, height)
        environment.update(self.extra_environment)
        return environment

    async def on_data(self, payload: bytes) -> None:
        if self.browser_gone:
            return
        try:
            await self.remote_write_bytes(payload)
        except (ConnectionError, RuntimeError):  # the socket is closing: keep reading, or the app blocks
            self.browser_gone = True

    async def on_meta(self, data: bytes) -> None:
        meta = json.loads(data)
        if meta.get("type") == CONVERSATION_META:
            self.conversation_id = meta.get("id") if isinstance(meta.get("id"), str) else None
            return
        if meta.get("type") == "exit":
            self.app_exited = True
        with contextlib.suppress(ConnectionError, RuntimeError):
            await super().on_meta(data)

    async def stop(self) -> None:
        """Ask the app to quit (it saves, as on Ctrl+Q) and wait for it, within bounds."""
        task, process = self._task, self._process
        if task is None or process is None:
            return
        self._task = None
        self.browser_gone = True
        if not self.app_exited and process.returncode is None:
            self.cut = True
        await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
        await self.send_meta({"type": "quit"})
        for grace, end in ((STOP_GRACE, process.terminate), (KILL_GRACE, process.kill)):
            done, _ = await asyncio.wait({task}, timeout=grace)
            if done:
                break
            with contextlib.suppress(ProcessLookupError):
                end()
        else:
            await asyncio.wait({task}, timeout=KILL_GRACE)
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(process.wait(), KILL_GRACE)


class ChatServer(Server):
    """textual-serve's Server with a token, xsus's command per session and the cut conversation offered again."""

    def __init__(self, flags: list[str], *, host: str, port: int, token: str | None = None) -> None:
        self.flags = flags
        super().__init__(shlex.join(chat_command(flags)), host=host, port=port, title="xsus")
        self.token = token or secrets.token_urlsafe(24)
        self.sessions: set[ChatService] = set()
        self.cut_conversation: str | None = None
        """A conversation whose browser session was cut off, for the next session to reopen (once)."""
        self.runner: web.AppRunner | None = None

    # -- the token --------------------------------------------------------------------------------------

    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), self.token.encode())

    @web.middleware
    async def require_token(self, request: web.Request, handler):
        if request.path.startswith("/static/"):  # textual-serve's own scripts, styles and fonts
            return await handler(request)
        if request.path.startswith("/ws/"):
            given = request.path.removeprefix("/ws/")
        else:
            given = request.query.get("token", "")
        if not given or not self.token_matches(given):
            raise web.HTTPForbidden(text="xsus serve: wrong or missing token; open the URL that `xsus serve` printed\n")
        return await handler(request)

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self.require_token)
        app.router.add_get("/ws/{token}", self.handle_websocket, name="chat-websocket")
        return app

    def url(self, host: str, port: int) -> str:
        if host in ("0.0.0.0", "::", ""):  # every address: the machine's name is what others can open
            host = socket.gethostname()
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/?token={self.token}"

    async def handle_index(self, request: web.Request) -> web.Response:
        # As textual-serve's, but the websocket's URL is built from the Host the browser used (right for
        # any --host, and for --port 0), with the token in its path.
        import aiohttp_jinja2

        scheme = "wss" if request.secure else "ws"
        context = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{scheme}://{request.host}/ws/{self.token}",
            "config": {"static": {"url": "/static/"}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    # -- the sessions -----------------------------------------------------------------------------------

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if request.path == "/ws":  # textual-serve's own route: no token there
            raise web.HTTPForbidden(text="xsus serve: wrong or missing token\n")
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        service: ChatService | None = None
        try:
            await websocket.prepare(request)
            flags, environment = list(self.flags), {}
            if (resume := self.cut_conversation) is not None:
                self.cut_conversation = None
                flags = [*_without_resume(flags), "--resume", resume]
                environment[RESUMED_CUT_ENV] = "1"
            service = ChatService(
                shlex.join(chat_command(flags)),
                environment=environment,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=websocket.close,
                download_manager=self.download_manager,
                debug=self.debug,
            )
            self.sessions.add(service)
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await websocket.close()
        except Exception as error:  # noqa: BLE001 - one session's fault must not end the server
            log.warning("a browser session failed: %s", error)
        finally:
            if service is not None:
                await service.stop()
                self.sessions.discard(service)
                if service.cut and service.conversation_id:
                    self.cut_conversation = service.conversation_id
        return websocket

    async def on_startup(self, app: web.Application) -> None:
        pass  # textual-serve prints its logo and the command here; `serve` prints the URL once bound

    async def on_shutdown(self, app: web.Application) -> None:
        await asyncio.gather(*(service.stop() for service in list(self.sessions)), return_exceptions=True)

    # -- running ----------------------------------------------------------------------------------------

    async def start(self) -> str:
        """Bind and start serving; the URL to open (with the real port when 0 was asked for)."""
        self.runner = web.AppRunner(await self._make_app(), access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port)
        try:
            await site.start()
        except OSError as error:
            await self.runner.cleanup()
            if error.errno == errno.EADDRINUSE:
                raise ServeError(
                    f"port {self.port} on {self.host} is in use; choose another with --port, or --port 0 for a free one"
                ) from None
            raise ServeError(f"can't listen on {self.host}:{self.port}: {error.strerror or error}") from None
        port = self.runner.addresses[0][1] if self.runner.addresses else self.port
        self.public_url = f"http://{self.host}:{port}"
        return self.url(self.host, port)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def _without_resume(flags: list[str]) -> list[str]:
    """`flags` without -c/--continue and -r/--resume ID (the session reopens a given conversation)."""
    kept, skip = [], False
    for flag in flags:
        if skip:
            skip = False
        elif flag in ("-c", "--continue"):
            continue
        elif flag in ("-r", "--resume"):
            skip = True
        elif not flag.startswith("--resume="):
            kept.append(flag)
    return kept


def _without_request(record: logging.LogRecord) -> bool:
    """aiohttp's errors about a malformed request quote the request line (which may hold the token): one line
    without it instead."""
    record.msg, record.args, record.exc_info, record.exc_text = "refused a malformed request", (), None, None
    return True


def serve(flags: list[str], *, host: str, port: int) -> int:
    """Run the server until Ctrl+C or SIGTERM; what `xsus serve` does."""
    logging.basicConfig(level=logging.WARNING, format="xsus serve: %(message)s", stream=sys.stderr)
    logging.getLogger("aiohttp.access").disabled = True  # request lines hold the token
    logging.getLogger("aiohttp.server").addFilter(_without_request)
    if not is_loopback(host):
        print(
            f"xsus serve: warning: listening on {host}, not only this machine: anyone who gets the URL can chat "
            "(and the page is plain HTTP)",
            file=sys.stderr,
        )
    server = ChatServer(flags, host=host, port=port)
    return asyncio.run(_run(server))


async def _run(server: ChatServer) -> int:
    url = await server.start()
    print(url, flush=True)
    print(
        f"xsus serve: open the URL above in a browser (each tab is a chat: {shlex.join(['xsus', *server.flags])}). "
        "Ctrl+C stops the server.",
        file=sys.stderr,
        flush=True,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal_number, stopping.set)
    try:
        await stopping.wait()
    finally:
        print("xsus serve: stopping; open chats are saved", file=sys.stderr, flush=True)
        await server.stop()
    return 0
