"""Your own agent in the app: the header names it, its panels show, Ctrl+R reloads it."""

from __future__ import annotations

from xsus_tui.core.agents import build_user_agent
from xsus_tui.ui.widgets.output_panel import OutputPanel
from xsus_tui.ui.widgets.tool_panel import ToolPanel

from ..core.test_agent_loader import AGENT_FILE
from .helpers import SIZE, make_app, screen_text, send, wait_for, wait_idle


async def test_user_agent_panels_and_reload(xsus_home, tmp_path):
    path = tmp_path / "myagent.py"
    path.write_text(AGENT_FILE)
    app = make_app(xsus_home, build_user_agent(f"{path}:support"))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.chat_screen
        assert "agent support" in screen.sub_title
        await send(pilot, "late order")
        await wait_idle(pilot)
        assert [p.state for p in screen.query(ToolPanel)] == ["done"]
        assert screen.query_one(OutputPanel).value == {"title": "Late", "priority": 2}
        path.write_text(AGENT_FILE.replace('GREETING = "hello"', 'GREETING = "edited"'))
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: f"Reloaded {path}:support." in screen_text(app))
        await send(pilot, "again")
        await wait_idle(pilot)
        panel = screen.replies[-1].query_one(ToolPanel)
        assert "order 42: edited" in str(panel.children[-1].render())
        path.write_text("def broken(:\n")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "Reload of" in screen_text(app) and "syntax error" in screen_text(app))
        await send(pilot, "still works")  # the previous agent is kept
        await wait_idle(pilot)
        assert screen.replies[-1].state == "done" and len(screen.replies) == 3


async def test_slash_model_switches_and_the_history_carries_over(xsus_home):
    from pydantic_ai.messages import ModelResponse, TextPart

    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "hello")
        await wait_idle(pilot)
        await send(pilot, "/model nonsense:x")
        await wait_for(pilot, lambda: "Could not switch to nonsense:x: unknown model provider" in screen_text(app))
        await send(pilot, "/model demo")
        await wait_for(pilot, lambda: "Switched to demo (offline)" in screen_text(app))
        await send(pilot, "recap")
        await wait_idle(pilot)
        assert "I received **2 earlier messages**" in screen.replies[-1].text  # the history carried over
        messages = screen.session.conversation.messages
        assert sum(isinstance(m, ModelResponse) and isinstance(m.parts[-1], TextPart) for m in messages) == 2


async def test_slash_model_on_a_user_agent_keeps_the_loaded_agent(xsus_home, tmp_path):
    path = tmp_path / "myagent.py"
    path.write_text(AGENT_FILE)
    app = make_app(xsus_home, build_user_agent(f"{path}:support"))
    async with app.run_test(size=SIZE) as pilot:
        path.write_text("def broken(:\n")  # a broken file on disk must not block switching models
        await send(pilot, "/model demo")
        await wait_for(pilot, lambda: "the demo model only plays its own scripts" in screen_text(app))
        agent = app.chat_screen.session.chat_agent
        assert (
            agent.label == "demo"
            and agent.agent_name == "support"
            and "agent support · demo" in app.chat_screen.sub_title
        )
        assert "the demo model only plays its own scripts" in screen_text(app)
