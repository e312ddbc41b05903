"""Tools that require approval: the turn pauses, the panel asks, the decision is kept in the history."""

from __future__ import annotations

import pytest
from pydantic_ai.messages import ModelRequest, ToolReturnPart
from pydantic_ai.models.function import DeltaToolCall

from xsus_tui.core.store import SQLiteConversationStore
from xsus_tui.ui.widgets.tool_panel import ApprovalBar, ToolPanel

from ..core.helpers import chat_agent
from .helpers import SIZE, make_app, screen_text, send, wait_for, wait_idle

deleted: list[str] = []


def make_agent():
    async def stream(messages, info):
        last = messages[-1]
        if any(p.part_kind == "user-prompt" for p in last.parts):
            yield "I will delete it.\n"
            yield {1: DeltaToolCall(name="delete_file", json_args='{"path": "/tmp/report.txt"}', tool_call_id="del")}
        else:
            returned = next(p for p in last.parts if isinstance(p, ToolReturnPart))
            yield f"Outcome: {returned.content}"

    agent = chat_agent(stream)
    agent.agent.tool_plain(requires_approval=True)(delete_file)
    return agent


def delete_file(path: str) -> str:
    deleted.append(path)
    return f"deleted {path}"


async def stored_returns(home) -> list[ToolReturnPart]:
    store = SQLiteConversationStore.open(home / "history.db")
    conversation = await store.load(store.latest_id())
    store.close()
    return [
        p
        for m in conversation.messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart)
    ]


async def test_approve_runs_the_tool(xsus_home):
    deleted.clear()
    app = make_app(xsus_home, make_agent())
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "delete the report")
        await wait_for(pilot, lambda: bool(screen.query(ApprovalBar)))
        panel = screen.query_one(ToolPanel)
        assert panel.state == "needs approval" and deleted == []
        assert "Approve (y)" in screen_text(app)
        assert app.focused is screen.prompt  # the panel asks without taking the keys
        await pilot.press(*"any thoughts? yes")  # typed words stay in the prompt and decide nothing
        assert screen.prompt.text == "any thoughts? yes" and panel.state == "needs approval" and deleted == []
        screen.prompt.clear()
        await pilot.press("tab")  # to the approval, on purpose
        assert app.focused is screen.query_one("#approve")
        await pilot.press("y")
        await wait_idle(pilot)
        assert panel.state == "done" and deleted == ["/tmp/report.txt"]
        assert "Outcome: deleted /tmp/report.txt" in screen.replies[-1].text
        assert app.focused is screen.prompt
    assert [r.outcome for r in await stored_returns(xsus_home)] == ["success"]


async def test_deny_tells_the_model_and_is_recorded(xsus_home):
    deleted.clear()
    app = make_app(xsus_home, make_agent(), idle_timeout=1.0, stall_notice=0.2)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "delete the report")
        await wait_for(pilot, lambda: bool(screen.query(ApprovalBar)))
        await pilot.pause(1.5)  # a person thinking is not a stalled stream
        assert screen.session.busy
        await pilot.click("#deny")
        await wait_idle(pilot)
        panel = screen.query_one(ToolPanel)
        assert panel.state == "denied" and deleted == []
        assert "Outcome: The user denied this tool call." in screen.replies[-1].text
    returns = await stored_returns(xsus_home)
    assert [(r.outcome, r.content) for r in returns] == [("denied", "The user denied this tool call.")]


async def test_esc_while_waiting_for_approval_interrupts(xsus_home):
    app = make_app(xsus_home, make_agent())
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "delete the report")
        await wait_for(pilot, lambda: bool(screen.query(ApprovalBar)))
        await pilot.press("tab")  # Esc interrupts from the approval too
        await pilot.press("escape")
        await wait_idle(pilot)
        assert screen.replies[-1].state == "interrupted" and screen.query_one(ToolPanel).state == "interrupted"


async def test_the_demo_asks_before_saving_a_note(xsus_home):
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "note")
        await wait_for(pilot, lambda: bool(screen.query(ApprovalBar)))
        await pilot.press("tab", "y")
        await wait_idle(pilot)
        notes = list((xsus_home / "notes").glob("*.md"))
        assert [n.name for n in notes] == ["xsus demo note.md"] and (notes[0].stat().st_mode & 0o777) == 0o600
        assert "Done: the note was saved to" in screen.replies[-1].text


async def test_n_typed_into_the_prompt_does_not_deny(xsus_home):
    deleted.clear()
    app = make_app(xsus_home, make_agent())
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "delete the report")
        await wait_for(pilot, lambda: bool(screen.query(ApprovalBar)))
        await pilot.press(*"no wait")
        panel = screen.query_one(ToolPanel)
        assert panel.state == "needs approval" and screen.prompt.text == "no wait"
        await pilot.press("tab", "n")
        await wait_idle(pilot)
        assert panel.state == "denied" and deleted == []
        assert app.focused is screen.prompt and screen.prompt.text == "no wait"  # what was typed is still there


async def test_the_demo_says_a_denial_in_one_sentence(xsus_home):
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "note")
        await wait_for(pilot, lambda: bool(screen.query(ApprovalBar)))
        await pilot.press("tab", "n")
        await wait_idle(pilot)
        assert "Understood, I did not save it: The user denied this tool call." in screen.replies[-1].text
        assert ".)." not in screen.replies[-1].text


async def test_tab_goes_to_the_waiting_approval_past_an_earlier_turn(xsus_home):
    """Tab from the prompt lands on the approval even when an earlier turn has parts the focus chain reaches first."""
    from xsus_tui.core.agents import build_chat_agent

    from .helpers import SIZE, make_app, send, wait_for

    app = make_app(xsus_home, build_chat_agent("demo"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "hello")  # markdown: a table and code an earlier Tab could land in
        await wait_for(pilot, lambda: not screen.session.busy and screen.turn_worker.is_finished)
        await send(pilot, "note")
        await wait_for(pilot, lambda: screen.status.state == "waiting for approval")
        await pilot.press("tab")
        assert app.focused is not None and app.focused.id == "approve"
        await pilot.press("y")
        await wait_for(pilot, lambda: not screen.session.busy and screen.turn_worker.is_finished)
        assert screen.status.state != "waiting for approval"


@pytest.mark.parametrize("width", [60, 40])
async def test_a_narrow_window_shows_the_buttons_and_the_whole_call(xsus_home, width):
    """At 60 columns the label pushed both buttons out of the panel (at 40, Deny), and Rich's JSON cut a long
    argument at the panel's edge: what would be approved was partly out of sight."""
    path = "/tmp/" + "quarterly-" * 8 + "report.txt"

    async def stream(messages, info):
        if any(p.part_kind == "user-prompt" for p in messages[-1].parts):
            yield {1: DeltaToolCall(name="delete_file", json_args=f'{{"path": "{path}"}}', tool_call_id="del")}
        else:
            yield "done"

    agent = chat_agent(stream)
    agent.agent.tool_plain(requires_approval=True)(delete_file)
    app = make_app(xsus_home, agent)
    async with app.run_test(size=(width, 30)) as pilot:
        screen = app.chat_screen
        await send(pilot, "delete it")
        await wait_for(pilot, lambda: bool(screen.query(ApprovalBar)))
        await pilot.pause()
        panel = screen.query_one(ToolPanel)
        for button in screen.query("ApprovalBar Button"):
            assert panel.content_region.contains_region(button.region), (button, button.region, panel.content_region)
        shown = "".join(line.strip(" │") for line in screen_text(app).splitlines())
        assert path in shown
        assert "Approve (y)" in screen_text(app) and "Deny (n)" in screen_text(app) and "Run this tool?" in shown
