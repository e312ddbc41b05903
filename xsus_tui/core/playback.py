"""Playing a recording back offline: a ChatAgent whose model, tools and output repeat what a recorded turn did.

`Playback(recording, speed=...)` builds a pydantic-ai `FunctionModel` (with the recorded model's name) whose n-th
request of the turn streams the recorded response n in the recorded chunks (text deltas, thinking deltas, tool
call and output argument chunks), each at its recorded time divided by `speed` (at `MAX` as fast as it goes).
The agent offers the recorded tools with their recorded definitions and instructions; a tool call returns the
recorded result for its call id (a call that was retried raises `ModelRetry` with the recorded error, so the
model "sees" the same); a tool that asked for approval asks again, and the recorded decision is given back at its
recorded time. The structured output is offered as the recorded output tools (`ToolOutput` of a dict, with the
recorded schema): an attempt the recording rejected is rejected again with the recorded error, and the accepted
one gives the recorded value. A request that failed before its first event and was retried fails again with an
error of the same kind, asking for the recorded (scaled) delay. Each response reports the recorded usage, model
and finish reason, so token counts and prices are those of the recording.

Where the recording stops (a turn that was interrupted, failed, or never ended), the replay stops at the same
point and ends the same way: it cancels the turn (`attach` gives it the session's `cancel`) or raises the
recorded error. Nothing here reads the clock of the recording, the locale or the environment, and no provider is
ever called: a recording replays the same on any machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pydantic_core
from pydantic_ai import Agent, ModelRetry, StructuredDict, Tool, ToolOutput
from pydantic_ai import exceptions as exc
from pydantic_ai.capabilities import HandleDeferredToolCalls, PrepareOutputTools, PrepareTools
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import (
    AgentInfo,
    DeltaThinkingPart,
    DeltaToolCall,
    FunctionModel,
    FunctionStreamedResponse,
)
from pydantic_ai.tools import DeferredToolRequests, DeferredToolResults, ToolDefinition, ToolDenied
from pydantic_ai.usage import RequestUsage

from . import compat
from . import events as ev
from .agents import ChatAgent
from .recording import Recording

MAX = math.inf
"""The speed at which nothing waits: every event as soon as the one before it is through (`--speed max`)."""

STREAMED = (ev.TextDelta, ev.ThinkingDelta, ev.ToolCallStarted, ev.ToolArgsDelta, ev.OutputStarted, ev.OutputPartial)
"""The events that came from a model response's stream (the others come from running tools, validating the
output, the session)."""


@dataclass
class _Response:
    """One model request of the recorded turn, and what came back."""

    number: int
    attempt: int
    sent: float
    """When the request went out (seconds since the prompt)."""
    model: str
    tools: tuple[dict[str, Any], ...]
    instructions: str | None
    settings: dict[str, Any] | None
    fault: ev.Retrying | None = None
    """The request failed before its first event and was retried after this."""
    stream: list[ev.Timed] = field(default_factory=list)
    """The events its stream produced, in order."""
    usage: ev.ResponseUsage | None = None
    ended: float | None = None
    """When the response was complete (its usage reported)."""
    steers: list[str] = field(default_factory=list)
    """Messages typed while the turn ran that reached it after this response (steering): queued again once it has
    streamed, so the replay delivers them at the same request."""


class RecordedStop(exc.UserError):
    """Raised where a recorded turn failed, with the recorded error (shown as it was)."""


class Playback:
    """One recorded turn, played back: `chat_agent` runs it; `attach(session)` lets it interrupt the turn where the
    recording was interrupted."""

    def __init__(self, recording: Recording, *, speed: float = 1.0) -> None:
        self.recording = recording
        self.speed = speed
        self.responses: list[_Response] = []
        self.results: dict[str, ev.ToolCallFinished] = {}
        self.finished_at: dict[str, float] = {}
        self.approvals: dict[str, float] = {}
        """Calls that asked for approval, with when the decision came (the time of the call's next event)."""
        self.rejected: dict[str, ev.OutputRejected] = {}
        self.validated: ev.OutputValidated | None = None
        self.ending = recording.ending
        self._cancel: Callable[[], None] | None = None
        self._session: Any = None
        self._tasks: set[asyncio.Future[None]] = set()
        self._origin: float | None = None
        self._chat_agent: ChatAgent | None = None
        self._served = 0
        """How many requests of the turn the model has been sent (retried attempts included)."""
        self._answered = 0
        """How many responses have streamed."""
        self._read(recording.events)
        self.stop = self._stop_point(recording.events)

    # -- reading the recording -------------------------------------------------------------------------------

    def _read(self, events: Sequence[ev.Timed]) -> None:
        current: _Response | None = None
        for index, timed in enumerate(events):
            event = timed.event
            if isinstance(event, ev.RequestSent):
                current = _Response(
                    number=event.number,
                    attempt=event.attempt,
                    sent=timed.t,
                    model=event.model,
                    tools=event.tools,
                    instructions=event.instructions,
                    settings=event.settings,
                )
                self.responses.append(current)
            elif isinstance(event, ev.Retrying) and current is not None and not current.stream:
                if event.reason == "stalled":  # given up for its silence, then asked again: the replay just answers
                    self.responses.remove(current)
                    current = None
                else:
                    current.fault = event
            elif isinstance(event, STREAMED) and current is not None:
                current.stream.append(timed)
            elif isinstance(event, ev.ResponseUsage) and current is not None and current.usage is None:
                current.usage, current.ended = event, timed.t
            elif isinstance(event, ev.ToolCallFinished):
                self.results[event.call_id] = event
                self.finished_at[event.call_id] = timed.t
            elif isinstance(event, ev.ApprovalRequested):
                following = next((later.t for later in events[index + 1 :] if _about(later.event, event.call_id)), None)
                self.approvals[event.call_id] = following if following is not None else math.inf
            elif isinstance(event, ev.OutputRejected):
                self.rejected[event.call_id] = event
            elif isinstance(event, ev.Steered) and self.responses:
                self.responses[-1].steers.append(event.text)
            elif isinstance(event, ev.OutputValidated):
                self.validated = event

    def _stop_point(self, events: Sequence[ev.Timed]) -> str | None:
        """Where a turn that did not finish stopped: in the last response's stream ("stream"), or after it (None:
        at the first thing the recording has no answer for)."""
        if isinstance(self.ending, ev.TurnFinished):
            return None
        content = [t.event for t in events if not isinstance(t.event, ev.SIDE_EVENTS + _ENDINGS)]
        return "stream" if content and isinstance(content[-1], STREAMED) else None

    @property
    def model_settings(self) -> dict[str, Any] | None:
        """The settings the turn's first request was sent with (those not recorded left out), for the session."""
        settings = self.responses[0].settings if self.responses else None
        kept = {k: v for k, v in (settings or {}).items() if v != "(not recorded)"}
        return kept or None

    @property
    def idle_timeout(self) -> float:
        """Seconds of silence the session may allow: the recording's longest (scaled), with room to spare, so the
        replay is never given up for a silence the recording had."""
        times = [t.t for t in self.recording.events]
        longest = max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)
        return 60.0 if self.speed == MAX else max(60.0, 2 * longest / self.speed + 10)

    @property
    def retries(self) -> int:
        """Retries the session allows: as recorded when a request was retried (3 otherwise)."""
        return max((r.fault.retries for r in self.responses if r.fault is not None), default=3)

    @property
    def answered(self) -> list[_Response]:
        """The requests that got a response (a retried attempt gets none)."""
        return [r for r in self.responses if r.fault is None]

    # -- timing ----------------------------------------------------------------------------------------------

    async def _until(self, t: float) -> None:
        """Wait until recorded time `t` (seconds since the prompt), scaled; the clock starts at the first request."""
        if self.speed == MAX or not math.isfinite(t):
            await asyncio.sleep(0)
            return
        now = time.monotonic()
        if self._origin is None:
            self._origin = now - t / self.speed
        delay = self._origin + t / self.speed - now
        await asyncio.sleep(max(0.0, delay))

    # -- where the recording ends ----------------------------------------------------------------------------

    def attach(self, session: Any) -> None:
        """The session running the replay: where the recorded turn was interrupted, the replay calls its `cancel`."""
        self._session, self._cancel = session, session.cancel

    async def _stop(self) -> None:
        """End the turn as the recording ended: interrupted (or never ended: the process was stopped) or failed."""
        ending = self.ending
        if isinstance(ending, ev.TurnFailed):
            raise RecordedStop(ending.error)
        if self._cancel is None:
            raise RecordedStop("the recording stops here (interrupted), and the replay was not attached to a session")
        self._cancel()
        await asyncio.Event().wait()  # the run is cancelled from here

    # -- the model -------------------------------------------------------------------------------------------

    async def _stream(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        index = self._served
        self._served += 1
        if index >= len(self.responses):
            if isinstance(self.ending, ev.TurnFinished):  # a prompt typed after the replay
                yield "(This is a replay: the recording has nothing more to say.)"
                return
            await self._stop()
        response = self.responses[index]
        await self._until(response.sent)
        if response.fault is not None:
            raise _fault(response.fault, self.speed, response.model)
        self._answered += 1
        calls: dict[str, int] = {}  # each tool call's and thinking block's part, by call id
        thinking: int | None = None
        text_output = False
        for timed in response.stream:
            await self._until(timed.t)
            event = timed.event
            item: Any
            if isinstance(event, ev.ThinkingDelta):
                if thinking is None:  # a new thinking block
                    thinking = calls[f"thinking {len(calls)}"] = len(calls)
                item = {thinking: DeltaThinkingPart(content=event.text)}
            else:
                thinking = None
                if isinstance(event, ev.TextDelta):
                    item = event.text
                elif isinstance(event, ev.OutputStarted) and event.call_id.startswith("text-output-"):
                    text_output = True
                    continue
                elif isinstance(event, ev.OutputPartial) and text_output:
                    item = event.delta
                elif isinstance(event, ev.ToolCallStarted | ev.OutputStarted):
                    calls[event.call_id] = len(calls)
                    args = getattr(event, "args", "") or None
                    item = {calls[event.call_id]: DeltaToolCall(event.tool_name, args, tool_call_id=event.call_id)}
                elif isinstance(event, ev.ToolArgsDelta | ev.OutputPartial):
                    if event.call_id not in calls:
                        continue
                    item = {calls[event.call_id]: DeltaToolCall(json_args=event.delta)}
                else:
                    continue
            yield item
        if index == len(self.responses) - 1 and (self.stop == "stream" or not response.stream):
            await self._stop()  # where the recording stopped (before a word came back: the prompt is given back)
        if response.ended is not None:
            await self._until(response.ended)
        self._report_as_recorded(response)
        if response.steers and self._session is not None and hasattr(self._session, "queue_message"):
            for text in response.steers:
                self._session.queue_message(text)

    def _report_as_recorded(self, response: _Response) -> None:
        """The response reports the recorded usage, model and finish reason: tokens and price are the recording's."""
        live, usage = self._model.live, response.usage
        if live is None or usage is None:
            return
        recorded = RequestUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
        )
        compat.report_usage(live, recorded, usage.model_name)
        live.finish_reason = usage.finish_reason  # type: ignore[assignment]
        live.recorded_provider = usage.provider_name

    # -- tools, approvals, output ----------------------------------------------------------------------------

    async def _call(self, ctx: Any, **_: Any) -> Any:
        call_id = ctx.tool_call_id
        result = self.results.get(call_id)
        if result is None or result.outcome == "interrupted":
            await self._stop()
        assert result is not None
        await self._until(self.finished_at[call_id])
        # Calls that ran together finish in the recorded order (a result recorded after another, a denial say, waits
        # for it to be through): deterministic, whatever the speed.
        for _ in range(4 * list(self.results).index(call_id)):
            await asyncio.sleep(0)
        if result.outcome == "success":  # the value the model was sent (an int, a dict...), else the text shown
            sent = self._sent_back(call_id)
            return sent if sent is not None else result.result
        if result.outcome == "failed":
            raise exc.ToolFailed(result.error or "failed")
        raise ModelRetry(result.error or "retry")

    async def _decide(self, ctx: Any, requests: DeferredToolRequests) -> DeferredToolResults | None:
        """Approvals: decided as recorded, at the recorded moment. Attached to a session, through its `decide` (as a
        person's click: the session waits as for one, and its watchdog doesn't count the wait as silence)."""
        if not requests.approvals:
            return None
        decisions: dict[str, tuple[float, bool | ToolDenied | None]] = {}
        for part in requests.approvals:
            call_id = part.tool_call_id
            when, result = self.approvals.get(call_id, math.inf), self.results.get(call_id)
            if result is None or not math.isfinite(when):  # the recording stops while this call waits
                decisions[call_id] = (self.recording.duration, None)
            elif result.outcome == "denied":
                decisions[call_id] = (when, ToolDenied(result.error or "The user denied this tool call."))
            else:
                decisions[call_id] = (when, True)
        if self._session is None:
            for when, decision in decisions.values():
                await self._until(when)
                if decision is None:
                    await self._stop()
            return DeferredToolResults(approvals={call_id: d for call_id, (_, d) in decisions.items() if d is not None})
        for call_id, (when, decision) in decisions.items():
            task = asyncio.ensure_future(self._decide_at(call_id, when, decision))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return None  # the session's own handler waits for the decisions

    async def _decide_at(self, call_id: str, when: float, decision: bool | ToolDenied | None) -> None:
        await self._until(when)
        if decision is None:  # the recording stops while the call waits: it ends there, interrupted
            if self._cancel is not None:
                self._cancel()
        elif isinstance(decision, ToolDenied):
            self._session.decide(call_id, False, decision.message)
        else:
            self._session.decide(call_id, True)

    def _validate(self, ctx: Any, output: Any) -> Any:
        if getattr(ctx, "partial_output", False):
            return output
        call_id = getattr(ctx, "tool_call_id", None)
        if call_id is not None and (rejected := self.rejected.get(call_id)) is not None:
            sent = self._sent_back(call_id)
            raise _validation_error(sent) or ModelRetry(rejected.error)
        if self._answered < len(self.answered):  # the turn went on after this answer: it was not taken
            sent = self._feedback(self.answered[self._answered].number)
            raise _validation_error(sent) or ModelRetry(sent if isinstance(sent, str) else json.dumps(sent))
        if isinstance(self.ending, ev.TurnFinished):
            return self.ending.output
        return self.validated.value if self.validated is not None else output

    def _sent_back(self, call_id: str) -> Any:
        """What the model was sent back about a call (its result or retry part's content), as recorded."""
        for timed in self.recording.events:
            if isinstance(timed.event, ev.RequestSent):
                for message in timed.event.messages:
                    for part in getattr(message, "parts", ()):
                        if getattr(part, "tool_call_id", None) == call_id and part.part_kind != "tool-call":
                            return part.content
        return None

    def _feedback(self, number: int) -> Any:
        """The feedback request `number` sent the model about the answer before it (validation errors, or a text)."""
        request = next((r for r in self.recording.events if _is_request(r.event, number)), None)
        messages = request.event.messages if request is not None else ()
        for part in getattr(messages[-1], "parts", ()) if messages else ():
            if getattr(part, "tool_call_id", None) is not None:
                continue
            content = getattr(part, "content", None)
            if isinstance(content, str) and (found := _FEEDBACK.search(content)):  # feedback, as a user prompt
                if found.group("kind") == "validation_errors":
                    with contextlib.suppress(ValueError):
                        return json.loads(found.group("body"))
                return found.group("body")
            if getattr(part, "retry", None) is not None:
                return content
        return None

    def _prepare(self, kind: str) -> Callable[[Any, list[ToolDefinition]], Any]:
        async def prepare(ctx: Any, defs: list[ToolDefinition]) -> list[ToolDefinition]:
            if not self.responses:
                return defs
            index = min(self._served, len(self.responses) - 1)
            offered = [t for t in self.responses[index].tools if (t.get("kind") == "output") == (kind == "output")]
            by_name = {d.name: d for d in defs}
            prepared = []
            for tool in offered:
                if (found := by_name.get(tool["name"])) is not None:
                    prepared.append(_as_recorded(found, tool))
            return prepared

        return prepare

    def _instructions(self) -> str | None:
        index = min(self._served, len(self.responses) - 1)
        return self.responses[index].instructions if self.responses else None

    def _retry_budgets(self) -> dict[str | None, int]:
        """The retry budgets the recorded requests show (each retry tells the model its limit), by tool name (None:
        the output's); the replay takes the same retries, and its requests say the same."""
        budgets: dict[str | None, int] = {}
        for timed in self.recording.events:
            if isinstance(timed.event, ev.RequestSent):
                for message in timed.event.messages:
                    for part in getattr(message, "parts", ()):
                        retry = getattr(part, "retry", None)
                        if getattr(retry, "max_retries", None) is not None:
                            budgets[getattr(part, "tool_name", None)] = retry.max_retries
        return budgets

    # -- the agent -------------------------------------------------------------------------------------------

    @property
    def chat_agent(self) -> ChatAgent:
        """The ChatAgent that replays the turn (built once)."""
        if self._chat_agent is not None:
            return self._chat_agent
        first = self.responses[0] if self.responses else None
        system, _, name = (first.model if first is not None else "").partition(":")
        self._model = _PlaybackModel(stream_function=self._stream, model_name=name or "replay")
        self._model.recorded_system = system or "replay"  # the recorded provider, for the recorded request
        budgets = self._retry_budgets()
        tools: dict[str, dict[str, Any]] = {}
        for response in self.responses:
            for tool in response.tools:
                tools.setdefault(tool["name"], tool)
        function_tools = []
        output_types: list[Any] = [str]
        output_tools: dict[str, dict[str, Any]] = {}
        for name, tool in tools.items():
            if tool.get("kind") == "output":
                output_types.append(
                    ToolOutput(
                        _ANY_OBJECT, name=name, description=tool.get("description"), max_retries=budgets.get(name)
                    )
                )
                output_tools[name] = tool.get("parameters") or {}
            else:
                made = Tool.from_schema(
                    self._call, name, tool.get("description"), tool.get("parameters") or {}, takes_ctx=True
                )
                made.requires_approval = tool.get("kind") == "unapproved"
                made.max_retries = budgets.get(name, made.max_retries)
                function_tools.append(made)
        for timed in self.recording.events:  # the schema the output panel was given
            if isinstance(timed.event, ev.OutputStarted) and timed.event.tool_name in output_tools:
                output_tools[timed.event.tool_name] = timed.event.schema or output_tools[timed.event.tool_name]
        agent: Agent[None, Any] = Agent(
            self._model,
            output_type=output_types if len(output_types) > 1 else str,
            tools=function_tools,
            instructions=self._instructions,
            capabilities=[
                HandleDeferredToolCalls(handler=self._decide),
                PrepareTools(self._prepare("function")),
                PrepareOutputTools(self._prepare("output")),
            ],
            name="replay",
            retries={"output": budgets.get(None, 1)},
        )
        agent.output_validator(self._validate)
        label = f"replay of {self.recording.model or 'a recording'}"
        text_output = next(  # an output the model wrote as text (NativeOutput, PromptedOutput): to its panel
            (
                t.event.schema
                for t in self.recording.events
                if isinstance(t.event, ev.OutputStarted) and t.event.call_id.startswith("text-output-")
            ),
            None,
        )
        self._chat_agent = ChatAgent(agent=agent, label=label, output_tools=output_tools, text_output=text_output)
        return self._chat_agent


_ANY_OBJECT = StructuredDict({"type": "object", "additionalProperties": True}, name="recorded")
"""Any JSON object: the recorded schema is what the model is shown (`_prepare`); the recording says what is valid."""
_ENDINGS = (ev.TurnFinished, ev.TurnCancelled, ev.TurnFailed)


def _about(event: Any, call_id: str) -> bool:
    return getattr(event, "call_id", None) == call_id and not isinstance(event, ev.ApprovalRequested)


_FEEDBACK = re.compile(r"<pyai:(?P<kind>validation_errors|retry_feedback)>\n(?P<body>.*)\n</pyai:(?P=kind)>", re.S)


def _is_request(event: Any, number: int) -> bool:
    return isinstance(event, ev.RequestSent) and event.number == number


def _validation_error(sent: Any) -> pydantic_core.ValidationError | None:
    """The validation errors the model was sent back (a list of pydantic errors), to raise them again."""
    if not (isinstance(sent, list) and sent and all(isinstance(e, dict) and "type" in e for e in sent)):
        return None
    errors = [
        {**e, "ctx": {"error": str(e.get("msg", "")).removeprefix("Invalid JSON: ")}}
        if e["type"] == "json_invalid" and "ctx" not in e
        else e
        for e in sent
    ]
    try:
        return pydantic_core.ValidationError.from_exception_data("recorded", errors)
    except Exception:  # an error type pydantic doesn't know: the message alone, through ModelRetry
        return None


def _as_recorded(found: ToolDefinition, tool: dict[str, Any]) -> ToolDefinition:
    return replace(found, description=tool.get("description"), parameters_json_schema=tool.get("parameters") or {})


class _PlaybackModel(FunctionModel):
    """A FunctionModel that keeps its streaming response at hand, to report the recorded usage on it."""

    live: Any = None
    recorded_system: str = "replay"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.live = None
        self.recorded_system = "replay"

    @property
    def system(self) -> str:  # the recorded provider (FunctionModel names itself "function")
        return self.recorded_system

    @asynccontextmanager
    async def request_stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:  # type: ignore[override]
        async with super().request_stream(*args, **kwargs) as response:
            response.__class__ = _PlaybackResponse  # the same response, with a provider name of its own
            self.live = response
            yield response


class _PlaybackResponse(FunctionStreamedResponse):
    recorded_provider: str | None = None

    @property
    def provider_name(self) -> str | None:  # type: ignore[override]
        return getattr(self, "recorded_provider", None)


_HTTP = re.compile(r"^(?P<model>.*) answered HTTP (?P<status>\d+)(?:: (?P<body>.*))?$")


def _fault(retrying: ev.Retrying, speed: float, model: str) -> BaseException:
    """An error of the recorded kind (so the retry layer gives the same reason), asking for the recorded delay."""
    delay = 0.0 if speed == MAX else retrying.delay / speed
    reason, detail = retrying.reason, retrying.detail
    name = model.partition(":")[2] or model
    if match := re.fullmatch(r"HTTP (\d+)", reason):
        found = _HTTP.match(detail)
        body = found.group("body") if found else None
        return exc.ModelHTTPError(int(match.group(1)), found.group("model") if found else name, body, retry_after=delay)
    if reason == "no answer":  # the retry layer's own open timeout
        return _with_retry_after(TimeoutError(), delay)
    if reason == "connection":
        return _with_retry_after(ConnectionError(detail.removeprefix("Connection failed: ")), delay)
    if reason == "timed out":
        timeout = exc.ModelRequestTimeout(name, 0.0)
        timeout.message, timeout.args = detail or reason, (detail or reason,)
        return _with_retry_after(timeout, delay)
    kinds: dict[str, type[exc.ModelAPIError]] = {
        "rate limited": exc.ModelRateLimitError,
        "overloaded": exc.ModelOverloadedError,
        "server error": exc.ModelServerError,
    }
    kind = kinds.get(reason, exc.ModelServerError)
    return kind(name, detail or reason, retry_after=delay)


def _with_retry_after(error: BaseException, delay: float) -> BaseException:
    error.retry_after = delay  # type: ignore[attr-defined] # read by RetryPolicy.delay, as a provider's Retry-After
    return error
