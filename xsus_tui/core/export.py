"""Exporting a conversation: pydantic-ai's JSON message list, or readable markdown."""

from __future__ import annotations

import json

from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from .events import ERROR_METADATA_KEY
from .replay import pair_tool_results, prompt_text
from .sanitize import inert
from .translate import result_or_error


def to_json(messages: list[ModelMessage]) -> str:
    """The messages as pydantic-ai writes them: load back with `ModelMessagesTypeAdapter`."""
    return ModelMessagesTypeAdapter.dump_json(messages, indent=2).decode()


def _fence(text: str, lang: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text}\n{ticks}"


def to_markdown(messages: list[ModelMessage], *, title: str, conversation_id: str) -> str:
    """A readable transcript: prompts, replies, thinking, tool calls with their results.

    Turns are separated by rules and labelled in bold, so the headings inside replies keep their levels.
    """
    results = pair_tool_results(messages)
    out = [f"# {title}", "", f"Conversation `{conversation_id}`", ""]
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    out += ["---", "", "**You**", "", prompt_text(part), ""]
        elif isinstance(message, ModelResponse):
            if not message.parts and not (message.metadata or {}).get(ERROR_METADATA_KEY):
                continue  # an attempt that produced nothing
            out += [f"**Assistant** · {message.model_name or 'model'}", ""]
            for part in message.parts:
                if isinstance(part, TextPart):
                    out += [part.content, ""]
                elif isinstance(part, ThinkingPart) and part.content:
                    quoted = "\n".join(f"> {line}" for line in part.content.splitlines())
                    out += ["> *thinking*", ">", quoted, ""]
                elif isinstance(part, ToolCallPart):
                    args = json.dumps(part.args_as_dict(), indent=2) if part.args else "{}"
                    out += [f"*Tool call* `{part.tool_name}`", "", _fence(args, "json"), ""]
                    result = results.get(id(part))
                    if result is not None:
                        text, error = result_or_error(result)
                        denied = isinstance(result, ToolReturnPart) and result.outcome == "denied"
                        label = "Denied" if denied else "Result" if error is None else "Error"
                        out += [f"{label}:", "", _fence(text if error is None else error), ""]
            error = (message.metadata or {}).get(ERROR_METADATA_KEY)
            if error:
                out += [f"*(reply failed: {error})*", ""]
            elif getattr(message, "state", None) == "interrupted":
                out += ["*(reply interrupted)*", ""]
    # A transcript is read in a terminal: model and tool text must not carry live control sequences.
    return inert("\n".join(out).rstrip()) + "\n"
