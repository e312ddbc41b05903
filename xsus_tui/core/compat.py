"""Every private part of pydantic-ai that xsus touches, in one place.

pydantic-ai has no public way to do these few things. Each is read here and nowhere else, falls back
to something safe when it is gone, and `tests/core/test_compat.py` fails with a message naming the
part when an upgrade changes it, so an upgrade fails loudly rather than strangely.
"""

from __future__ import annotations

from typing import Any

try:  # Where a Conversation marks which of its messages are stored (store.py's fast save reads and grows it).
    from pydantic_ai._conversation_marks import _STORED as STORED_MARK
except ImportError:  # pragma: no cover - every save then takes the base class's way (slower, still correct)
    STORED_MARK: str | None = None  # type: ignore[no-redef]

try:  # What pydantic-ai returns to the model for an output tool call (replay recognises output calls by it).
    from pydantic_ai._tool_execution import _FINAL_RESULT_PROCESSED as FINAL_RESULT_PROCESSED
except ImportError:  # pragma: no cover
    FINAL_RESULT_PROCESSED = "Final result processed."


def stored_mark(conversation: Any) -> Any:
    """What pydantic-ai marked stored on a Conversation (a tuple of messages), or None."""
    return conversation.__dict__.get(STORED_MARK) if STORED_MARK is not None else None


def set_stored_mark(conversation: Any, mark: Any) -> None:
    """Replace pydantic-ai's stored mark on a Conversation (store.py keeps a sequence there that grows)."""
    if STORED_MARK is not None:
        conversation.__dict__[STORED_MARK] = mark


def output_schema(agent: Any) -> Any:
    """The agent's output schema (`mode`, `object_def`, `toolset`), or None."""
    return getattr(agent, "_output_schema", None)


def output_tool_defs(agent: Any) -> list[Any]:
    """The ToolDefinitions of the agent's output tools (empty if pydantic-ai moved them)."""
    toolset = getattr(output_schema(agent), "toolset", None)
    return list(getattr(toolset, "_tool_defs", None) or [])


def open_part(stream: Any) -> Any:
    """The part a `UIEventStream` is in the middle of (a tool-call delta without an id belongs to it)."""
    return getattr(stream, "_open_part", None)


def report_usage(response: Any, usage: Any, model_name: str | None) -> None:
    """Make a streaming response report `usage` (a RequestUsage) and `model_name` as its own (replay: a
    FunctionModel's response counts an estimate of its own in `_usage`, and names itself in `_model_name`)."""
    if hasattr(response, "_usage"):
        response._usage = usage
    if model_name is not None and hasattr(response, "_model_name"):
        response._model_name = model_name


try:  # pydantic-ai's measure of the context a response leaves behind (what `RunContext.context_window_used` reads).
    from pydantic_ai._context_size import context_tokens as _context_tokens
except ImportError:  # pragma: no cover - input plus output: wrong only for responses that sum several requests
    _context_tokens = None


def context_tokens(response: Any) -> int:
    """The context `response` leaves behind, as pydantic-ai measures it for `context_window_used`: its input tokens
    (the ones it marked for a response whose usage sums several requests) plus its output tokens."""
    if _context_tokens is not None:
        return _context_tokens(response)
    return (response.usage.input_tokens or 0) + (response.usage.output_tokens or 0)  # pragma: no cover
