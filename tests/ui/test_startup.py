"""The start-up screen: shown while the chat loads, typed into meanwhile, replaced by the chat screen."""

from __future__ import annotations

import asyncio

from xsus_tui.core.agents import build_chat_agent
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore
from xsus_tui.ui.app import ChatSetup, StartupError, XsusApp
from xsus_tui.ui.screens.chat import ChatScreen
from xsus_tui.ui.screens.startup import StartupScreen
from xsus_tui.ui.widgets.user_message import UserMessage

from .helpers import SIZE, screen_text, wait_for, wait_idle


def gated_app(home) -> tuple[XsusApp, asyncio.Event]:
    """An app whose loader finishes only when the returned event is set."""
    gate = asyncio.Event()

    async def loader() -> ChatSetup:
        await gate.wait()
        home.mkdir(parents=True, exist_ok=True)
        store = SQLiteConversationStore.open(home / "history.db")
        return ChatSetup(ChatSession(build_chat_agent("demo"), store))

    return XsusApp(loader=loader), gate


async def test_text_typed_while_starting_ends_up_in_the_chat_prompt(xsus_home):
    app, gate = gated_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        startup = app.screen
        assert isinstance(startup, StartupScreen)
        shown = screen_text(app)
        assert "Type a message" in shown and "loading the chat" in shown
        await pilot.press(*"hel")
        assert startup.prompt.text == "hel" and app.focused is startup.prompt
        gate.set()
        # Keys keep coming while the chat screen takes over: before, during and after the switch.
        await pilot.press(*"lo, world")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        await pilot.press("!")
        await pilot.pause()
        chat = app.chat_screen
        assert chat.prompt.text == "hello, world!"
        assert app.focused is chat.prompt and chat.prompt.cursor_location == chat.prompt.document.end
        assert "demo model" in screen_text(app) and not chat.session.busy


async def test_the_cursor_and_selection_made_while_starting_carry_over(xsus_home):
    """`abc`, Left, Left while starting, then `X` once the chat is up: `aXbc` (the cursor went to the end); and a
    selection made while starting is still selected."""
    app, gate = gated_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press(*"abc", "left", "left")
        gate.set()
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        await pilot.press("X")
        await wait_for(pilot, lambda: app.chat_screen.prompt.text == "aXbc")
    app, gate = gated_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press(*"hello", "shift+home")
        gate.set()
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        await pilot.press("Z")
        await wait_for(pilot, lambda: app.chat_screen.prompt.text == "Z")


async def test_enter_while_starting_sends_the_message_once_the_chat_is_ready(xsus_home):
    app, gate = gated_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"hello", "enter")
        assert app.screen.prompt.text == "hello"
        assert "your message is sent when the chat is ready" in screen_text(app)
        gate.set()
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen) and bool(app.screen.replies))
        await wait_idle(pilot)
        chat = app.chat_screen
        assert [m.prompt for m in chat.query(UserMessage)] == ["hello"]
        assert "Hello from the demo model" in chat.replies[-1].text and chat.prompt.text == ""


async def test_editing_a_queued_message_takes_it_back(xsus_home):
    app, gate = gated_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"hi", "enter", "!")
        assert "sent when the chat is ready" not in screen_text(app)
        gate.set()
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        await pilot.pause()
        assert app.chat_screen.prompt.text == "hi!" and not app.chat_screen.replies


async def test_a_loader_error_ends_the_app_with_status_2(xsus_home):
    async def loader() -> ChatSetup:
        raise StartupError("unknown model provider 'nosuch'")

    app = XsusApp(loader=loader)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 2 and app.startup_error == "unknown model provider 'nosuch'"


async def test_quitting_while_starting(xsus_home):
    app, _ = gated_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0 and app.session is None


async def test_the_command_palette_waits_for_the_chat(xsus_home):
    """A screen on top of the start-up screen would be what the chat screen replaces: Ctrl+P waits."""
    app, gate = gated_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, StartupScreen)
        gate.set()
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
