"""Stored messages -> the same TurnEvents a live turn yields, so resumed turns render identically."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from pydantic_ai.messages import (
    CompactionPart,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from . import compat
from .attachments import Attachment, Prompt
from .compaction import summarized_turns
from .events import (
    ERROR_METADATA_KEY,
    STEERED_METADATA_KEY,
    OutputPartial,
    OutputStarted,
    OutputValidated,
    ResponseStarted,
    TextDelta,
    ThinkingDelta,
    ToolCallFinished,
    ToolCallRunning,
    ToolCallStarted,
    TurnCancelled,
    TurnEvent,
    TurnFailed,
    TurnFinished,
    TurnStats,
)
from .translate import result_or_error

OUTPUT_TOOL_RETURN = compat.FINAL_RESULT_PROCESSED


@dataclass
class PastTurn:
    """One stored turn: the prompt and the events that rebuild its reply."""

    _: KW_ONLY
    prompt: str
    """What the user typed."""
    attachments: tuple[Attachment, ...] = ()
    """The files attached to the prompt."""
    events: list[TurnEvent] = field(default_factory=list)
    """The reply as turn events, ending with TurnFinished or TurnCancelled."""
    interrupted: bool = False
    """Whether the reply was cut short (interrupted, or broken off by an error)."""
    error: str | None = None
    """The error that broke the reply off, when it failed."""
    number: int | None = None
    """Its turn in the conversation (1 = the first prompt); None for one not in it (a prompt that was not sent)."""
    versions: tuple[int, int] | None = None
    """Which version of its turn this is, of how many (`‹2/3›`), when there are more than one."""
    summary: str | None = None
    """The summary of the earlier conversation that comes before this turn (it was compacted), if any."""
    summarized: int | None = None
    """How many turns that summary replaced, when xsus wrote it."""
    steered: bool = False
    """Typed while the reply before it ran, and delivered into that run (steering): it follows that reply's tool
    results in the history, where the model saw it."""


def prompt_text(part: UserPromptPart) -> str:
    """What the user typed (a prompt with files: its text items, not the files)."""
    if isinstance(part.content, str):
        return part.content
    return " ".join(item for item in part.content if isinstance(item, str))


def prompt_files(part: UserPromptPart) -> tuple[Attachment, ...]:
    """The files attached to a stored prompt."""
    return () if isinstance(part.content, str) else Prompt.from_content(part.content).attachments


def user_prompts(messages: list[ModelMessage]) -> list[str]:
    """The prompts the user sent in this conversation, oldest first (prompt recall, newest first, reads it
    backwards)."""
    return [
        prompt_text(part)
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, UserPromptPart)
    ]


ToolResults = dict[int, ToolReturnPart | RetryPromptPart]
"""Each tool call's result, keyed by `id()` of the call's ToolCallPart."""


def pair_tool_results(messages: list[ModelMessage]) -> ToolResults:
    """Each tool call's own result, paired by place, not by id alone.

    Ids repeat across turns (the demo's `note-1` every time; many OpenAI-compatible servers number
    their calls `call_1`, `call_2` per response), so a result belongs to the earliest call before it
    with its id that has no result yet.
    """
    waiting: dict[str, deque[ToolCallPart]] = {}
    paired: ToolResults = {}
    for message in messages:
        if isinstance(message, ModelResponse):
            for part in message.parts:
                if isinstance(part, ToolCallPart):
                    waiting.setdefault(part.tool_call_id, deque()).append(part)
        elif isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, ToolReturnPart | RetryPromptPart) and part.tool_call_id:
                    if calls := waiting.get(part.tool_call_id):
                        paired[id(calls.popleft())] = part
    return paired


def past_turns(
    messages: list[ModelMessage], output_tools: Mapping[str, dict[str, Any] | None] | None = None
) -> list[PastTurn]:
    """Split a stored history into turns, one per user prompt. `output_tools`: the agent's output tools by name,
    with their schemas (its title names the output's type, as it does live)."""
    output_tools = output_tools or {}
    results = pair_tool_results(messages)
    last_response: dict[int, ModelResponse] = {}  # by turn number
    turns: list[PastTurn] = []
    number = 0
    for message in messages:
        if isinstance(message, ModelRequest):
            steered = bool((message.metadata or {}).get(STEERED_METADATA_KEY))
            if any(isinstance(part, UserPromptPart) for part in message.parts):
                number += 1
            summary = next(
                (p for p in message.parts if isinstance(p, CompactionPart) and p.provider_name is None), None
            )
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    turns.append(
                        PastTurn(
                            prompt=prompt_text(part), attachments=prompt_files(part), number=number, steered=steered
                        )
                    )
                    if summary is not None:
                        turns[-1].summary = summary.content or ""
                        turns[-1].summarized = summarized_turns(summary)
                        summary = None
        elif isinstance(message, ModelResponse):
            if not turns:
                turns.append(PastTurn(prompt=""))
            if (previous := last_response.get(len(turns))) is not None:
                turns[-1].events.append(ResponseStarted(rejected_text=_text_only(previous)))
            last_response[len(turns)] = message
            turns[-1].events.extend(_response_events(message, results, output_tools))
            turns[-1].interrupted |= getattr(message, "state", None) == "interrupted"
            turns[-1].error = (message.metadata or {}).get(ERROR_METADATA_KEY) or turns[-1].error
    for turn in turns:
        if turn.error is not None:
            text = "".join(e.text for e in turn.events if isinstance(e, TextDelta))
            turn.events.append(TurnFailed(error=turn.error, partial_text=text))
        elif turn.interrupted:
            text = "".join(e.text for e in turn.events if isinstance(e, TextDelta))
            turn.events.append(TurnCancelled(stats=TurnStats(), partial_text=text))
        else:
            turn.events.append(TurnFinished(stats=TurnStats()))
    return turns


def _text_only(response: ModelResponse) -> bool:
    """A response with text and no tool call: if the turn went on after it, that text was not the answer."""
    kinds = [type(part) for part in response.parts]
    return TextPart in kinds and not any(issubclass(kind, ToolCallPart) for kind in kinds)


def _response_events(
    message: ModelResponse, results: ToolResults, output_tools: Mapping[str, dict[str, Any] | None]
) -> list[TurnEvent]:
    events: list[TurnEvent] = []
    for part in message.parts:
        if isinstance(part, TextPart) and part.content:
            events.append(TextDelta(part.content))
        elif isinstance(part, ThinkingPart) and part.content:
            events.append(ThinkingDelta(part.content))
        elif isinstance(part, ToolCallPart):
            result = results.get(id(part))
            args = part.args_as_json_str()
            is_output = part.tool_name in output_tools or (
                isinstance(result, ToolReturnPart) and result.content == OUTPUT_TOOL_RETURN
            )
            if is_output:
                partial = OutputPartial.whole(part.tool_call_id, args)
                schema = output_tools.get(part.tool_name)
                events += [OutputStarted(call_id=part.tool_call_id, tool_name=part.tool_name, schema=schema), partial]
                if isinstance(result, ToolReturnPart) and result.outcome == "success":
                    events.append(OutputValidated(call_id=part.tool_call_id, value=partial.value))
                continue
            events.append(ToolCallStarted(call_id=part.tool_call_id, tool_name=part.tool_name, args=args))
            try:
                parsed: dict[str, Any] | str = json.loads(args) if args else {}
            except ValueError:
                parsed = args
            events.append(ToolCallRunning(call_id=part.tool_call_id, args=parsed))
            if result is not None:
                text, error = result_or_error(result)
                outcome = result.outcome if isinstance(result, ToolReturnPart) else "retried"
                events.append(
                    ToolCallFinished(
                        call_id=part.tool_call_id, tool_name=part.tool_name, result=text, error=error, outcome=outcome
                    )
                )
            else:
                events.append(
                    ToolCallFinished(call_id=part.tool_call_id, tool_name=part.tool_name, error="interrupted")
                )
    return events
