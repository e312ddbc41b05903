"""One response, one block: a rejected text answer does not run into the next response, and is marked."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic_ai.messages import ModelResponse
from pydantic_ai.models.function import DeltaToolCall

from ..core.helpers import chat_agent
from .helpers import SIZE, make_app, screen_text, send, wait_idle


class Answer(BaseModel):
    text: str


async def test_a_rejected_text_answer_is_its_own_block_and_marked(xsus_home):
    async def stream(messages, info):
        if sum(isinstance(m, ModelResponse) for m in messages) == 0:
            yield "TOOL-DONE"
        else:
            yield "## Fake reply\n"
            yield {1: DeltaToolCall(name="final_result", json_args='{"text": "ok"}', tool_call_id="out")}

    agent = chat_agent(stream, output_type=Answer)
    app = make_app(xsus_home, agent)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "answer")
        await wait_idle(pilot)
        text = screen_text(app)
    assert "TOOL-DONE" in text and "TOOL-DONE##" not in text and "## Fake reply" not in text
    assert "Fake reply" in text  # rendered as a heading of its own
    assert "not taken as the answer" in text
