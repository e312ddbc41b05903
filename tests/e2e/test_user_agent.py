"""Acceptance: `--agent myagent.py:agent --model openai-chat:NAME` against an OpenAI-compatible server."""

from __future__ import annotations

import textwrap

from xsus_tui.core.agents import build_user_agent
from xsus_tui.core.session import ChatSession
from xsus_tui.ui.app import XsusApp
from xsus_tui.ui.widgets.output_panel import OutputPanel
from xsus_tui.ui.widgets.tool_panel import ToolPanel

from ..ui.helpers import SIZE, send, wait_idle
from .loopback import messages_with_role, tool_call_reply

AGENT = textwrap.dedent(
    """
    from pydantic import BaseModel
    from pydantic_ai import Agent

    class Answer(BaseModel):
        city: str
        temperature_c: float
        advice: str

    agent = Agent(output_type=Answer, instructions="Answer with the weather tool.")

    @agent.tool_plain
    def weather(city: str) -> str:
        return f"{city}: 21.5 C and sunny"
    """
)


async def test_a_user_agent_with_tools_and_structured_output_over_openai_chat(server, store, tmp_path):
    path = tmp_path / "myagent.py"
    path.write_text(AGENT)

    def script(request):
        if messages_with_role(request, "tool"):
            answer = {"city": "Lisbon", "temperature_c": 21.5, "advice": "Bring sunglasses and walk to Belém."}
            return tool_call_reply("final_result", answer, pieces=6, call_id="out", delay=0.02)
        return tool_call_reply("weather", {"city": "Lisbon"}, pieces=3, call_id="w", delay=0.02)

    server.script = script
    chat_agent = build_user_agent(f"{path}:agent", model_id="openai-chat:test-model")
    app = XsusApp(ChatSession(chat_agent, store))
    seen: list[str] = []
    render = OutputPanel._render_partial

    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        assert "agent agent · openai-chat:test-model" in screen.sub_title

        def recording(panel):
            render(panel)
            seen.append(panel.border_subtitle)

        OutputPanel._render_partial = recording
        try:
            await send(pilot, "weather in Lisbon?")
            await wait_idle(pilot, within=10)
        finally:
            OutputPanel._render_partial = render
        tool = screen.query_one(ToolPanel)
        assert tool.tool_name == "weather" and tool.state == "done"
        assert "Lisbon: 21.5 C and sunny" in str(tool.children[-1].render())
        output = screen.query_one(OutputPanel)
        assert output.state == "valid" and output.value["advice"].startswith("Bring sunglasses")
    assert any("missing:" in state for state in seen)  # it filled in field by field
    assert server.requests[0]["tools"][0]["function"]["name"] in ("weather", "final_result")
