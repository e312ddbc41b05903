"""Typing while a reply streams: a key is drawn at once, and no full collection stops the screen meanwhile."""

from __future__ import annotations

import asyncio
import io
import time

from rich.console import Console

from xsus_tui.ui.widgets.reply_text import ReplyText

from .helpers import SIZE, make_app, send, started_then_waiting, wait_for, wait_idle

TICKS = 3 / 60
"""Three ticks of Textual's screen timer (60 a second)."""


async def _until(condition, within: float = 5.0) -> None:
    """Wait for a condition without Pilot.pause, which draws a frame itself."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the app"
        await asyncio.sleep(0.005)


def _hold_timer(screen) -> None:
    """The screen's update timer never ticks again: whatever is drawn from now on is drawn without it."""
    timer = screen._update_timer
    timer.pause()
    timer.resume = lambda: None


def _frames(app) -> list[str]:
    """The text of every frame the screen composes from now on (headless, nothing reaches a terminal)."""
    compositor = app.chat_screen._compositor
    compose, frames = compositor.render_update, []

    def recording(*args, **kwargs):
        update = compose(*args, **kwargs)
        console = Console(width=app.size.width, file=io.StringIO(), force_terminal=True)
        frames.append(update.render_segments(console) if update is not None else "")
        return update

    compositor.render_update = recording
    return frames


async def test_a_key_typed_while_a_reply_streams_is_drawn_without_the_screen_timer(xsus_home):
    agent, gate = started_then_waiting()
    app = make_app(xsus_home, agent)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "go")
        await wait_for(pilot, lambda: "started" in screen.replies[-1].text)
        await pilot.pause()
        _hold_timer(screen)
        frames = _frames(app)
        # A change outside the prompt waits for the timer (the control: without it, this test could not fail).
        screen.status.note = "Zqxv status note"
        await _until(lambda: screen.status in screen._dirty_widgets)
        await asyncio.sleep(TICKS)
        assert not any("Zqxv" in frame for frame in frames)
        # A reply update is applied, its layout pass not done yet, when the key arrives.
        text = screen.replies[-1].query_one(ReplyText)
        text._queued.append("\n\nΩmega words")
        text._update()
        await _until(lambda: screen._layout_required)
        await pilot.press("ж")
        await _until(lambda: any("ж" in frame for frame in frames))
        assert screen.prompt.text == "ж"
        echo = next(frame for frame in frames if "ж" in frame)
        assert "Ωmega" not in echo  # the echo alone: the pass it didn't need still waits for the timer
        assert screen._layout_required
        # With the timer back, the reply's update is on the next frame.
        del screen._update_timer.resume
        screen._update_timer.resume()
        await _until(lambda: any("Ωmega" in frame for frame in frames))
        assert not screen._layout_required
        gate.set()


async def test_a_key_typed_while_idle_is_drawn_without_the_screen_timer(xsus_home):
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await pilot.pause()
        _hold_timer(screen)
        frames = _frames(app)
        await pilot.press(*"héllo")
        await _until(lambda: any("llo" in frame for frame in frames))


async def test_no_full_collection_starts_while_a_reply_streams(xsus_home):
    """A full collection stops everything, key echoes included, for 40-120 ms: none starts on its own while a
    reply streams, and the collector is back as it was once the turn has ended."""
    import gc

    from xsus_tui.ui.screens import chat

    agent, gate = started_then_waiting()
    app = make_app(xsus_home, agent)
    before = gc.get_threshold()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "go")
        await wait_for(pilot, lambda: "started" in screen.replies[-1].text)
        assert gc.get_threshold() == (before[0], before[1], chat.HELD_THRESHOLD)
        gate.set()
        await wait_idle(pilot)  # (the turn's worker ends with _show_ending, which puts the threshold back)
        assert gc.get_threshold() == before
        # Quitting in the middle of a reply gives the collector back too.
        gate.clear()
        await send(pilot, "again")
        await wait_for(pilot, lambda: gc.get_threshold()[2] == chat.HELD_THRESHOLD)
    assert gc.get_threshold() == before


async def test_the_chat_hands_the_gil_to_the_input_thread_within_a_millisecond(xsus_home):
    import sys

    from xsus_tui.ui.screens import chat

    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert sys.getswitchinterval() == chat.SWITCH_INTERVAL < 0.005
