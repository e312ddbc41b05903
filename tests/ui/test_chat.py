"""Pilot runs of the real app on the demo model: what the screen shows and what the store holds."""

from __future__ import annotations

import asyncio
import gc

from pydantic_ai.messages import ModelResponse, TextPart

from xsus_tui.core.store import SQLiteConversationStore
from xsus_tui.ui.widgets.output_panel import OutputPanel
from xsus_tui.ui.widgets.reply import AssistantReply
from xsus_tui.ui.widgets.reply_text import ReplyText
from xsus_tui.ui.widgets.thinking import ThinkingBlock
from xsus_tui.ui.widgets.tool_panel import ToolPanel

from ..core.helpers import chat_agent, text_stream
from .helpers import SIZE, make_app, screen_text, send, wait_for, wait_idle


async def stored_messages(home):
    store = SQLiteConversationStore.open(home / "history.db")
    try:
        conversation = await store.load(store.latest_id())
        return conversation.messages
    finally:
        store.close()


async def test_hello_streams_markdown_and_is_saved(xsus_home, monkeypatch):
    monkeypatch.setenv("XSUS_DEMO_DELAY", "0.002")  # long enough a stream for a tokens/s figure
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        assert "demo model" in screen_text(app)
        await send(pilot, "hello")
        await wait_idle(pilot)
        screen = app.chat_screen
        reply = screen.replies[-1]
        assert reply.state == "done" and "Hello from the demo model" in reply.text
        assert reply.query(ReplyText) and reply.query(ThinkingBlock).first().collapsed
        shown = screen_text(app)
        assert "Type help for the full list of demonstrations." in shown
        assert screen.status.state == "idle" and "tok/s" in shown and "ttft" in shown
        assert "cost ?" in shown.splitlines()[-1]  # the demo model has no price (nor a known context window)
        assert screen.prompt.text == ""
    messages = await stored_messages(xsus_home)
    assert messages[0].parts[0].content == "hello"
    assert "Hello from the demo model" in "".join(p.content for p in messages[-1].parts if isinstance(p, TextPart))


async def test_ctrl_j_inserts_a_newline_and_enter_sends_both_lines(xsus_home):
    seen: list = []
    app = make_app(xsus_home, chat_agent(text_stream(["ok"], seen=seen)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"line one", "ctrl+j", *"line two")
        assert app.chat_screen.prompt.text == "line one\nline two"
        await pilot.press("enter")
        await wait_idle(pilot)
        assert seen[0][-1].parts[0].content == "line one\nline two"
        assert "line two" in screen_text(app)


async def test_tool_calls_show_as_panels_in_order_with_results_and_errors(xsus_home):
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "tools")
        await wait_idle(pilot)
        reply = app.chat_screen.replies[-1]
        panels = list(reply.query(ToolPanel))
        assert [p.tool_name for p in panels] == [
            "calculator",
            "current_time",
            "calculator",
            "calculator",
            "system_info",
        ]
        assert [p.state for p in panels] == ["done", "done", "failed", "done", "done"]
        assert "division by zero" in str(panels[2].query(".tool-error").first().render())
        assert "455" in str(panels[0].children[-1].render())
        assert "ms" in panels[0].border_subtitle
        # Text continues around the panels: some before the first panel, the summary after the last.
        children = list(reply.children)
        assert isinstance(children[children.index(panels[0]) - 1], ReplyText)
        assert isinstance(children[-1], ReplyText) and children.index(panels[-1]) < len(children) - 1


async def test_structured_output_panel_fills_in_then_validates(xsus_home, monkeypatch):
    monkeypatch.setenv("XSUS_DEMO_DELAY", "0.005")
    app = make_app(xsus_home)
    states: list[str] = []
    render_partial = OutputPanel._render_partial

    def recording(panel):
        render_partial(panel)
        states.append(panel.border_subtitle)

    monkeypatch.setattr(OutputPanel, "_render_partial", recording)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "structured")
        await wait_idle(pilot)
        panel = app.chat_screen.query_one(OutputPanel)
        assert panel.state == "valid" and panel.border_subtitle == "✓ valid"
        assert panel.value["destination"] == "Lisbon, Portugal" and len(panel.value["highlights"]) == 4
        assert "TripPlan" in panel.border_title
        assert "budget_eur: 1150.0" in screen_text(app)
        stored = await app.chat_screen.session.store.load(app.chat_screen.session.conversation.conversation_id)
    resumed = make_app(xsus_home, conversation=stored)
    async with resumed.run_test(size=SIZE) as pilot:  # resumed, the panel names the output's type as it did live
        await wait_for(pilot, lambda: bool(resumed.chat_screen.query(OutputPanel)))
        panel = resumed.chat_screen.query_one(OutputPanel)
        assert panel.border_title == "◆ structured output · TripPlan" and panel.state == "valid"
    missing = [state for state in states if "missing:" in state]
    assert states[0] == missing[0] and "highlights" in missing[0]
    assert len(set(missing)) >= 2  # the panel changed as fields arrived
    assert states.index("streaming · all fields present") > states.index(missing[-1])


async def test_esc_interrupts_at_once_keeps_the_partial_reply_and_the_next_prompt_works(xsus_home, monkeypatch):
    monkeypatch.setenv("XSUS_DEMO_DELAY", "0.01")
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "long")
        await wait_for(pilot, lambda: len(screen.replies[-1].text) > 200)
        await pilot.press("escape")
        await wait_idle(pilot)
        reply = screen.replies[-1]
        assert reply.state == "interrupted" and screen.status.state == "interrupted"
        assert screen.last_interrupt_latency is not None and screen.last_interrupt_latency < 0.25
        partial = reply.text
        assert 200 < len(partial) < 9000
        assert "■ interrupted" in screen_text(app)
        monkeypatch.setenv("XSUS_DEMO_DELAY", "0")
        await send(pilot, "hello")
        await wait_idle(pilot)
        assert screen.replies[-1].state == "done"
    messages = await stored_messages(xsus_home)
    responses = [m for m in messages if isinstance(m, ModelResponse)]
    assert responses[0].state == "interrupted"
    assert "".join(p.content for p in responses[0].parts if isinstance(p, TextPart)) == partial


async def test_ctrl_q_mid_stream_quits_and_saves_the_partial_reply(xsus_home, monkeypatch):
    monkeypatch.setenv("XSUS_DEMO_DELAY", "0.01")
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "long")
        await wait_for(pilot, lambda: len(app.chat_screen.replies[-1].text) > 100)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0
    messages = await stored_messages(xsus_home)
    assert messages[-1].state == "interrupted" and len(messages[-1].parts[-1].content) > 100
    leftover = [t for t in asyncio.all_tasks() if "turn" in repr(t) or "run_agent" in repr(t)]
    assert leftover == []


def gated_stream(batches: list[list[str]], gates: list[asyncio.Event]):
    """Streams each batch of chunks, waiting for the matching gate before every batch after the first."""

    async def stream(messages, info):
        for index, batch in enumerate(batches):
            if index:
                await gates[index - 1].wait()
            for chunk in batch:
                yield chunk

    return stream


async def test_follows_the_stream_until_the_user_scrolls_up(xsus_home):
    gates = [asyncio.Event(), asyncio.Event()]
    lines = [f"line {i}\n\n" for i in range(60)]
    app = make_app(xsus_home, chat_agent(gated_stream([lines, lines, lines], gates)))
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat_screen.chat
        await send(pilot, "many lines")
        await wait_for(pilot, lambda: chat.max_scroll_y > 60)
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y)  # following the stream
        assert app.focused is app.chat_screen.prompt
        await pilot.press("pageup")  # scrolls the chat from the prompt, which keeps the focus
        await wait_for(pilot, lambda: chat.scroll_y == chat.scroll_target_y < chat.max_scroll_y)
        held = chat.scroll_y
        assert held < chat.max_scroll_y
        gates[0].set()  # more text streams in while the user reads above
        await wait_for(pilot, lambda: chat.max_scroll_y > held + 100)
        await pilot.pause()  # a frame after the growth: the position must not have moved
        assert chat.scroll_y == held  # the user's position is kept
        await pilot.press("ctrl+end")  # back at the bottom: following resumes
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y)
        gates[1].set()
        await wait_idle(pilot)
        grown = chat.max_scroll_y
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y >= grown)


async def test_failure_before_any_reply_gives_the_prompt_back(xsus_home):
    async def broken(messages, info):
        raise ConnectionError("refused")
        yield ""

    app = make_app(xsus_home, chat_agent(broken), retries=0)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "please keep this")
        await wait_idle(pilot)
        screen = app.chat_screen
        assert screen.status.state == "error" and screen.replies[-1].state == "failed"
        assert "refused" in screen_text(app)
        assert screen.prompt.text == "please keep this"


async def test_failure_mid_stream_keeps_text_and_shows_the_error(xsus_home):
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "fail")
        await wait_idle(pilot)
        reply = app.chat_screen.replies[-1]
        assert reply.state == "failed" and "break off in the middle" in reply.text
        assert "dropped the connection" in screen_text(app)
        await send(pilot, "hello")
        await wait_idle(pilot)
        assert app.chat_screen.replies[-1].state == "done"


async def test_sending_while_streaming_queues_it_and_the_run_answers_it(xsus_home):
    """(Steering, tests/ui/test_steering.py:) Enter while a reply streams no longer waits in the input: it is queued,
    and a run that would end makes one more request for it."""
    gate = asyncio.Event()
    seen: list = []

    async def stream(messages, info):
        seen.append(messages)
        yield "first part "
        if len(seen) == 1:
            await gate.wait()
            yield "rest"

    app = make_app(xsus_home, chat_agent(stream))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "one")
        await wait_for(pilot, lambda: bool(screen.replies[-1].text))
        await send(pilot, "two")
        assert screen.prompt.text == "" and len(screen.replies) == 1
        await wait_for(pilot, lambda: "⧗ queued two" in screen_text(app))
        gate.set()
        await wait_idle(pilot)
        assert len(screen.replies) == 2 and len(seen) == 2


async def test_resumed_conversation_is_shown_and_continued(xsus_home):
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "tools")
        await wait_idle(pilot)
    messages_before = await stored_messages(xsus_home)
    store = SQLiteConversationStore.open(xsus_home / "history.db")
    conversation = await store.load(store.latest_id())
    store.close()
    app = make_app(xsus_home, conversation=conversation)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        assert [p.state for p in screen.query(ToolPanel)] == ["done", "done", "failed", "done", "done"]
        assert "Resumed conversation · 1 earlier turn" in [str(notice.render()) for notice in screen.query(".notice")]
        await send(pilot, "recap")
        await wait_idle(pilot)
        assert f"{len(messages_before)} earlier messages" in screen.replies[-1].text


async def test_a_resumed_long_conversation_opens_at_its_end(xsus_home):
    from pydantic_ai.conversation import Conversation
    from pydantic_ai.messages import ModelRequest, ThinkingPart, UserPromptPart

    from xsus_tui.core.demo_text import long_reply

    messages = []
    for i in range(3):  # thinking blocks fold as they are replayed: that must not move the view
        reply = ModelResponse(parts=[ThinkingPart("hmm " * 30), TextPart(long_reply())])
        messages += [ModelRequest(parts=[UserPromptPart(f"question {i}")]), reply]
    app = make_app(xsus_home, conversation=Conversation(messages=messages))
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat_screen.chat
        await wait_for(pilot, lambda: chat.max_scroll_y > 300)
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y)
        assert "That is the end of the long reply." in screen_text(app)
        assert "Resumed conversation · 3 earlier turns" in screen_text(app)


def history(turns: int) -> list:
    from pydantic_ai.messages import ModelRequest, UserPromptPart

    messages = []
    for i in range(turns):
        messages += [
            ModelRequest(parts=[UserPromptPart(f"question {i}")]),
            ModelResponse(parts=[TextPart(f"answer {i}\n\n" + "filler line\n\n" * 3)]),
        ]
    return messages


def scroll_to_top(chat) -> None:
    """As the wheel or PgUp would, to the top of what is rendered (Ctrl+Home jumps to turn 1: test_jumping.py)."""
    chat.release_anchor()
    chat.scroll_home(animate=False)


async def test_a_long_history_shows_its_last_page_and_older_turns_as_you_scroll_up(xsus_home):
    from pydantic_ai.conversation import Conversation

    from xsus_tui.ui.screens.chat import HISTORY_PAGE
    from xsus_tui.ui.widgets.history_page import HistoryPage

    total = HISTORY_PAGE * 2 + 5
    app = make_app(xsus_home, conversation=Conversation(messages=history(total)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        chat = screen.chat
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y and chat.max_scroll_y > 0)
        assert len(screen.replies) == HISTORY_PAGE
        assert f"answer {total - 1}" in screen_text(app)
        assert f"Resumed conversation · {total} earlier turns" in screen_text(app)
        scroll_to_top(chat)
        await wait_for(pilot, lambda: len(screen.query(HistoryPage)) == 2 and not screen._loading_older)
        # The view stays on what was at the top (the page's first turn), with the new page above it.
        assert f"question {HISTORY_PAGE + 5}" in screen_text(app) and chat.scroll_y > 0
        scroll_to_top(chat)
        await wait_for(pilot, lambda: len(screen.query(HistoryPage)) == 3 and not screen._loading_older)
        scroll_to_top(chat)
        await wait_for(pilot, lambda: "question 0" in screen_text(app))
        assert "earlier turns: scroll up" not in screen_text(app)
        prompts = [prompt for page in screen.query(HistoryPage) for prompt in page.prompts]
        assert prompts == [f"question {i}" for i in range(total)]


async def test_history_pages_far_from_the_view_let_go_of_their_widgets(xsus_home):
    from pydantic_ai.conversation import Conversation

    from xsus_tui.ui.screens.chat import HISTORY_PAGE
    from xsus_tui.ui.widgets.history_page import HistoryPage

    total = HISTORY_PAGE * 5
    # Replies of earlier tests in this process may be gc-frozen (the app freezes start-up's objects): not counted.
    earlier = {id(thing) for thing in gc.get_objects() if isinstance(thing, AssistantReply)}
    app = make_app(xsus_home, conversation=Conversation(messages=history(total)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        chat = screen.chat
        await wait_for(pilot, lambda: chat.scroll_y == chat.max_scroll_y and chat.max_scroll_y > 0)
        for shown in range(2, 6):
            scroll_to_top(chat)
            await wait_for(
                pilot, lambda shown=shown: len(screen.query(HistoryPage)) == shown and not screen._loading_older
            )
        await pilot.press("ctrl+home")
        await wait_for(pilot, lambda: "question 0" in screen_text(app))
        pages = list(screen.query(HistoryPage))
        assert len(pages) == 5 and not pages[-1].loaded and not pages[-1].children
        assert len(screen.replies) <= HISTORY_PAGE * 2  # only pages near the view hold widgets
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()  # the unloads scheduled with call_later have run
        gc.collect()
        alive = sum(isinstance(thing, AssistantReply) and id(thing) not in earlier for thing in gc.get_objects())
        assert alive <= HISTORY_PAGE * 2.5  # and what they let go of is freed (the first page is gc-frozen)
        height = chat.virtual_size.height
        await pilot.press("ctrl+end")
        await wait_for(pilot, lambda: pages[-1].loaded and f"answer {total - 1}" in screen_text(app))
        assert not pages[0].loaded and chat.virtual_size.height == height


async def test_regenerating_a_resumed_turn_takes_it_out_of_its_history_page(xsus_home):
    from pydantic_ai.conversation import Conversation

    from xsus_tui.ui.widgets.history_page import HistoryPage

    app = make_app(xsus_home, conversation=Conversation(messages=history(2)))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await pilot.press("ctrl+g")
        await wait_idle(pilot)
        assert screen.query_one(HistoryPage).prompts == ["question 0"]
        shown = [str(message.render()) for message in screen.query("UserMessage")]
        assert len(shown) == 2 and shown[-1].endswith("question 1") and "answer 1" not in screen_text(app)


async def test_long_tool_results_are_collapsed_and_ctrl_c_interrupts(xsus_home):
    from pydantic_ai.models.function import DeltaToolCall
    from textual.widgets import Collapsible

    def listing() -> str:
        return "\n".join(f"file_{i}.txt" for i in range(500))

    gate = asyncio.Event()

    async def stream(messages, info):
        if not any(isinstance(m, ModelResponse) for m in messages):
            yield {1: DeltaToolCall(name="listing", json_args="{}", tool_call_id="l1")}
        else:
            yield "There are 500 files. "
            await gate.wait()
            yield "never"

    app = make_app(xsus_home, chat_agent(stream, tools=[listing]))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "list")
        await wait_for(pilot, lambda: "500 files" in app.chat_screen.replies[-1].text)
        panel = app.chat_screen.query_one(ToolPanel)
        section = panel.query_one(Collapsible)
        assert section.collapsed and "500 lines" in section.title
        assert "file_499.txt" not in screen_text(app)
        await pilot.press("ctrl+c")
        await wait_idle(pilot)
        assert app.chat_screen.replies[-1].state == "interrupted"


async def test_missing_required_fields_show_in_the_tree_until_they_arrive(xsus_home):
    from pydantic import BaseModel
    from pydantic_ai.models.function import DeltaToolCall

    class Report(BaseModel):
        title: str
        score: int

    gate = asyncio.Event()

    async def stream(messages, info):
        yield {0: DeltaToolCall(name=info.output_tools[0].name, json_args='{"title": "Quarterly"', tool_call_id="r")}
        await gate.wait()
        yield {0: DeltaToolCall(json_args=', "score": 7}')}

    app = make_app(xsus_home, chat_agent(stream, output_type=Report))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "report")
        await wait_for(pilot, lambda: "missing: score" in app.chat_screen.query_one(OutputPanel).border_subtitle)
        await wait_for(pilot, lambda: 'title: "Quarterly"' in screen_text(app) and "score: …" in screen_text(app))
        gate.set()
        await wait_idle(pilot)
        assert "score: 7" in screen_text(app) and "score: …" not in screen_text(app)
