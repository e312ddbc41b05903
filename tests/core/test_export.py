"""Exports: pydantic-ai's JSON (loadable) and a readable markdown transcript."""

from __future__ import annotations

from pydantic_ai.messages import (
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from xsus_tui.core.export import to_json, to_markdown

MESSAGES = [
    ModelRequest(parts=[UserPromptPart("add 2 and 3")]),
    ModelResponse(parts=[TextPart("Let me add."), ToolCallPart("calculator", {"expression": "2+3"}, tool_call_id="c")]),
    ModelRequest(parts=[ToolReturnPart("calculator", "5", tool_call_id="c")]),
    ModelResponse(parts=[TextPart("It is 5, and a fence: ```x```")], state="interrupted"),
]


def test_json_export_loads_back_with_the_type_adapter():
    assert ModelMessagesTypeAdapter.validate_json(to_json(MESSAGES)) == MESSAGES


def test_markdown_export_has_prompts_replies_tools_and_interruptions():
    text = to_markdown(MESSAGES, title="Adding", conversation_id="abc")
    assert text.startswith("# Adding\n")
    assert "**You**\n\nadd 2 and 3" in text
    assert "*Tool call* `calculator`" in text and '"expression": "2+3"' in text
    assert "Result:\n\n```\n5\n```" in text
    assert "````\nIt is" not in text and "It is 5, and a fence: ```x```" in text
    assert text.rstrip().endswith("*(reply interrupted)*")


def test_markdown_export_names_the_error_of_a_failed_reply():
    failed = ModelResponse(parts=[TextPart("Half")], state="interrupted", metadata={"xsus_error": "HTTP 500"})
    text = to_markdown([MESSAGES[0], failed], title="t", conversation_id="c")
    assert text.rstrip().endswith("*(reply failed: HTTP 500)*")


def test_markdown_export_never_carries_live_control_sequences():
    hostile = [MESSAGES[0], ModelResponse(parts=[TextPart("Hi \x1b]0;owned\x07 \x1b[2J there")])]
    text = to_markdown(hostile, title="t \x1b[31m", conversation_id="c")
    assert "\x1b" not in text and "\x07" not in text and "Hi ␛]0;owned␇ ␛[2J there" in text
