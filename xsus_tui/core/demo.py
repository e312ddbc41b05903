"""The embedded offline demo model: a pydantic-ai FunctionModel that streams like a real one.

It needs no network and no key, so `xsus` works anywhere, and it exercises every panel: markdown
(headings, lists, a table, a code block), thinking, real tool calls (two in one step, and one that
fails and is recovered from), streamed structured output, a long reply to interrupt, a failure
mid-stream, and a recap that proves it received the whole earlier conversation.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, Field
from pydantic_ai.exceptions import ModelAPIError
from pydantic_ai.messages import (
    CompactionPart,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaThinkingPart, DeltaToolCall, FunctionModel

from . import demo_text
from .attachments import Prompt
from .compaction import SUMMARY_REQUEST

DEMO_MODEL_NAME = "demo"
_TOKEN = re.compile(r"\s*\S+|\s+")


class TripPlan(BaseModel):
    """A short travel plan: the demo's structured output."""

    destination: str = Field(description="City and country")
    days: int = Field(description="Length of the trip in days")
    budget_eur: float = Field(description="Estimated total budget in euros")
    highlights: list[str] = Field(description="Things to see, one per day")
    packing: list[str] = Field(default_factory=list, description="What to pack")


def demo_delay() -> float:
    """Seconds between streamed tokens (XSUS_DEMO_DELAY overrides; tests use 0)."""
    try:
        return max(0.0, float(os.environ.get("XSUS_DEMO_DELAY", "0.012")))
    except ValueError:
        return 0.012


class DemoStream:
    """One streamed model response; `__call__` is the FunctionModel stream function."""

    def __init__(self, delay: float | None = None) -> None:
        self.delay = demo_delay() if delay is None else delay

    async def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        prompt = _last_prompt(messages)
        steered = _steered_prompts(messages[-1], frozenset(tool.name for tool in info.output_tools))
        returns = _tool_returns(messages[-1], steered=bool(steered))
        word = prompt.lower()
        files = _last_files(messages) if not returns else ()
        if returns and steered:  # a message typed while the tools ran: answer it on the way
            script = self._steered(steered, returns, messages)
        elif returns:
            script = self._after_tools(returns, messages)
        elif prompt.startswith(SUMMARY_REQUEST):
            script = self._text(_summary(prompt))
        elif files:
            script = self._text(_acknowledge(files, prompt))
        elif zone := _time_zone_asked(word):
            script = self._time_in(zone)
        elif re.search(r"\bhelp\b|^\?$|what can you", word):
            script = self._text(demo_text.HELP)
        elif re.search(r"\bnote|approv|save", word):
            script = self._note()
        elif re.search(r"tool|calc|time|math|system", word):
            script = self._tools_first_step()
        elif re.search(r"struct|json|output|plan|trip", word):
            script = self._structured(info)
        elif re.search(r"\blong\b|essay|story|interrupt", word):
            script = self._text(demo_text.long_reply(), thinking="A long answer, so there is time to press Esc.")
        elif re.search(r"\bfail|\berror\b|crash", word):
            script = self._fail()
        elif re.search(r"recap|remember|history|earlier|recall|follow", word):
            script = self._text(_recap(messages, prompt))
        else:
            script = self._text(demo_text.showcase(prompt), thinking=demo_text.SHOWCASE_THINKING)
        async for item in script:
            yield item

    # -- pacing ------------------------------------------------------------------------------------

    async def _pace(self, factor: float = 1.0) -> None:
        if self.delay:
            await asyncio.sleep(self.delay * factor)

    async def _stream_text(self, text: str) -> AsyncIterator[str]:
        for token in _TOKEN.findall(text):
            await self._pace()
            yield token

    async def _stream_thinking(self, text: str) -> AsyncIterator[Any]:
        for token in _TOKEN.findall(text):
            await self._pace(0.5)
            yield {0: DeltaThinkingPart(content=token)}

    async def _stream_call(self, index: int, name: str, call_id: str, args: dict[str, Any]) -> AsyncIterator[Any]:
        text = json.dumps(args)
        yield {index: DeltaToolCall(name=name, tool_call_id=call_id)}
        for start in range(0, len(text), 6):
            await self._pace()
            yield {index: DeltaToolCall(json_args=text[start : start + 6])}

    # -- scripts -----------------------------------------------------------------------------------

    async def _text(self, text: str, *, thinking: str | None = None) -> AsyncIterator[Any]:
        if thinking:
            async for item in self._stream_thinking(thinking):
                yield item
        async for item in self._stream_text(text):
            yield item

    async def _tools_first_step(self) -> AsyncIterator[Any]:
        async for item in self._stream_thinking(demo_text.TOOLS_THINKING):
            yield item
        async for item in self._stream_text("Let me work that out with two tools at once.\n"):
            yield item
        async for item in self._stream_call(10, "calculator", "calc-1", {"expression": "(17 * 23) + 4**3"}):
            yield item
        async for item in self._stream_call(11, "current_time", "time-1", {"timezone": "UTC"}):
            yield item

    async def _steered(
        self, steered: list[str], returns: list[ToolReturnPart], messages: list[ModelMessage]
    ) -> AsyncIterator[Any]:
        """The request carries tool results and a message the user queued meanwhile: take it up, then go on."""
        quoted = " / ".join(" ".join(text.split())[:80] for text in steered)
        zones = [zone for text in steered if (zone := _time_zone_asked(text.lower()))]
        if zones:
            text = f"You asked while I was working: *{quoted}*. I'll ask the clock for {zones[0][0]} too.\n\n"
        else:
            text = (
                f"You asked while I was working: *{quoted}*. I'm the offline demo: I can add the time in a city "
                "(try *the time in Tokyo*), but not that, so I'll carry on.\n\n"
            )
        async for item in self._stream_text(text):
            yield item
        async for item in self._after_tools(returns, messages):
            yield item
        if zones:
            async for item in self._stream_call(
                12, "current_time", f"steer-{len(messages)}", {"timezone": zones[0][1]}
            ):
                yield item

    async def _time_in(self, zone: tuple[str, str]) -> AsyncIterator[Any]:
        async for item in self._stream_text(f"Asking the clock for {zone[0]}.\n"):
            yield item
        async for item in self._stream_call(10, "current_time", "place-1", {"timezone": zone[1]}):
            yield item

    async def _after_tools(self, returns: list[ToolReturnPart], messages: list[ModelMessage]) -> AsyncIterator[Any]:
        names = {part.tool_call_id for part in returns}
        for part in returns:  # a clock asked for on the way (steering) or on its own: say what it told
            if part.tool_call_id.startswith(("steer-", "place-")):
                where = _zone_name(messages, part.tool_call_id)
                async for item in self._stream_text(
                    f"In {where} it is **{_result_of(returns, part.tool_call_id)}**.\n\n"
                ):
                    yield item
        names = {name for name in names if not name.startswith(("steer-", "place-"))}
        if not names:
            return
        if "note-1" in names:
            outcome = _result_of(returns, "note-1")
            done = outcome.startswith("saved to")
            reason = outcome.strip().rstrip(".")
            text = f"Done: the note was {outcome}.\n" if done else f"Understood, I did not save it: {reason}.\n"
            async for item in self._stream_text(text):
                yield item
        elif "calc-1" in names:
            calc, now = (_result_of(returns, "calc-1"), _result_of(returns, "time-1"))
            text = f"**(17 × 23) + 4³ = {calc}**, and it is {now} right now.\n\nNow a harder one, on purpose:\n"
            async for item in self._stream_text(text):
                yield item
            async for item in self._stream_call(10, "calculator", "calc-2", {"expression": "1 / (7 - 7)"}):
                yield item
        elif "calc-2" in names:
            error = _result_of(returns, "calc-2")
            text = f"That failed (`{error}`), as it should. I'll fix the expression and ask the machine too.\n"
            async for item in self._stream_text(text):
                yield item
            async for item in self._stream_call(10, "calculator", "calc-3", {"expression": "1 / (7 - 6)"}):
                yield item
            async for item in self._stream_call(11, "system_info", "sys-1", {}):
                yield item
        else:
            fixed, system = _result_of(returns, "calc-3"), _result_of(returns, "sys-1")
            async for item in self._stream_text(demo_text.tools_summary(fixed, system)):
                yield item

    async def _note(self) -> AsyncIterator[Any]:
        async for item in self._stream_text(
            "Saving a file needs your approval first: press Tab, then y or n (or click) below.\n"
        ):
            yield item
        note = {"title": "xsus demo note", "text": "Tools that change things ask before they run."}
        async for item in self._stream_call(10, "save_note", "note-1", note):
            yield item

    async def _structured(self, info: AgentInfo) -> AsyncIterator[Any]:
        async for item in self._stream_thinking("The user wants structured output; I'll fill in a TripPlan."):
            yield item
        async for item in self._stream_text("Here is a plan as a validated `TripPlan`:\n"):
            yield item
        tool = info.output_tools[0].name if info.output_tools else "final_result"
        async for item in self._stream_call(10, tool, "plan-1", demo_text.TRIP_PLAN):
            yield item

    async def _fail(self) -> AsyncIterator[Any]:
        async for item in self._stream_text("This reply will break off in the middle of a sentence, like a dropped"):
            yield item
        raise ModelAPIError(DEMO_MODEL_NAME, "the demo server dropped the connection (simulated)")


def demo_model(delay: float | None = None) -> FunctionModel:
    """The embedded demo model."""
    return FunctionModel(stream_function=DemoStream(delay), model_name=DEMO_MODEL_NAME)


def _last_prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    if isinstance(part.content, str):
                        return part.content
                    return " ".join(item for item in part.content if isinstance(item, str))
    return ""


def _last_files(messages: list[ModelMessage]) -> tuple[Any, ...]:
    """The files attached to the prompt the model is answering."""
    last = messages[-1] if messages else None
    if not isinstance(last, ModelRequest):
        return ()
    for part in last.parts:
        if isinstance(part, UserPromptPart) and not isinstance(part.content, str):
            return Prompt.from_content(part.content).attachments
    return ()


def _acknowledge(files: tuple[Any, ...], prompt: str) -> str:
    """What the demo says to attached files: that it got each one, and what it can tell of it offline."""
    lines = [f"I got {len(files)} file{'s' if len(files) != 1 else ''}:", ""]
    for attachment in files:
        line = f"- **{attachment.name}** ({attachment.size:,} bytes, {attachment.kind})"
        if attachment.kind == "text":
            body = attachment.items[0].content.split("\n", 1)[-1]
            count = max(0, len(body.splitlines()) - 2)  # (without its fence)
            line += f": {count} line{'s' if count != 1 else ''}"
        lines.append(line)
    them, their = ("them", "their") if len(files) != 1 else ("it", "its")
    lines += ["", f"You asked: {prompt}" if prompt.strip() else f"You didn't ask anything about {them} yet."]
    lines += ["", f"I'm the offline demo model, so I can't read {them}; a real model gets {their} content."]
    return "\n".join(lines) + "\n"


def _tool_returns(message: ModelMessage, *, steered: bool = False) -> list[ToolReturnPart]:
    """The tool results the model is answering, unless the request also carries a new prompt (other than one typed
    while the tools ran, `steered`)."""
    if not isinstance(message, ModelRequest):
        return []
    if not steered and any(isinstance(p, UserPromptPart) for p in message.parts):
        return []
    return [part for part in message.parts if isinstance(part, ToolReturnPart)]


PLACES = {
    "tokyo": "Asia/Tokyo",
    "japan": "Asia/Tokyo",
    "paris": "Europe/Paris",
    "london": "Europe/London",
    "berlin": "Europe/Berlin",
    "new york": "America/New_York",
    "san francisco": "America/Los_Angeles",
    "los angeles": "America/Los_Angeles",
    "sydney": "Australia/Sydney",
    "mumbai": "Asia/Kolkata",
    "delhi": "Asia/Kolkata",
    "singapore": "Asia/Singapore",
    "utc": "UTC",
}
"""The places the demo knows the time zone of (the `current_time` tool takes any IANA name)."""


def _time_zone_asked(text: str) -> tuple[str, str] | None:
    """`(place, IANA zone)` when `text` asks for the time somewhere the demo knows (`the time in Tokyo`)."""
    if not re.search(r"\btime\b|\bclock\b|what time", text):
        return None
    for place, zone in PLACES.items():
        if re.search(rf"\b{place}\b", text):
            return place.title() if place != "utc" else "UTC", zone
    return None


def _zone_name(messages: list[ModelMessage], call_id: str) -> str:
    """The place a `current_time` call was made for, by the zone in its arguments."""
    for message in messages:
        if isinstance(message, ModelResponse):
            for part in message.parts:
                if isinstance(part, ToolCallPart) and part.tool_call_id == call_id:
                    zone = part.args_as_dict().get("timezone", "")
                    place = next((p for p, z in PLACES.items() if z == zone), None)
                    return (place.title() if place and place != "utc" else zone) or "that time zone"
    return "that time zone"


def _steered_prompts(message: ModelMessage, output_tools: frozenset[str] = frozenset()) -> list[str]:
    """The prompts a request carries next to tool results: typed while the tools ran (steering). Not those after
    the results that ended an earlier turn (its output tool's, or calls an interrupt cut short): pydantic-ai sends
    those in one request with the next prompt too."""
    if not isinstance(message, ModelRequest):
        return []
    returns = [p for p in message.parts if isinstance(p, ToolReturnPart)]
    if not returns or any(p.outcome == "interrupted" or p.tool_name in output_tools for p in returns):
        return []
    return [p.content for p in message.parts if isinstance(p, UserPromptPart) and isinstance(p.content, str)]


def _result_of(returns: list[ToolReturnPart], call_id: str) -> str:
    for part in returns:
        if part.tool_call_id == call_id:
            return part.model_response_str(wrap_if_error=False)
    return "(no result)"


def _said(part: UserPromptPart) -> str:
    """A prompt's text, with the names of the files it carried (not their reprs)."""
    if isinstance(part.content, str):
        return part.content
    attached = Prompt.from_content(part.content)
    names = ", ".join(attachment.name for attachment in attached.attachments)
    return f"{attached.text} (with {names})" if names else attached.text


def _recap(messages: list[ModelMessage], prompt: str) -> str:
    prompts = [
        p for m in messages[:-1] if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart)
    ]
    replies = [p.content for m in messages if isinstance(m, ModelResponse) for p in m.parts if isinstance(p, TextPart)]
    summaries = [p for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, CompactionPart)]
    if not prompts:
        return "This is the start of our conversation: I have no earlier messages. Ask me something first."
    lines = [
        f"I received **{len(messages) - 1} earlier messages**: {len(prompts)} prompt{'s' if len(prompts) != 1 else ''} "
        f"and {sum(len(r) for r in replies):,} characters of my own replies"
        + (
            f", after a summary of the earlier conversation ({len(summaries[-1].content or ''):,} characters)."
            if summaries
            else "."
        ),
        "",
        "| # | You asked |",
        "|---|---|",
    ]
    lines += [f"| {i} | {' '.join(_said(p).split())[:60].replace('|', '/')} |" for i, p in enumerate(prompts, 1)]
    if replies:
        last = replies[-1].strip()
        lines += [
            "",
            f"My last reply ran to {len(last):,} characters and ended with:",
            "",
            "> " + " ".join(last[-160:].split()),
        ]
    return "\n".join(lines) + "\n"


def _summary(request: str) -> str:
    """The demo's summary for compaction: what the transcript asked, turn by turn (a real model writes prose)."""
    transcript = request.partition("<transcript>")[2]
    asked = re.findall(r"\*\*You\*\*\n\n(.+?)(?:\n\n|$)", transcript, flags=re.S)
    earlier = "**Summary of the earlier conversation**" in transcript
    lines = [
        f"The user and the demo assistant talked through {len(asked)} turn{'s' if len(asked) != 1 else ''}"
        + (", after an earlier summary" if earlier else "")
        + ". The user asked:",
        "",
    ]
    lines += [f"- {' '.join(text.split())[:80]}" for text in asked]
    return "\n".join(lines) + "\n"
