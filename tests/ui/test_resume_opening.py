"""Opening a stored conversation: its last turns are on screen first, the rest of their page right after."""

from __future__ import annotations

from pydantic_ai.conversation import Conversation

from xsus_tui.ui.screens.chat import HISTORY_PAGE, OPENING_TURNS
from xsus_tui.ui.widgets.history_page import HistoryPage
from xsus_tui.ui.widgets.user_message import UserMessage

from .helpers import SIZE, make_app, screen_text, wait_for
from .test_chat import history

TOTAL = 40


async def test_the_last_turns_are_painted_first_and_the_rest_of_their_page_fills_in_above_them(xsus_home, monkeypatch):
    at_first_paint: list[list[int]] = []
    render_above = HistoryPage._render_above

    async def spy(page: HistoryPage, turns) -> None:
        # Runs after the refresh that painted the first turns: what the page held then.
        at_first_paint.append([user.number for user in page.query(UserMessage)])
        screen_at_first_paint.append(screen_text(page.app))
        await render_above(page, turns)

    screen_at_first_paint: list[str] = []
    monkeypatch.setattr(HistoryPage, "_render_above", spy)
    app = make_app(xsus_home, conversation=Conversation(messages=history(TOTAL)))
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat_screen.chat
        (page,) = chat.query_children(HistoryPage)
        await wait_for(pilot, lambda: len(page.query(UserMessage)) == HISTORY_PAGE and not page._loading)
        assert at_first_paint == [list(range(TOTAL - OPENING_TURNS + 1, TOTAL + 1))]
        assert f"answer {TOTAL - 1}" in screen_at_first_paint[0]  # the last turn was on screen then
        # Then the whole page, in order, the view still at the end.
        assert [user.number for user in page.query(UserMessage)] == list(range(TOTAL - HISTORY_PAGE + 1, TOTAL + 1))
        assert page.prompts == [f"question {i}" for i in range(TOTAL - HISTORY_PAGE, TOTAL)]
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y)
        assert f"answer {TOTAL - 1}" in screen_text(app)
        # Scrolled to the top of the page, its first turn is there (and older turns still wait in the gap).
        chat.scroll_to(y=0, animate=False, immediate=True)
        await wait_for(pilot, lambda: f"question {TOTAL - HISTORY_PAGE}" in screen_text(app))


async def test_a_conversation_shorter_than_the_opening_renders_at_once(xsus_home, monkeypatch):
    calls: list[object] = []
    monkeypatch.setattr(HistoryPage, "_render_above", lambda page, turns: calls.append(turns))
    app = make_app(xsus_home, conversation=Conversation(messages=history(2)))
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat_screen.chat
        (page,) = chat.query_children(HistoryPage)
        await wait_for(pilot, lambda: "answer 1" in screen_text(app))
        assert [user.number for user in page.query(UserMessage)] == [1, 2] and not page._loading
        assert calls == []
