"""Hostile output: control sequences in text, tool arguments and results stay inert; huge results stay cheap."""

from __future__ import annotations

import time

from pydantic_ai.messages import ModelResponse
from pydantic_ai.models.function import DeltaThinkingPart, DeltaToolCall

from xsus_tui.ui.widgets.tool_panel import ToolPanel

from ..core.helpers import chat_agent
from .helpers import CONTROL, SIZE, make_app, rendered_text, send, wait_idle

TITLE = "\x1b]0;owned\x07"
CLEAR = "\x1b[2J\x1b[H"


async def test_control_sequences_everywhere_are_shown_inert(xsus_home):
    def lookup(query: str) -> str:
        return f"result {CLEAR}with a bell\x07 and {TITLE} title"

    async def stream(messages, info):
        if not any(isinstance(m, ModelResponse) for m in messages):
            yield {0: DeltaThinkingPart(content=f"thinking {CLEAR}hard")}
            yield f"Text {TITLE}before the tool. "
            yield {1: DeltaToolCall(name="lookup", json_args='{"query": "\\u001b[31mred', tool_call_id="t")}
            yield {1: DeltaToolCall(json_args='\\u001b[0m"}')}
        else:
            yield f"After the tool {CLEAR}done."

    app = make_app(xsus_home, chat_agent(stream, tools=[lookup]))
    async with app.run_test(size=SIZE) as pilot:
        app.chat_screen.prompt.insert(f"my prompt {CLEAR}here")  # pasted, so the ESC bytes are in the text
        await pilot.press("enter")
        await wait_idle(pilot)
        shown = rendered_text(app)
        assert not CONTROL.search(shown)
        for visible in (
            "my prompt ␛[2J␛[Hhere",
            "Text ␛]0;owned␇",
            "before the tool.",
            "\\u001b[31mred",  # in the JSON of the arguments: escaped, as JSON shows it
            "After the tool ␛[2J␛[Hdone.",
        ):
            assert visible in shown, (visible, shown)
        assert "result ␛[2J␛[Hwith a bell␇ and ␛]0;owned␇ title" in shown


async def test_a_one_megabyte_tool_result_and_a_huge_line_keep_the_ui_responsive(xsus_home):
    big = "x" * 1_000_000  # a single 1 MB line

    def dump() -> str:
        return big

    async def stream(messages, info):
        if not any(isinstance(m, ModelResponse) for m in messages):
            yield {0: DeltaToolCall(name="dump", json_args="{}", tool_call_id="d")}
        else:
            yield "y" * 50_000 + " and the reply goes on."

    app = make_app(xsus_home, chat_agent(stream, tools=[dump]))
    async with app.run_test(size=SIZE) as pilot:
        started = time.perf_counter()
        await send(pilot, "dump")
        await wait_idle(pilot)
        took = time.perf_counter() - started
        panel = app.chat_screen.query_one(ToolPanel)
        assert panel.state == "done" and "1,000,000 chars" in str(panel.query("Collapsible").first().title)
        started = time.perf_counter()
        await pilot.press(*"still typing")
        typed = time.perf_counter() - started
        assert app.chat_screen.prompt.text == "still typing"
    assert took < 5.0 and typed < 2.0, (took, typed)
