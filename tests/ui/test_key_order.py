"""Keys that come in a burst (typing while a reply streams keeps the loop busy, so the terminal's bytes are read
together) are acted on in the order they were typed, in every text field: the prompt, the browser's search, the
inspector's filter. Textual runs a field's own bindings (Backspace, the arrows) only once the key has bubbled up
to the app, after the characters typed behind it (ui/compat.run_own_binding)."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from xsus_tui.ui.screens.browser import BrowserScreen

from .helpers import SIZE, make_app, screen_text, started_then_waiting, wait_for

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


async def test_a_burst_of_printable_keys_is_inserted_as_typed_in_a_few_edits(xsus_home, monkeypatch):
    """An unbracketed paste comes as keys: inserted one edit each, Textual's TextArea wrapped the whole line again
    every time (5,000 characters: 6 s in a terminal). Runs already waiting go in as one edit, still in order with
    the keys between them."""
    from xsus_tui.ui.widgets.prompt import PromptInput

    edits: list[str] = []
    edit = PromptInput.edit

    def counted(self, change):
        edits.append(change.text)
        return edit(self, change)

    monkeypatch.setattr(PromptInput, "edit", counted)
    text = ("The quick brown fox jumps over the lazy dog, 1 + 1 = 2. " * 40)[:2000]
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.chat_screen.prompt
        await pilot.pause()
        burst(app, [(character if character != " " else "space", character) for character in text])
        burst(app, [("backspace", None), ("left", None), ("X", "X")])
        await wait_for(pilot, lambda: len(prompt.text) == len(text))
        assert prompt.text == text[:-2] + "X" + text[-2]
        assert len(edits) <= 10, len(edits)


async def test_keys_typed_after_enter_in_the_same_burst_are_the_next_message(xsus_home):
    """`hello`, Enter, `world` in one burst sent `hello` and then cleared the prompt, `world` with it (the screen acts
    on Enter after the keys behind it are in); while a reply streams, `gamma`, Enter, `delta`, Alt+Enter queued
    `gamma` and then `gammadelta`."""
    agent, gate = started_then_waiting()
    app = make_app(xsus_home, agent)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        prompt = screen.prompt
        burst(app, [*((c, c) for c in "hello"), ("enter", None), *((c, c) for c in "world")])
        await wait_for(pilot, lambda: screen.turn_running and prompt.text == "world")
        assert screen.session.conversation.messages[0].parts[0].content == "hello"
        prompt.clear()
        burst(
            app,
            [*((c, c) for c in "gamma"), ("enter", None), *((c, c) for c in "delta"), ("alt+enter", None)],
        )
        # `gamma` a steer (queued, or already sent into the running reply), `delta` the next turn
        await wait_for(pilot, lambda: any(item.follow_up for item in screen.session.queue.items))
        await wait_for(pilot, lambda: "gamma" in screen_text(app))
        queued = [(item.text, item.follow_up) for item in screen.session.queue.items]
        assert queued in ([("gamma", False), ("delta", True)], [("delta", True)]), queued
        assert "gammadelta" not in screen_text(app) and prompt.text == ""
        gate.set()


async def test_keys_typed_just_before_ctrl_q_are_in_the_draft_also_while_a_turn_is_selected(xsus_home):
    """Ctrl+Q is a priority binding, acted on as the app reads it: keys ahead of it in the same burst were not in
    the prompt yet, and were missing from the draft printed as the app leaves (while a turn was selected too,
    when the keys go back to the prompt)."""
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.chat_screen.prompt
        burst(app, [*((c, c) for c in "hello"), ("enter", None)])
        await wait_for(pilot, lambda: not app.chat_screen.turn_running and bool(app.chat_screen.replies))
        await pilot.press(*"abc", "ctrl+up")
        await wait_for(pilot, lambda: app.chat_screen.chat.selected is not None)
        burst(app, [*((c, c) for c in "xyz"), ("ctrl+q", None)])
        await wait_for(pilot, lambda: app.quitting and app.unsent != "")
    assert app.unsent == "abcxyz" and prompt.text == "abcxyz"
