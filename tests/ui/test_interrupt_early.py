"""Esc before a turn has started (waiting for the MCP servers) stops it: nothing is sent, the prompt comes back."""

from __future__ import annotations

from ..core.helpers import chat_agent
from .helpers import SIZE, make_app, send, wait_for, wait_idle


async def test_esc_while_waiting_for_tools_sends_nothing_and_gives_the_prompt_back(xsus_home):
    calls: list[str] = []

    async def stream(messages, info):
        calls.append("called")
        yield "answered"

    app = make_app(xsus_home, chat_agent(stream))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        screen._tools_ready.clear()  # as while MCP servers start
        await send(pilot, "wait for me")
        await wait_for(pilot, lambda: screen.turn_running)
        await pilot.press("escape")
        screen._tools_ready.set()
        await wait_idle(pilot)
        assert screen.prompt.text == "wait for me" and screen.status.state == "interrupted"
        await pilot.press("enter")  # and the next turn is not cancelled by that Esc
        await wait_idle(pilot)
        assert screen.replies[-1].text == "answered"
    assert calls == ["called"]
