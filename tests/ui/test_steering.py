"""Steering in the app: Enter while a reply runs queues the message into it, Alt+Enter after it; Up takes a queued
message back; Esc gives everything waiting back to the input. What the screen shows and what the store holds."""

from __future__ import annotations

import asyncio
import contextlib

from pydantic_ai.messages import ModelRequest, UserPromptPart
from pydantic_ai.models.function import DeltaToolCall

from xsus_tui.core.steering import is_steered
from xsus_tui.core.store import SQLiteConversationStore
from xsus_tui.ui.widgets.queue import QueuedMessages
from xsus_tui.ui.widgets.user_message import UserMessage

from ..core.helpers import chat_agent
from .helpers import SIZE, make_app, screen_text, send, wait_for, wait_idle


def prompts_in(message) -> list[str]:
    return [p.content for p in getattr(message, "parts", ()) if isinstance(p, UserPromptPart)]


def tool_then_answer(seen: list, release: asyncio.Event):
    """First request: a tool call whose tool waits for `release`; later ones answer the prompts their request holds."""

    async def stream(messages, info):
        seen.append(list(messages))
        if len(seen) == 1:
            yield "checking "
            yield {1: DeltaToolCall(name="clock", json_args="{}", tool_call_id="c1")}
            return
        yield f"answer to {prompts_in(messages[-1])}"

    agent = chat_agent(stream)

    @agent.agent.tool_plain
    async def clock() -> str:
        await release.wait()
        return "12:00"

    return agent


@contextlib.asynccontextmanager
async def tool_running(home, prompt: str):
    """The app with `prompt` sent and its turn running a tool, held there until `release` is set: (app, pilot, the
    requests the model saw, release)."""
    seen: list = []
    release = asyncio.Event()
    app = make_app(home, tool_then_answer(seen, release))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, prompt)
        await wait_for(pilot, lambda: "checking" in app.chat_screen.replies[-1].text)
        yield app, pilot, seen, release


async def stored(home):
    store = SQLiteConversationStore.open(home / "history.db")
    try:
        return (await store.load(store.latest_id())).messages
    finally:
        store.close()


async def test_enter_while_running_queues_shows_it_and_delivers_it_at_the_next_request(xsus_home):
    async with tool_running(xsus_home, "what time is it") as (app, pilot, seen, release):
        screen = app.chat_screen
        await send(pilot, "and in Tokyo?")
        queue = screen.query_one(QueuedMessages)
        assert screen.prompt.text == ""  # the prompt stays usable
        await wait_for(pilot, lambda: "⧗ queued and in Tokyo?" in screen_text(app))
        assert queue.display
        release.set()
        await wait_idle(pilot)
        # Delivered: the queue is empty, the message is in the chat as a prompt where the model saw it, answered.
        assert not queue.display and "⧗ queued" not in screen_text(app)
        users = list(screen.query(UserMessage))
        assert [u.prompt for u in users] == ["what time is it", "and in Tokyo?"]
        assert users[1].steered and [u.number for u in users] == [1, 2]
        assert "sent while the reply ran" in screen_text(app)
        assert "answer to ['and in Tokyo?']" in screen.replies[-1].text
        assert [r.state for r in screen.replies] == ["done", "done"]
    assert prompts_in(seen[1][-1]) == ["and in Tokyo?"]
    messages = await stored(xsus_home)
    steered = [m for m in messages if is_steered(m)]
    assert len(steered) == 1 and messages.index(steered[0]) == 3  # after the tool's result


async def test_alt_enter_queues_a_follow_up_that_runs_as_the_next_turn(xsus_home):
    async with tool_running(xsus_home, "first") as (app, pilot, seen, release):
        screen = app.chat_screen
        await pilot.press(*"after that")
        await pilot.press("alt+enter")
        await wait_for(pilot, lambda: "↪ next  after that" in screen_text(app))
        release.set()
        await wait_for(pilot, lambda: len(seen) == 3)
        await wait_idle(pilot)
        users = list(screen.query(UserMessage))
        assert [(u.prompt, u.steered) for u in users] == [("first", False), ("after that", False)]
        assert "after that" not in str(seen[1])  # not sent into the first turn
        assert isinstance(seen[2][-1], ModelRequest) and prompts_in(seen[2][-1]) == ["after that"]
        assert not screen.query_one(QueuedMessages).display


async def test_up_takes_the_last_queued_message_back_to_edit_and_enter_queues_it_again(xsus_home):
    async with tool_running(xsus_home, "first") as (app, pilot, seen, release):
        screen = app.chat_screen
        await send(pilot, "keep this")
        await send(pilot, "tpyo")
        await wait_for(pilot, lambda: "⧗ queued tpyo" in screen_text(app))
        await pilot.press("up")
        assert screen.prompt.text == "tpyo"
        await wait_for(pilot, lambda: "tpyo" not in str(screen.query_one(QueuedMessages).render()))
        await pilot.press("backspace", "backspace", "backspace", "backspace", *"typo fixed", "enter")
        # Removing: take it back, clear it.
        await send(pilot, "drop me")
        await pilot.press("up")
        assert screen.prompt.text == "drop me"
        screen.prompt.clear()
        await pilot.pause()
        release.set()
        await wait_idle(pilot)
    assert prompts_in(seen[1][-1]) == ["keep this", "typo fixed"]
    assert "drop me" not in str(seen)


async def test_esc_gives_queued_messages_back_to_the_input_in_order(xsus_home):
    async with tool_running(xsus_home, "first") as (app, pilot, seen, release):
        screen = app.chat_screen
        await send(pilot, "steer me")
        await pilot.press(*"then this", "alt+enter")
        await wait_for(pilot, lambda: "↪ next" in screen_text(app))
        await pilot.press(*"typed")
        await pilot.press("escape")
        await wait_idle(pilot)
        assert screen.status.state == "interrupted"
        assert screen.prompt.text == "steer me\nthen this\ntyped"
        assert not screen.query_one(QueuedMessages).display
        assert len(seen) == 1  # nothing more was sent
    assert not any(is_steered(m) for m in await stored(xsus_home))


async def test_typing_while_an_approval_waits_queues_and_never_decides(xsus_home, monkeypatch):
    monkeypatch.setenv("XSUS_DEMO_DELAY", "0")
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "save a note")
        await wait_for(pilot, lambda: screen.status.state == "waiting for approval")
        await send(pilot, "y")
        await wait_for(pilot, lambda: "⧗ queued y" in screen_text(app))
        assert screen.status.state == "waiting for approval" and screen.prompt.has_focus
        await pilot.press("escape")
        await wait_idle(pilot)
        assert screen.prompt.text == "y"


async def test_the_demo_takes_up_the_time_in_tokyo_typed_while_tools_runs(xsus_home, monkeypatch):
    monkeypatch.setenv("XSUS_DEMO_DELAY", "0.003")
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "tools")
        await wait_for(pilot, lambda: bool(screen.replies) and screen.replies[-1].text)
        await send(pilot, "also show the time in Tokyo")
        await wait_idle(pilot, within=20)
        users = [u for u in screen.query(UserMessage)]
        assert [u.prompt for u in users] == ["tools", "also show the time in Tokyo"]
        answer = screen.replies[-1].text  # taken up on the way, or (typed late) with one more request at the end
        assert "In Tokyo it is" in answer and "JST" in answer
        assert "Fixed: **1 / (7 − 6)" in "".join(reply.text for reply in screen.replies)


async def test_quitting_with_messages_queued_keeps_them_with_the_unsent_text(xsus_home):
    async with tool_running(xsus_home, "first") as (app, pilot, seen, release):
        await send(pilot, "queued one")
        await pilot.press(*"half typed")
        await app.action_quit()
    assert app.unsent == "queued one\nhalf typed"


async def test_a_failed_turn_gives_the_queued_messages_back(xsus_home):
    from pydantic_ai.exceptions import ModelAPIError

    seen: list = []
    release = asyncio.Event()

    async def stream(messages, info):
        seen.append(messages)
        if len(seen) == 1:
            yield {0: DeltaToolCall(name="clock", json_args="{}", tool_call_id="c1")}
            return
        raise ModelAPIError("m", "the connection dropped")

    agent = chat_agent(stream)

    @agent.agent.tool_plain
    async def clock() -> str:
        await release.wait()
        return "12:00"

    app = make_app(xsus_home, agent, retries=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "first")
        await wait_for(pilot, lambda: bool(screen.query("ToolPanel")))
        await send(pilot, "steer \u202eodd\u200b")
        await pilot.press(*"then", "alt+enter")
        await wait_for(pilot, lambda: "↪ next" in screen_text(app))
        assert "\u202e" not in screen_text(app)  # shown inert
        release.set()
        await wait_idle(pilot)
        assert screen.status.state == "error"
        assert screen.prompt.text == "steer \u202eodd\u200b\nthen"
        assert len(seen) == 2 and "steer" in str(seen[1][-1])


async def test_f2_on_a_steered_turn_inspects_the_turn_it_was_sent_into(xsus_home):
    from xsus_tui.ui.screens.inspector import InspectorScreen

    async with tool_running(xsus_home, "first") as (app, pilot, seen, release):
        await send(pilot, "and in Tokyo?")
        release.set()
        await wait_idle(pilot)
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectorScreen))
        assert app.screen.recording.prompt == "first"
        assert any(type(t.event).__name__ == "Steered" for t in app.screen.recording.events)


async def test_enter_right_after_esc_sends_the_message_as_the_next_turn(xsus_home):
    """Esc, then Enter before the reply has stopped: the message is the next turn, not given back to the input
    (it was, silently: the text stayed in the prompt and nothing was sent). What waited from before Esc still goes
    back, with it after."""
    from xsus_tui.ui.widgets.prompt import PromptInput

    async with tool_running(xsus_home, "first") as (app, pilot, seen, release):
        screen = app.chat_screen
        screen.action_interrupt()  # Esc, and Enter in the same moment: the turn is still stopping
        assert screen.turn_running and screen.status.state == "interrupting"
        screen.send(PromptInput.Submitted(screen.prompt, "the next question"))
        await wait_for(pilot, lambda: len(seen) == 2)
        await wait_idle(pilot)
        assert prompts_in(seen[1][-1]) == ["the next question"] and screen.prompt.text == ""
        assert [reply.state for reply in screen.replies[-2:]] == ["interrupted", "done"]

        release.clear()
        seen.clear()
        await send(pilot, "second")
        await wait_for(pilot, lambda: "checking" in screen.replies[-1].text)
        await send(pilot, "steer me")  # waiting from before Esc
        screen.action_interrupt()
        screen.send(PromptInput.Submitted(screen.prompt, "after esc"))
        await wait_idle(pilot)
        assert screen.prompt.text == "steer me\nafter esc" and len(seen) == 1  # both back, in order; none sent
