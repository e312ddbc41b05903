"""Keys that come in a burst (typing while a reply streams keeps the loop busy, so the terminal's bytes are read
together) are acted on in the order they were typed, in every text field: the prompt, the browser's search, the
inspector's filter. Textual runs a field's own bindings (Backspace, the arrows) only once the key has bubbled up
to the app, after the characters typed behind it (ui/compat.run_own_binding)."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from xsus_tui.ui.screens.browser import BrowserScreen

from .helpers import SIZE, make_app, wait_for

BURSTS = [
    ([("h", "h"), ("e", "e"), ("x", "x"), ("backspace", None), ("y", "y")], "hey"),
    ([("l", "l"), ("n", "n"), ("g", "g"), ("left", None), ("left", None), ("o", "o")], "long"),
]


def burst(app, keys) -> None:
    """As the terminal driver posts a read's keys: all at once, before the app handles any."""
    for key, character in keys:
        app.post_message(events.Key(key, character))


async def test_a_burst_of_keys_edits_the_prompt_in_order(xsus_home):
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.chat_screen.prompt
        for keys, expected in BURSTS:
            prompt.clear()
            burst(app, keys)
            await wait_for(pilot, lambda expected=expected: prompt.text == expected)


async def test_a_burst_of_keys_edits_the_browser_search_in_order(xsus_home):
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen))
        search = app.screen.query_one("#browse-query", Input)
        await wait_for(pilot, lambda: app.focused is search)
        for keys, expected in BURSTS:
            search.clear()
            burst(app, keys)
            await wait_for(pilot, lambda expected=expected: search.value == expected)
