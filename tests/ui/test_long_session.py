"""A long live session stays flat: finished turns far from the view give back their widgets and tasks.

The figures (RSS and time per turn over 300 turns, 200 interrupts) are in benchmarks/long_session.py;
this checks the mechanism on a few dozen turns, without timing anything.
"""

from __future__ import annotations

import asyncio
import dataclasses
import weakref

from pydantic_ai.models.function import FunctionModel

from xsus_tui.core.agents import build_chat_agent
from xsus_tui.core.demo import DEMO_MODEL_NAME, DemoStream
from xsus_tui.ui.screens.chat import ChatLog
from xsus_tui.ui.widgets.history_page import HistoryPage
from xsus_tui.ui.widgets.prompt import PromptInput
from xsus_tui.ui.widgets.reply import AssistantReply

from .helpers import SIZE, make_app, wait_for, wait_idle

CYCLES = 6
"""Each cycle is a finished turn and an interrupted one; the first CYCLES are then scrolled far away by
as many more."""


async def test_turns_far_away_give_back_their_widgets_and_tasks_and_interrupts_leave_none(xsus_home, monkeypatch):
    monkeypatch.setattr(ChatLog, "KEEP_TURNS", 2, raising=False)  # page out sooner than in use
    stream = DemoStream(0)  # instant replies; interrupted turns stream slowly enough to press Esc
    model = FunctionModel(stream_function=stream, model_name=DEMO_MODEL_NAME)
    app = make_app(xsus_home, dataclasses.replace(build_chat_agent("demo"), model=model))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen

        def submit(text: str) -> None:
            # What Enter does; pressing it waits for the screen to settle, which a stream doesn't.
            screen.prompt.post_message(PromptInput.Submitted(screen.prompt, text))

        async def cycle() -> list[weakref.ref[AssistantReply]]:
            before = screen.turn_worker
            submit("help")
            await wait_for(pilot, lambda: screen.turn_worker is not before)
            await wait_idle(pilot)
            finished = screen.replies[-1]
            assert finished.state == "done"
            stream.delay = 0.005
            submit("long")
            await wait_for(pilot, lambda: screen.replies[-1] is not finished and screen.replies[-1].text)
            screen.action_interrupt()  # Esc
            await wait_idle(pilot)
            stream.delay = 0
            interrupted = screen.replies[-1]
            assert interrupted.state == "interrupted"
            return [weakref.ref(finished), weakref.ref(interrupted)]

        early: list[weakref.ref[AssistantReply]] = []
        for _ in range(CYCLES):
            early += await cycle()
        tasks = len(asyncio.all_tasks())
        mounted = len(list(screen.walk_children()))
        for _ in range(CYCLES):
            await cycle()
        assert screen.chat.following

        def early_replies_alive() -> int:
            return sum(ref() is not None for ref in early)

        # The early turns are pages now, folded into a stack: their widgets are gone from the screen
        # and, once collected, from memory.
        await wait_for(pilot, lambda: early_replies_alive() == 0)
        assert not any(isinstance(reply.parent, HistoryPage) for reply in screen.replies)
        assert screen.chat.query("PageStack")
        # Twice as many turns, the same number of widgets and tasks (give or take the page being
        # filled, and a stack); without paging it grew by a dozen a cycle.
        assert len(list(screen.walk_children())) <= mounted + 2
        assert len(asyncio.all_tasks()) <= tasks + 2

        # Scrolling back up renders the early turns again, from the events they kept, at the height the
        # pages and the stack kept for them; and so does every page on the way back down.
        chat = screen.chat
        height = chat.virtual_size.height
        y = 0
        while True:
            chat.scroll_to(y=y, animate=False, immediate=True)
            await pilot.pause()  # laid out at the new place, so that regions are current
            await wait_for(pilot, lambda: _rendered_on_screen(screen))
            assert chat.virtual_size.height == height
            if y == 0:
                assert "What the demo can show" in _text_of_pages(screen)
            if y >= chat.max_scroll_y:
                break
            y = min(chat.max_scroll_y, y + 2 * chat.size.height)  # each page comes within a screen of the view


def _text_of_pages(screen) -> str:
    return " ".join(reply.text for reply in screen.replies if isinstance(reply.parent, HistoryPage))


def _rendered_on_screen(screen) -> bool:
    """No stack and no page still to render in the view."""
    chat = screen.chat
    for child in chat.children:
        if child.region.overlaps(chat.content_region):
            if type(child).__name__ == "PageStack" or (
                isinstance(child, HistoryPage) and child.turns and not child.loaded
            ):
                return False
    return True


def test_a_paged_out_reply_keeps_its_text_once():
    """`compact` joins the deltas into one event and drops the ending's `partial_text`, a second copy of that
    text that rendering never reads (it was kept for every paged-out interrupted turn)."""
    from xsus_tui.core import events as ev
    from xsus_tui.ui.widgets.reply import compact

    stats = ev.TurnStats(output_tokens=3)
    events = [
        ev.ThinkingDelta("hm"),
        ev.TextDelta("a"),
        ev.TextDelta("b"),
        ev.TurnCancelled(stats=stats, partial_text="ab"),
    ]
    assert compact(events) == [ev.ThinkingDelta("hm"), ev.TextDelta("ab"), ev.TurnCancelled(stats=stats)]
    failed = compact([ev.TextDelta("a"), ev.TurnFailed(error="boom", partial_text="a")])
    assert failed == [ev.TextDelta("a"), ev.TurnFailed(error="boom")]
