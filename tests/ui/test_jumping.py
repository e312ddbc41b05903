"""Jumping through a long stored conversation: Ctrl+Home to turn 1, a search hit or /tree pick to any turn,
rendering only the page of that turn; the turns between fill in, in order, as the user scrolls to them."""

from __future__ import annotations

from pydantic_ai.conversation import Conversation

from xsus_tui.ui.screens.chat import HISTORY_PAGE
from xsus_tui.ui.widgets.history_gap import TurnGap
from xsus_tui.ui.widgets.history_page import HistoryPage
from xsus_tui.ui.widgets.user_message import UserMessage

from .helpers import SIZE, make_app, screen_text, send, wait_for, wait_idle
from .test_chat import history, stored_messages
from .test_selection import echo_agent, in_view, selected_prompt

TOTAL = 300


def rendered_prompts(screen) -> list[str]:
    """The prompts the chat holds as pages, top to bottom (rendered or not)."""
    return [prompt for page in screen.chat.query_children(HistoryPage) for prompt in page.prompts]


def gap_lines(screen) -> list[str]:
    return [str(gap.render()) for gap in screen.chat.query_children(TurnGap)]


def settled(screen) -> bool:
    return not screen._loading_older


async def test_ctrl_home_jumps_to_turn_1_and_scrolling_down_fills_the_turns_between_in_order(xsus_home):
    app = make_app(xsus_home, conversation=Conversation(messages=history(TOTAL)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        chat = screen.chat
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y and chat.max_scroll_y > 0)
        assert gap_lines(screen) == [
            f"↑ {TOTAL - 10} earlier turns (1–{TOTAL - 10}): scroll up to see them, Ctrl+Home the first"
        ]
        await pilot.press("ctrl+home")
        await wait_for(pilot, lambda: "question 0" in screen_text(app) and settled(screen))
        assert chat.scroll_y == 0 and not chat.following
        # One page rendered for the jump, not the 29 between: the gap now sits between the first page and the last.
        assert len(chat.query_children(HistoryPage)) == 2 and len(screen.replies) <= 2 * HISTORY_PAGE
        assert gap_lines(screen) == [f"⋯ {TOTAL - 20} turns (11–{TOTAL - 10}) not shown yet: scroll to see them"]
        assert rendered_prompts(screen)[:10] == [f"question {i}" for i in range(10)]
        # Scrolling down reaches the gap: it fills from its start, above itself, and the view does not move.
        page = chat.scrollable_content_region.height
        for presses in range(1, 30):
            await pilot.press("pagedown")
            await wait_for(pilot, lambda presses=presses: chat.scroll_y == presses * page and settled(screen))
            await pilot.pause()
            assert settled(screen) and chat.scroll_y == presses * page
            if len(chat.query_children(HistoryPage)) >= 4:
                break
        prompts = rendered_prompts(screen)
        assert prompts[: len(prompts) - 10] == [f"question {i}" for i in range(len(prompts) - 10)]
        assert f"question {len(prompts) - 11}" in prompts and gap_lines(screen)  # some turns still wait
        # Ctrl+Home again: turn 1 is rendered already, so it only scrolls.
        await pilot.press("ctrl+home")
        await wait_for(pilot, lambda: chat.scroll_y == 0 and "question 0" in screen_text(app))
        assert rendered_prompts(screen) == prompts


async def test_a_jump_to_a_middle_turn_renders_its_page_and_the_selection_walks_across_the_gaps(xsus_home):
    app = make_app(xsus_home, echo_agent(), conversation=Conversation(messages=history(TOTAL)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        chat = screen.chat
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y and chat.max_scroll_y > 0)
        await screen.show_turn(156)  # as a /tree pick or a search hit: turn 156 is "question 155"
        await pilot.pause()
        assert selected_prompt(screen) == "question 155" and in_view(screen, screen.selected_turn().user)
        await wait_for(pilot, lambda: settled(screen))
        assert len(chat.query_children(HistoryPage)) <= 5  # its page and the neighbours in view, not 15 pages
        # Its page is the gap's aligned page (turns 151-160); the gaps on either side say what they hold.
        lines = gap_lines(screen)
        assert lines[0].startswith("↑ ") and "earlier turns (1–" in lines[0]
        assert lines[-1].startswith("⋯ ") and f"–{TOTAL - 10})" in lines[-1]
        # Up walks back across page and gap boundaries, in order.
        for expected in range(154, 125, -1):
            await pilot.press("up")
            assert selected_prompt(screen) == f"question {expected}"
        await pilot.pause()
        assert in_view(screen, screen.selected_turn().user)
        # And down, past the page it started on, into the gap below.
        for expected in range(127, 175):
            await pilot.press("down")
            assert selected_prompt(screen) == f"question {expected}"
        prompts = rendered_prompts(screen)
        numbers = [int(prompt.split()[1]) for prompt in prompts]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)  # in order, none twice
        assert set(range(126, 175)) <= set(numbers)


async def test_a_search_hit_on_turn_1_renders_one_page_and_marks_it(xsus_home):
    app = make_app(xsus_home, conversation=Conversation(messages=history(TOTAL)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        chat = screen.chat
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y and chat.max_scroll_y > 0)
        await screen.show_turn(1, select=False)
        await wait_for(pilot, lambda: chat.scroll_y == 0 and settled(screen))
        first = next(user for user in chat.query(UserMessage) if user.number == 1)
        assert first.has_class("-found") and in_view(screen, first) and "question 0" in screen_text(app)
        assert len(chat.query_children(HistoryPage)) == 2 and screen.focused is screen.prompt
        # Turn 1 is rendered now: asking for it again renders nothing more.
        await screen.show_turn(1, select=False)
        await pilot.pause()
        assert len(chat.query_children(HistoryPage)) == 2


async def test_a_jump_to_a_turn_in_a_folded_page_renders_that_page(xsus_home):
    app = make_app(xsus_home, conversation=Conversation(messages=history(TOTAL)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        chat = screen.chat
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y and chat.max_scroll_y > 0)
        await pilot.press("ctrl+home")
        await wait_for(pilot, lambda: "question 0" in screen_text(app) and settled(screen))
        last_page = chat.query_children(HistoryPage).last()
        await wait_for(pilot, lambda: not last_page.loaded)  # far from the view: folded, its widgets gone
        await screen.show_turn(TOTAL - 1)
        await pilot.pause()
        assert selected_prompt(screen) == f"question {TOTAL - 2}" and last_page.loaded
        assert in_view(screen, screen.selected_turn().user)


async def test_ctrl_home_while_a_page_of_older_turns_renders_still_lands_on_turn_1(xsus_home):
    app = make_app(xsus_home, conversation=Conversation(messages=history(TOTAL)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        chat = screen.chat
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y and chat.max_scroll_y > 0)
        chat.release_anchor()
        chat.scroll_to(y=0, animate=False, immediate=True)  # the top of what is rendered: older turns render
        assert screen._loading_older
        await pilot.press("ctrl+home")  # before that page has kept the view's place
        await wait_for(pilot, lambda: settled(screen) and "question 0" in screen_text(app))
        await pilot.pause()
        assert chat.scroll_y == 0 and "question 0" in screen_text(app)
        prompts = rendered_prompts(screen)
        numbers = [int(prompt.split()[1]) for prompt in prompts]
        assert numbers[:10] == list(range(10)) and numbers[-10:] == list(range(TOTAL - 10, TOTAL))
        assert numbers == sorted(set(numbers))


async def test_a_new_turn_after_a_jump_goes_at_the_end_and_ctrl_end_follows_it(xsus_home):
    app = make_app(xsus_home, echo_agent(), conversation=Conversation(messages=history(TOTAL)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        chat = screen.chat
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y and chat.max_scroll_y > 0)
        await pilot.press("ctrl+home")
        await wait_for(pilot, lambda: settled(screen) and "question 0" in screen_text(app))
        await send(pilot, "after the jump")
        await wait_idle(pilot)
        await wait_for(pilot, lambda: "You said after the jump." in screen_text(app))  # sending follows the end
        users = list(chat.query(UserMessage))
        assert users[-1].prompt == "after the jump" and users[-1].number == TOTAL + 1
        messages = await stored_messages(xsus_home)
        assert len(messages) == 2 * TOTAL + 2
        await pilot.press("ctrl+home")
        await wait_for(pilot, lambda: chat.scroll_y == 0 and "question 0" in screen_text(app))
        assert len(chat.query_children(TurnGap)) == 1  # still the one gap: nothing between was rendered


async def test_jumping_between_the_ends_lands_on_rendered_turns(xsus_home):
    """Ctrl+End then Ctrl+Home again: the page at the top had been folded (its widgets let go) while away, and the
    view landed on it folded: an empty chat for 0.1-0.5 s until a refold rendered it. Now the page is rendered
    before the view moves there: whenever the view moves, nothing it shows is folded."""
    from textual.geometry import Region

    from xsus_tui.ui.folding import is_folded

    app = make_app(xsus_home, conversation=Conversation(messages=history(TOTAL)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        chat = screen.chat
        await wait_for(pilot, lambda: f"answer {TOTAL - 1}" in screen_text(app))
        await pilot.press("ctrl+home")
        await wait_for(pilot, lambda: "question 0" in screen_text(app) and settled(screen))
        await wait_idle(pilot)
        landed_on_folded: list[tuple[int, str]] = []

        def landed(y: float) -> None:
            view = Region(0, round(y), chat.virtual_size.width or 1, chat.scrollable_content_region.height)
            for child in chat.children:
                if is_folded(child) and child.virtual_region.overlaps(view):
                    landed_on_folded.append((round(y), type(child).__name__))

        chat.watch(chat, "scroll_y", landed, init=False)
        for key, shown in [("ctrl+end", f"answer {TOTAL - 1}"), ("ctrl+home", "question 0")] * 2:
            await pilot.press(key)
            await wait_for(pilot, lambda shown=shown: shown in screen_text(app))
            await wait_idle(pilot)
            assert chat.scroll_y == (0 if key == "ctrl+home" else chat.max_scroll_y)
        assert landed_on_folded == []
