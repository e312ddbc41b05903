"""Compaction: older turns replaced by a summary the model writes, the full conversation kept as a branch.

The summary is pydantic-ai's own form for a summary an application wrote: a `CompactionPart` in a
`ModelRequest`, with no provider fields. Every provider adapter sends it as user text framed as a summary of
the earlier conversation (`<pyai:conversation_summary>`), so it works with any model. It goes in the request of
the first turn that is kept, so the compacted history is an ordinary one: the summary, then the turns kept
verbatim. The session saves it as a new branch from the conversation's root; the turns it replaced stay
stored as the earlier branch (`/tree`, Ctrl+Up and ←/→ on the first turn show them).

The model is asked for the summary in one plain request holding a transcript of the turns it replaces, not
those turns as messages: no tool definitions are needed (some providers refuse tool calls in a request that
defines no tools), and long tool results are cut (`TOOL_RESULT_CHARS`) so the request stays smaller than the
history it shrinks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from pydantic_ai.direct import model_request_stream
from pydantic_ai.messages import (
    CompactionPart,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    UserPromptPart,
)
from pydantic_ai.models import Model

METADATA_KEY = "xsus_compaction"
"""The CompactionPart's metadata (never sent to the model): how many turns and messages it replaced."""
TOOL_RESULT_CHARS = 2_000
"""A tool result longer than this is cut in the transcript the summary is written from."""
SUMMARY_REQUEST = "Summarize the conversation transcript below so that it can replace it."
"""The first line of the summary request (the demo model answers it with a summary of its own)."""
SUMMARY_INSTRUCTIONS = """\
You write the summary that replaces the earlier part of a conversation between a user and an assistant, \
so that the assistant can go on without it. Keep what matters for continuing: the user's goals and \
preferences, decisions made, facts, names, numbers, file names and code that were settled, results of tool \
calls that are still relevant, and open questions or tasks. Drop greetings, repetition and dead ends. Write \
it as concise markdown, in the third person ("The user asked ..."), in the language of the conversation. \
Reply with the summary only."""


@dataclass(frozen=True)
class Compaction:
    """A compaction done."""

    _: KW_ONLY
    turns: int
    """Turns the summary replaced."""
    summary: str
    """The summary, as saved."""
    kept: int
    """Turns kept verbatim after it."""
    summarized: int = 0
    """Turns the summary stands for in all (more than `turns` when an earlier summary was summarized again)."""


class NothingToCompact(Exception):
    """The conversation has no turn before the ones to keep."""


class CompactionCancelled(Exception):
    """`cancel()` stopped the summary before it was complete; the conversation is unchanged."""


@dataclass(frozen=True)
class Plan:
    """What a compaction replaces and what it keeps."""

    _: KW_ONLY
    older: tuple[ModelMessage, ...]
    """The messages the summary replaces (an earlier summary among them is summarized again)."""
    kept: tuple[ModelMessage, ...]
    """The turns kept verbatim, from the prompt request of the first of them."""
    turns: int
    """How many turns the summary replaces (a turn replaced by an earlier summary counts as summarized there)."""


def prompt_indexes(messages: Sequence[ModelMessage]) -> list[int]:
    """Where each turn's prompt request is."""
    return [
        index
        for index, message in enumerate(messages)
        if isinstance(message, ModelRequest) and any(isinstance(part, UserPromptPart) for part in message.parts)
    ]


def plan(messages: Sequence[ModelMessage], keep_turns: int = 1) -> Plan:
    """Split `messages` into the turns to summarize and the last `keep_turns` to keep (NothingToCompact if
    nothing is left to summarize)."""
    prompts = prompt_indexes(messages)
    summarized = len(prompts) - keep_turns
    if summarized < 1:
        if not prompts:
            raise NothingToCompact("this conversation has no turns yet")
        raise NothingToCompact(
            f"only {len(prompts)} turn{'s' if len(prompts) != 1 else ''} here: nothing before the last to summarize"
        )
    cut = prompts[summarized]
    return Plan(older=tuple(messages[:cut]), kept=tuple(messages[cut:]), turns=summarized)


def summary_of(message: ModelMessage) -> CompactionPart | None:
    """The summary a compacted conversation starts with (a request-side CompactionPart), if `message` holds one."""
    if isinstance(message, ModelRequest):
        for part in message.parts:
            if isinstance(part, CompactionPart) and part.provider_name is None:
                return part
    return None


def summarized_turns(part: CompactionPart) -> int | None:
    """How many turns a summary xsus wrote replaced (None for one from elsewhere)."""
    value = (part.metadata or {}).get(METADATA_KEY, {}).get("turns")
    return value if isinstance(value, int) else None


def compacted(plan: Plan, summary: str, usage: dict[str, Any] | None = None) -> list[ModelMessage]:
    """The compacted history: the summary at the head of the first kept turn's request, then the kept turns.

    `usage` (a `UsageTotals` as a dict: what the replaced turns and the summary's own request cost) rides along in
    the summary's metadata, so the conversation's totals still count it; `kept` says how many messages after the
    summary were answered before it, so their context sizes are not taken for the compacted context's."""
    earlier = next((summarized_turns(p) or 0 for m in plan.older if (p := summary_of(m)) is not None), 0)
    facts: dict[str, Any] = {"turns": plan.turns + earlier, "messages": len(plan.older), "kept": len(plan.kept)}
    if usage is not None:
        facts["usage"] = usage
    part = CompactionPart(content=summary, metadata={METADATA_KEY: facts})
    first, *rest = plan.kept
    assert isinstance(first, ModelRequest)
    parts = [p for p in first.parts if not (isinstance(p, CompactionPart) and p.provider_name is None)]
    return [dataclasses.replace(first, parts=[part, *parts]), *rest]


def summary_request(transcript: str, focus: str = "") -> ModelRequest:
    """The one request that asks the model for the summary."""
    ask = SUMMARY_REQUEST
    if focus.strip():
        ask += f"\nThe user asks the summary to focus on: {focus.strip()}"
    return ModelRequest(
        parts=[UserPromptPart(f"{ask}\n\n<transcript>\n{transcript}\n</transcript>")],
        instructions=SUMMARY_INSTRUCTIONS,
    )


@dataclass
class SummaryWriter:
    """Streams the summary from the model; `text` holds what has come so far (the front end shows its length)."""

    model: Model | str
    settings: dict[str, Any] | None = None
    text: str = ""
    response: ModelResponse | None = None
    """The whole response once streamed (its usage is what the summary cost)."""

    async def write(self, request: ModelRequest) -> AsyncIterator[str]:
        """Each piece of the summary as it streams."""
        async with model_request_stream(self.model, [request], model_settings=self.settings) as stream:
            async for event in stream:
                piece = ""
                if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
                    piece = event.part.content
                elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                    piece = event.delta.content_delta
                if piece:
                    self.text += piece
                    yield piece
            self.response = stream.get()
