"""Textual's WebDriver (the one textual-serve runs the app with), made to quit like the terminal app does.

Textual's own WebDriver ends the app at once (`ExitApp`) when the browser tab closes (textual-serve sends
a `quit` packet), on SIGTERM and SIGINT, and never notices that the server has gone (its input ends). Any
of these mid-reply would lose the partial reply. Here each one runs `XsusApp.request_quit`, the path of
Ctrl+Q: the turn is cancelled and its partial reply saved. As it stops, the driver tells the server
which conversation it had (`CONVERSATION_META`), so that the next browser session can offer to continue
a conversation that was cut off (see `xsus_tui/serving.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from textual.drivers.web_driver import WebDriver

from ..served import CONVERSATION_META


class ServedDriver(WebDriver):
    """WebDriver whose every way out goes through the app's own quit (see the module's docstring)."""

    def start_application_mode(self) -> None:
        super().start_application_mode()
        # WebDriver's handlers post ExitApp (no save): replace them.
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal_number, self._quit)

    def on_meta(self, packet_type: str, payload: dict[str, object]) -> None:
        if packet_type == "quit":  # the browser tab closed, the network dropped, or the server is stopping
            self._loop.call_soon_threadsafe(self._quit)
            return
        super().on_meta(packet_type, payload)

    def run_input_thread(self) -> None:
        super().run_input_thread()
        if not self.exit_event.is_set():  # stdin ended: the server has gone without a word
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(self._quit)

    def stop_application_mode(self) -> None:
        session = getattr(self._app, "session", None)
        conversation = getattr(session, "conversation", None)
        if conversation is not None and conversation.messages:
            self.write_meta({"type": CONVERSATION_META, "id": conversation.conversation_id})
        super().stop_application_mode()

    def _quit(self) -> None:
        request_quit: Any = getattr(self._app, "request_quit", None)
        if request_quit is not None:
            request_quit()
        else:  # not an XsusApp (a test's app): Textual's way
            self._app.exit()
