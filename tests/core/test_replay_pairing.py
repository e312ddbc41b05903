"""Resumed history shows each tool call's own result, though tool-call ids repeat across turns."""

from __future__ import annotations

from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart, UserPromptPart

from xsus_tui.core.events import ToolCallFinished
from xsus_tui.core.export import to_markdown
from xsus_tui.core.replay import past_turns


def call_turn(prompt: str, call_id: str, result: str, *, outcome: str = "success") -> list:
    return [
        ModelRequest(parts=[UserPromptPart(prompt)]),
        ModelResponse(parts=[ToolCallPart("note", {"text": prompt}, tool_call_id=call_id)]),
        ModelRequest(parts=[ToolReturnPart("note", result, tool_call_id=call_id, outcome=outcome)]),
        ModelResponse(parts=[TextPart(f"done with {prompt}")]),
    ]


HISTORY = (
    call_turn("first", "call_1", "saved FIRST")
    + call_turn("second", "call_1", "saved SECOND")
    + call_turn("third", "call_1", "The user denied this tool call.", outcome="denied")
)


def finished(turn) -> ToolCallFinished:
    return next(e for e in turn.events if isinstance(e, ToolCallFinished))


def test_replay_pairs_each_call_with_its_own_result() -> None:
    turns = past_turns(HISTORY)
    assert [finished(t).result for t in turns[:2]] == ["saved FIRST", "saved SECOND"]
    denied = finished(turns[2])
    assert denied.outcome == "denied" and denied.result is None and "denied" in denied.error


def test_markdown_export_pairs_each_call_with_its_own_result() -> None:
    text = to_markdown(HISTORY, title="t", conversation_id="c")
    first, second, third = text.split("**You**")[1:]
    assert "saved FIRST" in first and "saved SECOND" not in first
    assert "saved SECOND" in second and "saved FIRST" not in second
    assert "Denied:" in third


def test_two_calls_with_one_id_in_one_response_are_paired_in_order() -> None:
    history = [
        ModelRequest(parts=[UserPromptPart("both")]),
        ModelResponse(parts=[ToolCallPart("a", {}, tool_call_id="x"), ToolCallPart("b", {}, tool_call_id="x")]),
        ModelRequest(
            parts=[ToolReturnPart("a", "from a", tool_call_id="x"), ToolReturnPart("b", "from b", tool_call_id="x")]
        ),
    ]
    events = [e for e in past_turns(history)[0].events if isinstance(e, ToolCallFinished)]
    assert [(e.tool_name, e.result) for e in events] == [("a", "from a"), ("b", "from b")]
