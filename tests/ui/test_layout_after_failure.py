"""A chat lays out correctly after a failed turn: nothing is drawn at a negative scroll offset."""

from __future__ import annotations

from ..core.helpers import chat_agent
from .helpers import SIZE, make_app, screen_text, send, wait_idle


async def test_a_refused_first_turn_leaves_the_greeting_and_prompt_on_screen(xsus_home):
    async def refused(messages, info):
        raise ConnectionRefusedError("[Errno 111] Connection refused")
        yield ""

    app = make_app(xsus_home, chat_agent(refused), retries=1, backoff=0.05)
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat_screen.chat
        assert chat.scroll_y >= 0  # short content sits at the bottom by layout, not by a negative scroll
        await send(pilot, "hello there")
        await wait_idle(pilot, within=10)
        assert chat.scroll_y == 0 and chat.max_scroll_y == 0
        visible = chat.content_region
        for widget in chat.children:
            if widget.region.height:
                assert visible.contains_region(widget.region), (widget, widget.region, visible)
        lines = [line for line in screen_text(app).splitlines() if line.strip()]
        greeting = next(i for i, line in enumerate(lines) if "Chatting with" in line)
        prompt = next(i for i, line in enumerate(lines) if "hello there" in line)
        assert greeting < prompt and lines[prompt - 1].rstrip().endswith("quits.")  # right under the greeting
