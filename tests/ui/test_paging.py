"""PgUp/PgDn while a reply streams: quick presses add up, and PgDn back to the bottom follows again."""

from __future__ import annotations

import asyncio

from ..core.helpers import chat_agent
from .helpers import SIZE, make_app, send, wait_for, wait_idle
from .test_chat import gated_stream as gated


async def test_quick_presses_add_up_and_pgdn_to_the_bottom_follows_again(xsus_home):
    gates = [asyncio.Event(), asyncio.Event(), asyncio.Event()]
    lines = [f"line {i}\n\n" for i in range(80)]
    app = make_app(xsus_home, chat_agent(gated([lines, lines, lines, lines], gates)))
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat_screen.chat
        page = chat.scrollable_content_region.height
        await send(pilot, "many lines")
        await wait_for(pilot, lambda: chat.max_scroll_y > 5 * page)
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y)
        bottom = chat.max_scroll_y
        await pilot.press("pageup", "pageup", "pageup")  # faster than the scroll animation
        await wait_for(pilot, lambda: chat.scroll_y == chat.scroll_target_y)
        assert chat.scroll_y == bottom - 3 * page
        gates[0].set()  # the reply goes on below while the user reads
        await wait_for(pilot, lambda: chat.max_scroll_y > bottom + 2 * page)
        assert chat.scroll_y == bottom - 3 * page  # kept in place
        await pilot.press("pagedown", "pagedown")
        await wait_for(pilot, lambda: chat.scroll_y == chat.scroll_target_y)
        assert chat.scroll_y == bottom - page
        presses = (chat.max_scroll_y - chat.scroll_y) // page + 2
        await pilot.press(*["pagedown"] * presses)  # quickly, and past the end: follow the stream again
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y)
        gates[1].set()
        before = chat.max_scroll_y
        await wait_for(pilot, lambda: chat.max_scroll_y > before + page)
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y)  # following the stream again
        await pilot.press("pageup")
        await pilot.press("ctrl+end")  # Ctrl+End follows too
        gates[2].set()
        before = chat.max_scroll_y
        await wait_for(pilot, lambda: chat.max_scroll_y > before + page)
        await wait_idle(pilot)
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y)
