"""pydantic-ai agent events -> our UI-neutral turn events.

Built on `pydantic_ai.ui.UIEventStream`, the base pydantic-ai's own web adapters use: it dispatches
each part start / delta / end, tool call and result, and on an error or a cancellation it closes the
part left open and the tool calls still pending (as failed or interrupted) before the final hook.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pydantic_core
from pydantic_ai.exceptions import RunCancelled
from pydantic_ai.messages import (
    DeferredToolRequestsEvent,
    EnqueuedMessagesEvent,
    FinalResultEvent,
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    ModelRequest,
    ModelResponse,
    OutputToolResultEvent,
    PartDeltaEvent,
    PartStartEvent,
    RetryPromptPart,
    TextPart,
    TextPartDelta,
    ThinkingPart,
    ThinkingPartDelta,
    ToolCallPart,
    ToolCallPartDelta,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.run import AgentRunResultEvent
from pydantic_ai.ui import NativeEvent, UIEventStream

from . import compat
from .errors import describe_error
from .events import (
    SIDE_EVENTS,
    ApprovalRequested,
    OutputPartial,
    OutputRejected,
    OutputStarted,
    OutputValidated,
    ResponseStarted,
    Steered,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCallFinished,
    ToolCallRunning,
    ToolCallStarted,
    TurnCancelled,
    TurnEvent,
    TurnFailed,
    TurnFinished,
    TurnStats,
)
from .sanitize import SurrogateJoiner, storable, storable_value

_STORABLE_ALREADY = (TextDelta, ThinkingDelta, OutputPartial, *SIDE_EVENTS)


def _args_text(args: str | dict[str, Any] | None) -> str:
    if args is None:
        return ""
    return args if isinstance(args, str) else json.dumps(args)


def jsonable(value: Any) -> Any:
    """A structured output value as plain JSON data (for display and export)."""
    return pydantic_core.to_jsonable_python(value, fallback=repr)


@dataclass
class TurnTranslator(UIEventStream[None, TurnEvent, Any, Any]):
    """Translates one run's agent events; `transform_stream(events)` yields `TurnEvent`s.

    It always ends with exactly one of TurnFinished, TurnCancelled or TurnFailed.
    """

    output_tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The agent's output tools by name with their JSON schemas (see `agents.output_tools`)."""
    usage_before: Any = None
    text_output: dict[str, Any] | None = None
    """Schema of an output the model writes as text (NativeOutput / PromptedOutput): text goes to a panel."""
    key_env: str | None = None
    """The environment variable holding the model's API key, for error messages."""
    """The conversation's usage before this turn, so stats count this turn only."""
    started_at: float = field(default_factory=time.perf_counter)
    """When the prompt was sent (perf_counter seconds), for time to first token."""

    first_token_at: float | None = None
    error: BaseException | None = None
    """The exception the run failed with, if it failed."""
    _text: list[str] = field(default_factory=list)
    _pending_start: ToolCallPart | None = None
    _output_calls: dict[str, list[str]] = field(default_factory=dict)
    _output_schemas: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    _text_output_call: str | None = None
    _tool_started: dict[str, float] = field(default_factory=dict)
    events_seen: int = 0
    """How many agent events this translator has handled (a checkpoint is written only when it changed)."""
    responses_started: int = 0
    """Model responses that began streaming in this run (counted from their first part)."""
    _live: dict[int, list[Any]] = field(default_factory=dict)
    """The parts of the response streaming now, by index: the part as it started, then its deltas."""
    _text_joiner: SurrogateJoiner = field(default_factory=SurrogateJoiner)
    _thinking_joiner: SurrogateJoiner = field(default_factory=SurrogateJoiner)

    def encode_event(self, event: TurnEvent) -> str:  # pragma: no cover - we never encode to a wire format
        return repr(event)

    @property
    def partial_text(self) -> str:
        return "".join(self._text)

    @property
    def shown_anything(self) -> bool:
        """Whether any part of a response has streamed yet."""
        return self.first_token_at is not None

    @staticmethod
    def _text_only(parts: dict[int, list[Any]]) -> bool:
        kinds = {type(live[0]) for live in parts.values()}
        return TextPart in kinds and not any(issubclass(kind, ToolCallPart) for kind in kinds)

    def live_response(self) -> ModelResponse | None:
        """The response streaming now, as far as it has come (`state='interrupted'`), for a checkpoint."""
        if not self._live:
            return None
        return ModelResponse(
            parts=[_materialize(self._live[index]) for index in sorted(self._live)], state="interrupted"
        )

    def started(self, call_id: str) -> None:
        """A tool call starts executing now (after its approval), for its duration."""
        self._tool_started[call_id] = time.perf_counter()

    @property
    def tools_running(self) -> bool:
        """Whether a tool is executing (the stream is legitimately quiet meanwhile)."""
        return bool(self._tool_started)

    def stats(self, usage: Any = None) -> TurnStats:
        now = time.perf_counter()

        def count(name: str) -> int:
            if usage is None:
                return 0
            return max(0, (getattr(usage, name, 0) or 0) - (getattr(self.usage_before, name, 0) or 0))

        return TurnStats(
            input_tokens=count("input_tokens"),
            output_tokens=count("output_tokens"),
            requests=count("requests"),
            ttft=None if self.first_token_at is None else self.first_token_at - self.started_at,
            duration=now - self.started_at,
        )

    # -- dispatch ---------------------------------------------------------------------------------

    async def handle_event(self, event: NativeEvent) -> AsyncIterator[TurnEvent]:
        """Every event, with its text made storable (text and thinking deltas are made so as they stream)."""
        if (
            type(event) is PartDeltaEvent
            and type(delta := event.delta) is TextPartDelta
            and self._pending_start is None
            and self.text_output is None
        ):
            # Nearly every event of a reply: handled here, O(1), without the generic dispatch's four generator
            # layers (`_handle_event`, `UIEventStream.handle_event`, `handle_part_delta`, `handle_text_delta`).
            self.events_seen += 1
            if (live := self._live.get(event.index)) is not None:
                live.append(delta)
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            if delta.content_delta and (text := self._text_joiner.feed(delta.content_delta)):
                self._text.append(text)
                yield TextDelta(text)
            return
        async for e in self._handle_event(event):
            yield e if isinstance(e, _STORABLE_ALREADY) else storable_value(e)

    async def _handle_event(self, event: NativeEvent) -> AsyncIterator[TurnEvent]:
        if isinstance(event, SIDE_EVENTS):  # the session's own events, slipped into the stream where they happened
            yield event
            return
        self.events_seen += 1
        if isinstance(event, PartStartEvent):
            if event.index == 0:
                self.responses_started += 1
                if self.responses_started > 1:
                    yield ResponseStarted(rejected_text=self.text_output is None and self._text_only(self._live))
                self._live = {}
            self._live[event.index] = [event.part]
        elif isinstance(event, PartDeltaEvent) and (live := self._live.get(event.index)) is not None:
            live.append(event.delta)
        if self.first_token_at is None and isinstance(event, PartStartEvent | PartDeltaEvent):
            self.first_token_at = time.perf_counter()
        if self._pending_start is not None:
            # A tool call's start is held back one event: pydantic-ai announces that a call is the
            # structured output with a FinalResultEvent right after the call's PartStartEvent.
            part, self._pending_start = self._pending_start, None
            if isinstance(event, FinalResultEvent) and event.tool_call_id == part.tool_call_id:
                async for e in self._start_output(part):
                    yield e
                return
            yield ToolCallStarted(call_id=part.tool_call_id, tool_name=part.tool_name, args=_args_text(part.args))
        async for e in super().handle_event(event):
            yield e

    async def handle_enqueued_messages(self, event: EnqueuedMessagesEvent) -> AsyncIterator[TurnEvent]:
        """A message queued while the reply ran reached the run (steering): the next response answers it, and
        is not a rejection of the text before it."""
        text = "\n\n".join(
            part.content if isinstance(part.content, str) else " ".join(c for c in part.content if isinstance(c, str))
            for message in event.messages
            if isinstance(message, ModelRequest)
            for part in message.parts
            if isinstance(part, UserPromptPart)
        )
        self._live = {}
        yield Steered(text, enqueue_id=event.enqueue_id)

    async def after_stream(self) -> AsyncIterator[TurnEvent]:
        if self._pending_start is not None:
            part, self._pending_start = self._pending_start, None
            yield ToolCallStarted(call_id=part.tool_call_id, tool_name=part.tool_name, args=_args_text(part.args))

    # -- text and thinking --------------------------------------------------------------------------

    async def handle_text_start(self, part: TextPart, follows_text: bool = False) -> AsyncIterator[TurnEvent]:
        if self.text_output is not None:
            async for e in self._start_text_output(part.content):
                yield e
            return
        if text := self._text_joiner.feed(part.content):
            self._text.append(text)
            yield TextDelta(text)

    async def handle_text_end(self, part: TextPart, followed_by_text: bool = False) -> AsyncIterator[TurnEvent]:
        if text := self._text_joiner.flush():
            self._text.append(text)
            yield TextDelta(text)

    async def handle_text_delta(self, delta: TextPartDelta) -> AsyncIterator[TurnEvent]:
        if self.text_output is not None and self._text_output_call is not None:
            if delta.content_delta:
                yield self._output_partial(self._text_output_call, delta.content_delta)
            return
        if delta.content_delta and (text := self._text_joiner.feed(delta.content_delta)):
            self._text.append(text)
            yield TextDelta(text)

    async def handle_thinking_start(
        self, part: ThinkingPart, follows_thinking: bool = False
    ) -> AsyncIterator[TurnEvent]:
        if text := self._thinking_joiner.feed(part.content):
            yield ThinkingDelta(text)

    async def handle_thinking_end(
        self, part: ThinkingPart, followed_by_thinking: bool = False
    ) -> AsyncIterator[TurnEvent]:
        if text := self._thinking_joiner.flush():
            yield ThinkingDelta(text)

    async def handle_thinking_delta(self, delta: ThinkingPartDelta) -> AsyncIterator[TurnEvent]:
        if delta.content_delta and (text := self._thinking_joiner.feed(delta.content_delta)):
            yield ThinkingDelta(text)

    # -- tool calls ----------------------------------------------------------------------------------

    async def handle_tool_call_start(self, part: ToolCallPart) -> AsyncIterator[TurnEvent]:
        if part.tool_name in self.output_tools:
            async for e in self._start_output(part):
                yield e
        else:
            self._pending_start = part

    async def handle_tool_call_end(self, part: ToolCallPart) -> AsyncIterator[TurnEvent]:
        # Only reached with the start still held back when an error closes the part.
        async for e in self.after_stream():
            yield e

    async def handle_tool_call_delta(self, delta: ToolCallPartDelta) -> AsyncIterator[TurnEvent]:
        call_id = delta.tool_call_id or getattr(compat.open_part(self), "tool_call_id", None)
        text = _args_text(delta.args_delta)
        if call_id is None or not text:
            return
        if call_id in self._output_calls:
            yield self._output_partial(call_id, text)
        else:
            yield ToolArgsDelta(call_id=call_id, delta=text)

    async def handle_function_tool_call(self, event: FunctionToolCallEvent) -> AsyncIterator[TurnEvent]:
        part = event.part
        self._tool_started[part.tool_call_id] = time.perf_counter()
        try:
            args: dict[str, Any] | str = part.args_as_dict(raise_if_invalid=True)
        except Exception:
            args = _args_text(part.args)
        yield ToolCallRunning(call_id=part.tool_call_id, args=args)

    async def handle_function_tool_result(self, event: FunctionToolResultEvent) -> AsyncIterator[TurnEvent]:
        part = event.part
        started = self._tool_started.pop(part.tool_call_id, None)
        duration = None if started is None else time.perf_counter() - started
        result, error = result_or_error(part)
        yield ToolCallFinished(
            call_id=part.tool_call_id,
            tool_name=part.tool_name,
            result=result,
            error=error,
            duration=duration,
            outcome=getattr(part, "outcome", "retried"),
        )

    async def handle_deferred_tool_requests(self, event: DeferredToolRequestsEvent) -> AsyncIterator[TurnEvent]:
        for part in event.requests.approvals:
            self._tool_started.pop(part.tool_call_id, None)  # waiting for a person, not running
            try:
                args: dict[str, Any] | str = part.args_as_dict(raise_if_invalid=True)
            except Exception:
                args = _args_text(part.args)
            yield ApprovalRequested(call_id=part.tool_call_id, tool_name=part.tool_name, args=args)

    # -- structured output ---------------------------------------------------------------------------

    async def _start_output(self, part: ToolCallPart) -> AsyncIterator[TurnEvent]:
        self._output_calls[part.tool_call_id] = []
        schema = self.output_tools.get(part.tool_name)
        self._output_schemas[part.tool_call_id] = schema
        yield OutputStarted(call_id=part.tool_call_id, tool_name=part.tool_name, schema=schema)
        if text := _args_text(part.args):
            yield self._output_partial(part.tool_call_id, text)

    async def _start_text_output(self, text: str) -> AsyncIterator[TurnEvent]:
        if (previous := self._text_output_call) is not None:
            # A second text output in one run means the first one failed validation and was retried.
            yield OutputRejected(call_id=previous, error="The output did not validate; the model was asked again.")
        call_id = f"text-output-{len(self._output_calls)}"
        self._text_output_call = call_id
        self._output_calls[call_id] = []
        self._output_schemas[call_id] = self.text_output
        name = (self.text_output or {}).get("title", "output")
        yield OutputStarted(call_id=call_id, tool_name=name, schema=self.text_output)
        if text:
            yield self._output_partial(call_id, text)

    def _output_partial(self, call_id: str, text: str) -> OutputPartial:
        text = storable(text)
        chunks = self._output_calls[call_id]
        chunks.append(text)
        return OutputPartial(
            call_id=call_id, delta=text, chunks=chunks, length=len(chunks), schema=self._output_schemas.get(call_id)
        )

    async def handle_output_tool_result(self, event: OutputToolResultEvent) -> AsyncIterator[TurnEvent]:
        part = event.part
        _, error = result_or_error(part)
        if error is not None and part.tool_call_id in self._output_calls:
            yield OutputRejected(call_id=part.tool_call_id, error=error)

    # -- endings -------------------------------------------------------------------------------------

    async def handle_run_result(self, event: AgentRunResultEvent[Any]) -> AsyncIterator[TurnEvent]:
        result = event.result
        output = result.output
        if not isinstance(output, str):
            call_id = next(reversed(self._output_calls), None)
            yield OutputValidated(call_id=call_id, value=jsonable(output))
        yield TurnFinished(stats=self.stats(result.usage), output=output)

    async def on_cancelled(self, cancelled: RunCancelled) -> AsyncIterator[TurnEvent]:
        yield TurnCancelled(stats=self.stats(cancelled.usage), partial_text=self.partial_text)

    async def on_error(self, error: Exception) -> AsyncIterator[TurnEvent]:
        self.error = error
        yield TurnFailed(
            error=describe_error(error, key_env=self.key_env, mid_reply=self.shown_anything),
            stats=self.stats(),
            partial_text=self.partial_text,
            detail=f"{type(error).__name__}: {error}",
        )


def _materialize(live: list[Any]) -> Any:
    """A streaming part with its deltas applied; `live` keeps the result, so the next call starts from there."""
    part, deltas = live[0], live[1:]
    if deltas:
        if isinstance(part, TextPart) and all(isinstance(d, TextPartDelta) for d in deltas):
            part = dataclasses.replace(part, content=part.content + "".join(d.content_delta for d in deltas))
        else:
            for delta in deltas:
                part = delta.apply(part)
        live[:] = [part]
    return part


def result_or_error(part: ToolReturnPart | RetryPromptPart | Any) -> tuple[str | None, str | None]:
    """A tool result part as (result text, None) on success or (None, error text) on failure."""
    if isinstance(part, RetryPromptPart):
        return None, _validation_errors(part.content) or part.model_response()
    if isinstance(part, ToolReturnPart):
        if part.outcome == "success":
            return part.model_response_str(), None
        return None, _validation_errors(part.content) or part.model_response_str(wrap_if_error=False) or part.outcome
    return str(getattr(part, "content", part)), None


def _validation_errors(content: Any) -> str | None:
    """Pydantic validation errors (a list of {loc, msg}) as readable lines: `a: Field required`."""
    if not isinstance(content, list) or not content or not all(isinstance(e, dict) and "msg" in e for e in content):
        return None
    lines = []
    for error in content:
        where = ".".join(str(item) for item in error.get("loc", ()))
        lines.append(f"{where}: {error['msg']}" if where else str(error["msg"]))
    return "\n".join(lines)
