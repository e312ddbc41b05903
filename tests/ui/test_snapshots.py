"""A handful of SVG snapshots, one per screen state (pytest-textual-snapshot; --snapshot-update to accept)."""

from __future__ import annotations

import asyncio

import pytest

from xsus_tui.ui.widgets import tool_panel

from ..core.helpers import chat_agent
from .helpers import SIZE, make_app, send, wait_for, wait_idle


@pytest.fixture(autouse=True)
def fixed_durations(monkeypatch):
    monkeypatch.setattr(tool_panel, "format_duration", lambda seconds: "3 ms" if seconds is not None else "")


async def settle(pilot) -> None:
    await wait_idle(pilot)
    pilot.app.chat_screen.status.stats = None  # timings differ run to run
    chat = pilot.app.chat_screen.chat
    await pilot.wait_for_scheduled_animations()
    await wait_for(pilot, lambda: max(0, chat.scroll_y) >= chat.max_scroll_y)
    await pilot.pause()  # one more frame: what the SVG shows is painted


def test_welcome(snap_compare, xsus_home):
    assert snap_compare(make_app(xsus_home), terminal_size=SIZE)


def test_markdown_reply(snap_compare, xsus_home):
    async def run_before(pilot):
        await send(pilot, "hello")
        await settle(pilot)

    assert snap_compare(make_app(xsus_home), terminal_size=SIZE, run_before=run_before)


def test_tool_panels(snap_compare, xsus_home):
    def add(a: int, b: int) -> int:
        return a + b

    def broken(path: str) -> str:
        raise ValueError  # never reached: the model's call is rejected by validation below

    async def stream(messages, info):
        from pydantic_ai.messages import ModelResponse
        from pydantic_ai.models.function import DeltaToolCall

        if not any(isinstance(m, ModelResponse) for m in messages):
            yield "Adding two numbers:\n"
            yield {1: DeltaToolCall(name="add", json_args='{"a": 2, "b": 40}', tool_call_id="t1")}
            yield {2: DeltaToolCall(name="add", json_args='{"a": "two"}', tool_call_id="t2")}
        else:
            yield "The sum is **42**; the second call had bad arguments."

    async def run_before(pilot):
        await send(pilot, "add")
        await settle(pilot)

    app = make_app(xsus_home, chat_agent(stream, tools=[add]))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_structured_output(snap_compare, xsus_home):
    async def run_before(pilot):
        await send(pilot, "structured")
        await settle(pilot)
        pilot.app.chat_screen.chat.scroll_end(animate=False)
        await pilot.pause()

    assert snap_compare(make_app(xsus_home), terminal_size=SIZE, run_before=run_before)


def test_interrupted_reply(snap_compare, xsus_home):
    async def stream(messages, info):
        for word in "This reply is being written slowly and will be stopped".split():
            yield word + " "
        await asyncio.sleep(30)
        yield "never shown"

    async def run_before(pilot):
        await send(pilot, "write slowly")
        await wait_for(pilot, lambda: "stopped" in pilot.app.chat_screen.replies[-1].text)
        await pilot.press("escape")
        await settle(pilot)

    assert snap_compare(make_app(xsus_home, chat_agent(stream)), terminal_size=SIZE, run_before=run_before)


def test_conversation_browser_searching(snap_compare, xsus_home, monkeypatch):
    from xsus_tui.ui.screens import browser

    from .test_browser import fill

    monkeypatch.setattr(browser, "when", lambda moment: "Nov 28")  # the saves' times differ run to run
    asyncio.run(fill(xsus_home, conversations=6, turns=3))

    async def run_before(pilot):
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, browser.BrowserScreen))
        await pilot.press(*"rodent")
        await wait_for(pilot, lambda: pilot.app.screen._query == "rodent" and len(pilot.app.screen.rows) == 1)
        await pilot.pause()

    assert snap_compare(make_app(xsus_home), terminal_size=SIZE, run_before=run_before)


def test_selected_turn(snap_compare, xsus_home):
    async def stream(messages, info):
        yield "A short answer with **bold** text and `code`.\n\n- one point\n- another point"

    async def run_before(pilot):
        for prompt in ("first question", "second question"):
            await send(pilot, prompt)
            await settle(pilot)
        await pilot.press(*"a draft")
        await pilot.press("ctrl+up", "up")  # the first turn, highlighted; the prompt keeps its draft
        assert pilot.app.chat_screen.selected_turn().user.prompt == "first question"
        await pilot.pause()

    assert snap_compare(make_app(xsus_home, chat_agent(stream)), terminal_size=SIZE, run_before=run_before)


def test_turn_with_versions(snap_compare, xsus_home):
    replies = iter(["The first answer.", "A second, different answer.", "A third answer."])

    async def stream(messages, info):
        yield next(replies)

    async def run_before(pilot):
        await send(pilot, "answer me")
        await settle(pilot)
        for _ in range(2):
            await pilot.press("ctrl+g")
            await settle(pilot)
        await pilot.press("ctrl+up", "left")  # the second of three versions, selected
        screen = pilot.app.chat_screen
        await wait_for(
            pilot, lambda: screen.selected_turn() is not None and screen.selected_turn().user.versions == (2, 3)
        )
        await settle(pilot)

    assert snap_compare(make_app(xsus_home, chat_agent(stream)), terminal_size=SIZE, run_before=run_before)


def test_command_completion(snap_compare, xsus_home):
    """`/` and Down: every command with its help above the prompt, the first highlighted."""

    async def run_before(pilot):
        await pilot.press("/")
        await wait_for(pilot, lambda: pilot.app.chat_screen.prompt.completing)
        await pilot.press("down")
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    assert snap_compare(make_app(xsus_home), terminal_size=SIZE, run_before=run_before)
