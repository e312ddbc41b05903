"""Selecting a turn (Ctrl+Up), copying its reply (c, /copy, the code-block picker) and recalling prompts (Up)."""

from __future__ import annotations

from pydantic_ai.conversation import Conversation
from pydantic_ai.messages import ModelRequest, UserPromptPart

from xsus_tui.core.export import to_markdown
from xsus_tui.ui.copying import CopyPicker
from xsus_tui.ui.screens import chat as chat_module
from xsus_tui.ui.screens.chat import ChatLog
from xsus_tui.ui.widgets import history_page
from xsus_tui.ui.widgets.history_page import HistoryPage, PageStack
from xsus_tui.ui.widgets.user_message import UserMessage

from ..core.helpers import chat_agent
from .helpers import SIZE, make_app, screen_text, send, wait_for, wait_idle
from .test_chat import history, stored_messages

stack_split = PageStack.split_at

TWO_BLOCKS = (
    "Two ways to say it:\n\n"
    "```python\nprint('one')\n\nprint('two')  # [not markup]\n```\n\n"
    "and in a list:\n\n"
    "- the shell\n\n  ```bash\n  echo 'a ``` inside'\n  ```\n"
)


def echo_agent(replies: dict[str, str] | None = None, lines: int = 0):
    """Answers `You said **PROMPT**.` (or the reply given for that prompt), with `lines` filler paragraphs."""

    async def stream(messages, info):
        prompt = next(
            part.content
            for message in reversed(messages)
            if isinstance(message, ModelRequest)
            for part in message.parts
            if isinstance(part, UserPromptPart)
        )
        yield (replies or {}).get(prompt, f"You said **{prompt}**.")
        for index in range(lines):
            yield f"\n\nfiller {index}"

    return chat_agent(stream)


async def type_text(pilot, text: str) -> None:
    for line_number, line in enumerate(text.split("\n")):
        if line_number:
            await pilot.press("ctrl+j")
        if line:
            await pilot.press(*line)


def selected_prompt(screen) -> str | None:
    turn = screen.selected_turn()
    if turn is None:
        return None
    highlighted = [widget for widget in screen.query(".-selected")]
    assert highlighted == [turn.user, turn.reply], "exactly the selected turn is highlighted"
    return turn.user.prompt


def in_view(screen, widget) -> bool:
    return widget.region.overlaps(screen.chat.content_region)


async def test_ctrl_up_selects_the_last_turn_and_up_down_move_it_back_to_the_prompt(xsus_home):
    app = make_app(xsus_home, echo_agent())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.chat_screen
        for prompt in ("one", "two", "three"):
            await send(pilot, prompt)
            await wait_idle(pilot)
        await type_text(pilot, "a draft")
        await pilot.press("ctrl+up")
        assert selected_prompt(screen) == "three" and app.focused is screen.chat
        assert "↑↓ move · c copy · e edit · f fork · ←→ versions · Esc back" == screen.prompt.border_subtitle
        assert screen.selected_turn().reply.text == "You said **three**."
        await pilot.press("up")
        assert selected_prompt(screen) == "two"
        await pilot.press("up", "up")  # past the first turn: stays there
        assert selected_prompt(screen) == "one"
        await pilot.pause()
        assert in_view(screen, screen.selected_turn().user)
        await pilot.press("down")
        assert selected_prompt(screen) == "two"
        await pilot.press("down", "down")  # past the last turn: back to the prompt
        assert selected_prompt(screen) is None and not screen.query(".-selected")
        assert app.focused is screen.prompt and screen.prompt.text == "a draft"
        assert screen.prompt.border_subtitle == screen.IDLE_HINT
        await pilot.click(screen.query(UserMessage)[1])  # a click on a prompt selects its turn
        assert selected_prompt(screen) == "two" and app.focused is screen.chat
        await pilot.click(screen.prompt)  # and one on the prompt goes back to it
        assert selected_prompt(screen) is None and app.focused is screen.prompt and screen.prompt.text == "a draft"


async def test_esc_and_typing_go_back_to_the_prompt_with_its_text(xsus_home):
    app = make_app(xsus_home, echo_agent())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.chat_screen
        await send(pilot, "hello")
        await wait_idle(pilot)
        await type_text(pilot, "line one\nline two")
        cursor = screen.prompt.cursor_location
        await pilot.press("ctrl+up")
        assert selected_prompt(screen) == "hello"
        await pilot.press("escape")
        assert selected_prompt(screen) is None and app.focused is screen.prompt
        assert screen.prompt.text == "line one\nline two" and screen.prompt.cursor_location == cursor
        assert screen.status.state == "idle"  # nothing was interrupted
        await pilot.press("ctrl+up", "!")  # a printable key goes back to the prompt, and is typed there
        assert selected_prompt(screen) is None and app.focused is screen.prompt
        assert screen.prompt.text == "line one\nline two!"
        await pilot.press("ctrl+up", "tab")  # the focus going elsewhere ends the selection too
        assert selected_prompt(screen) is None


async def test_c_copies_the_reply_as_its_markdown(xsus_home):
    app = make_app(xsus_home)  # the demo: "tools" answers with text, tool calls, then text again
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.chat_screen
        await send(pilot, "tools")
        await wait_idle(pilot)
        await send(pilot, "hello")
        await wait_idle(pilot)
        await pilot.press("ctrl+up", "up", "c")
        copied = app.clipboard
        assert copied and "\n\n" in copied and selected_prompt(screen) == "tools"  # still selected
        exported = to_markdown(await stored_messages(xsus_home), title="t", conversation_id="c")
        reply = screen.selected_turn().reply
        assert all(chunk in exported for chunk in copied.split("\n\n"))  # each text part, as exported
        assert copied.replace("\n\n", "") == reply.text.replace("\n\n", "")
        notice = f"Copied the reply ({len(copied):,} characters)."
        await wait_for(pilot, lambda: notice in screen_text(app))
        await pilot.press("escape")
        await send(pilot, "/copy")  # the last reply
        assert app.clipboard == screen.replies[-1].text and "Hello from the demo model" in app.clipboard
        assert screen.prompt.text == ""


async def test_a_reply_with_two_code_blocks_asks_what_to_copy(xsus_home):
    app = make_app(xsus_home, echo_agent({"code": TWO_BLOCKS}))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.chat_screen
        await send(pilot, "code")
        await wait_idle(pilot)
        await type_text(pilot, "draft")
        await pilot.press("ctrl+up", "c")
        await wait_for(pilot, lambda: isinstance(app.screen, CopyPicker))
        assert "Whole reply (" in screen_text(app) and "python  print('one')" in screen_text(app)
        assert "bash  echo 'a ``` inside'" in screen_text(app)
        await pilot.press("down", "down", "enter")  # the second block
        await wait_for(pilot, lambda: app.screen is screen)
        assert app.clipboard == "echo 'a ``` inside'"
        await wait_for(pilot, lambda: "Copied bash code block 2 (1 line)." in screen_text(app))
        assert selected_prompt(screen) == "code" and app.focused is screen.chat
        await pilot.press("c", "down", "enter")
        await wait_for(pilot, lambda: app.screen is screen)
        assert app.clipboard == "print('one')\n\nprint('two')  # [not markup]"
        await pilot.press("c", "enter")
        await wait_for(pilot, lambda: app.screen is screen)
        assert app.clipboard == TWO_BLOCKS
        await pilot.press("c", "down", "escape")  # cancelled: nothing copied, still selected
        await wait_for(pilot, lambda: app.screen is screen)
        assert app.clipboard == TWO_BLOCKS and selected_prompt(screen) == "code"
        await pilot.press("escape")
        assert screen.prompt.text == "draft" and app.focused is screen.prompt


async def test_up_recalls_the_prompts_of_the_conversation_stored_ones_too(xsus_home):
    app = make_app(xsus_home, echo_agent(), conversation=Conversation(messages=history(2)))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.chat_screen
        prompt = screen.prompt
        await send(pilot, "live one")
        await wait_idle(pilot)
        await send(pilot, "//retry")  # sent as "/retry": recalled as typed
        await wait_idle(pilot)
        recalled = []
        for _ in range(5):
            await pilot.press("up")
            recalled.append(prompt.text)
        assert recalled == ["//retry", "live one", "question 1", "question 0", "question 0"]
        await pilot.press("down")
        assert prompt.text == "question 1"
        await pilot.press("down", "down")
        assert prompt.text == "//retry"
        await pilot.press("down")
        assert prompt.text == ""
        await pilot.press("up", "up")
        assert prompt.text == "live one"
        await pilot.press("!")  # edited: Up and Down move the cursor again
        await pilot.press("up")
        assert prompt.text == "live one!"


async def test_up_in_a_multi_line_prompt_moves_the_cursor(xsus_home):
    app = make_app(xsus_home, echo_agent())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.chat_screen
        await send(pilot, "sent before")
        await wait_idle(pilot)
        await type_text(pilot, "line one\nline two")
        assert screen.prompt.cursor_location == (1, 8)
        await pilot.press("up")
        assert screen.prompt.cursor_location == (0, 8) and screen.prompt.text == "line one\nline two"
        await pilot.press("down")
        assert screen.prompt.cursor_location == (1, 8)


async def test_the_selection_walks_into_stored_pages_not_shown_yet(xsus_home):
    total = chat_module.HISTORY_PAGE * 2 + 5
    app = make_app(xsus_home, echo_agent(), conversation=Conversation(messages=history(total)))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.chat_screen
        chat = screen.chat
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y and chat.max_scroll_y > 0)
        await pilot.press("ctrl+up")
        assert selected_prompt(screen) == f"question {total - 1}"
        for expected in range(total - 2, -1, -1):
            await pilot.press("up")
            assert selected_prompt(screen) == f"question {expected}"
        await pilot.pause()
        assert in_view(screen, screen.selected_turn().user) and "question 0" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y)  # following the end again


async def test_the_selection_renders_turns_paged_out_and_stacked(xsus_home, monkeypatch):
    monkeypatch.setattr(ChatLog, "KEEP_TURNS", 1)
    monkeypatch.setattr(chat_module, "PAGE_TURNS", 2)
    monkeypatch.setattr(history_page, "PAGE_TURNS", 2)
    split = []
    monkeypatch.setattr(PageStack, "split_at", lambda stack, index: split.append(index) or stack_split(stack, index))
    turns = 12
    app = make_app(xsus_home, echo_agent(lines=40))  # turns taller than two screens: far from each other
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.chat_screen
        chat = screen.chat
        for index in range(turns):
            await send(pilot, f"turn {index}")
            await wait_idle(pilot)
        await wait_for(pilot, lambda: chat.query(PageStack))
        assert len(chat.query(UserMessage)) < turns  # most are pages and stacks now
        await pilot.press("ctrl+up")
        for expected in range(turns - 1, -1, -1):
            assert selected_prompt(screen) == f"turn {expected}"
            await pilot.pause()
            assert in_view(screen, screen.selected_turn().user)
            await pilot.press("up")
        for expected in range(1, turns):  # and back down, through what folded again meanwhile
            await pilot.press("down")
            assert selected_prompt(screen) == f"turn {expected}"
            assert screen.selected_turn().reply.text.startswith(f"You said **turn {expected}**.")
        await pilot.press("down")
        assert selected_prompt(screen) is None and app.focused is screen.prompt
        assert split and any(isinstance(page, HistoryPage) for page in chat.children)


async def test_while_a_reply_streams_esc_leaves_the_selection_and_ctrl_c_interrupts(xsus_home):
    import asyncio

    calls = []

    async def stream(messages, info):
        calls.append(1)
        yield "first reply" if len(calls) == 1 else "streaming…"
        if len(calls) > 1:
            await asyncio.sleep(30)

    app = make_app(xsus_home, chat_agent(stream))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "one")
        await wait_idle(pilot)
        await send(pilot, "two")
        await wait_for(pilot, lambda: screen.turn_running and screen.replies[-1].text)
        await pilot.press("ctrl+up", "up")
        assert selected_prompt(screen) == "one"
        assert screen.prompt.border_subtitle == "↑↓ move · c copy · e edit · f fork · ←→ versions · Esc back"
        await pilot.press("escape")  # back to the prompt only: the reply goes on
        assert selected_prompt(screen) is None and screen.turn_running and screen.status.state == "streaming"
        assert screen.prompt.border_subtitle == screen.BUSY_HINT
        await pilot.press("ctrl+up")
        assert selected_prompt(screen) == "two"
        await pilot.press("ctrl+c")  # interrupts at once, selected or not
        await wait_idle(pilot)
        assert screen.replies[-1].state == "interrupted" and selected_prompt(screen) == "two"
        assert screen.prompt.border_subtitle == "↑↓ move · c copy · e edit · f fork · ←→ versions · Esc back"
