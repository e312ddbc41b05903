"""Opening a stored conversation: its last turns are on screen first, the rest of their page right after."""

from __future__ import annotations

from pydantic_ai.conversation import Conversation

from xsus_tui.ui.screens.chat import HISTORY_PAGE, OPENING_TURNS
from xsus_tui.ui.widgets.history_page import HistoryPage
from xsus_tui.ui.widgets.user_message import UserMessage

from .helpers import SIZE, make_app, screen_text, wait_for, wait_idle
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


async def test_scrolling_up_through_stored_pages_renders_each_page_once(xsus_home, monkeypatch):
    """Each PgUp that reaches the gap renders a page above the view. What was on screen must stay rendered: a
    refold between that page's layout and the view put back in place folded it, and it came back into view
    blank, rendering again (0.3-0.6 s of an empty chat at each page, scrolling up through 2,000 turns)."""
    renders: dict[int, int] = {}
    load = HistoryPage.load

    async def counted(page: HistoryPage, **options) -> None:
        if not page.loaded and not page._loading:
            renders[page.turns[0].number] = renders.get(page.turns[0].number, 0) + 1
        await load(page, **options)

    monkeypatch.setattr(HistoryPage, "load", counted)
    total = HISTORY_PAGE * 5
    app = make_app(xsus_home, conversation=Conversation(messages=history(total)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: f"answer {total - 1}" in screen_text(app))
        for _ in range(total * 2):  # a page of turns is about 60 lines, 3 screens; PgUp moves one
            if "question 0" in screen_text(app):
                break
            await pilot.press("pageup")
            await wait_idle(pilot)
        assert "question 0" in screen_text(app)
        pages = list(range(1, total + 1, HISTORY_PAGE))
        assert renders == dict.fromkeys(pages, 1), renders


async def test_a_page_rendered_above_mid_scroll_keeps_where_the_scroll_was_going(xsus_home):
    """A PgUp that brings the gap into view renders a page above and puts the view back over what it was showing.
    It put it back where the scroll was at that moment, mid-way (a PgUp scrolls over a few frames), and the rest
    of the press was lost: at each page one PgUp moved nothing (seen in tmux)."""
    from xsus_tui.ui.widgets.history_gap import TurnGap

    total = HISTORY_PAGE * 4
    app = make_app(xsus_home, conversation=Conversation(messages=history(total)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        chat = screen.chat
        await wait_for(pilot, lambda: f"answer {total - 1}" in screen_text(app))
        await wait_idle(pilot)
        (gap,) = chat.query_children(TurnGap)
        start, height = chat.scroll_y, chat.virtual_size.height
        target = start - 10
        chat.release_anchor()
        chat.scroll_to(y=target, animate=True, duration=5.0)  # under way: the view is still near `start`
        await pilot.pause()
        assert chat.scroll_target_y == target and chat.scroll_y > target
        await screen._fill_gap(gap, from_end=True)
        await wait_for(pilot, lambda: not screen._loading_older)
        assert chat.scroll_y == target + chat.virtual_size.height - height  # where it was going, over the same text
