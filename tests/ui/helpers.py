"""Building the app around a store in the test's XSUS_HOME, and waiting on it."""

from __future__ import annotations

import asyncio
import io
import re
import time

from rich.console import Console

from xsus_tui.core.agents import ChatAgent, build_chat_agent
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore
from xsus_tui.ui.app import XsusApp

SIZE = (100, 30)


def started_then_waiting() -> tuple[ChatAgent, asyncio.Event]:
    """An agent whose reply says "started " and then waits for the returned event before "finished"."""
    from ..core.helpers import chat_agent

    gate = asyncio.Event()

    async def slow(messages, info):
        yield "started "
        await gate.wait()
        yield "finished"

    return chat_agent(slow), gate


def make_app(home, chat_agent: ChatAgent | None = None, conversation=None, **session_options) -> XsusApp:
    home.mkdir(parents=True, exist_ok=True)
    store = SQLiteConversationStore.open(home / "history.db")
    session = ChatSession(chat_agent or build_chat_agent("demo"), store, conversation=conversation, **session_options)
    return XsusApp(session)


async def send(pilot, text: str) -> None:
    for line_number, line in enumerate(text.split("\n")):
        if line_number:
            await pilot.press("ctrl+j")
        if line:
            await pilot.press(*line)
    await pilot.press("enter")


async def wait_for(pilot, condition, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


async def wait_idle(pilot, within: float = 5.0) -> None:
    screen = pilot.app.chat_screen
    await asyncio.sleep(0)
    await wait_for(
        pilot,
        lambda: not screen.session.busy and (screen.turn_worker is None or screen.turn_worker.is_finished),
        within,
    )
    await pilot.pause()


def screen_text(app) -> str:
    """Everything the terminal shows right now, as plain text (rendered the way export_screenshot does)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, force_terminal=True)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Terminal control characters: none of these may reach the screen from model or tool text."""


def rendered_text(app) -> str:
    """The text of every segment the screen would write, without Rich's own styling codes."""
    update = app.screen._compositor.render_update(full=True)
    return "\n".join("".join(segment.text for segment in strip) for strip in update.strips)
