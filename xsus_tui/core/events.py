"""The UI-neutral events one chat turn produces.

`ChatSession.run_turn` yields these; the TUI and any other front end render them. They carry plain
values (strings, dicts, floats) so a renderer never needs to know pydantic-ai's part types.

Everything a turn produces comes through that one stream, in the order it happened: the reply (text,
thinking, tool calls, output), the turn's status (`Retrying`, `Stalled`, `Saving`), notices about the
conversation (`Notice`), and exactly one ending (`TurnFinished`, `TurnCancelled`, `TurnFailed`), which
carries the turn's figures. Events are frozen: once yielded, an event never changes (build another with
`dataclasses.replace`).
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from .partial import missing_fields, parse_partial

ERROR_METADATA_KEY = "xsus_error"
"""Key in a stored `ModelResponse.metadata` holding the error that broke the reply off."""
STEERED_METADATA_KEY = "xsus_steered"
"""Key in a stored `ModelRequest.metadata`: the prompt was typed while a reply ran and delivered into that run
(steering, see `core/steering.py`), at the model request the model saw it in."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the reply's visible text, in order."""

    text: str
    """The markdown fragment to append."""


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """A piece of the model's thinking (reasoning) text."""

    text: str
    """The fragment to append to the current thinking block."""


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """The model began a call to a function tool; its arguments may still be streaming."""

    _: KW_ONLY
    call_id: str
    """Identifies the call in every later tool event."""
    tool_name: str
    """The tool's name."""
    args: str
    """The arguments streamed so far (JSON text, possibly incomplete)."""


@dataclass(frozen=True, slots=True)
class ToolArgsDelta:
    """More argument text for a tool call (or the structured-output call)."""

    _: KW_ONLY
    call_id: str
    """The call the text belongs to."""
    delta: str
    """JSON text to append to the arguments."""


@dataclass(frozen=True, slots=True)
class ToolCallRunning:
    """The tool call's arguments are complete and the tool is executing."""

    _: KW_ONLY
    call_id: str
    """The call that started executing."""
    args: dict[str, Any] | str
    """The complete arguments: a dict when they parsed as a JSON object, else the raw text."""


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    """A tool call returned a result or failed."""

    _: KW_ONLY
    call_id: str
    """The call that finished."""
    tool_name: str
    """The tool's name (repeated so a renderer without state can still show it)."""
    result: str | None = None
    """The result as text, when the tool succeeded."""
    error: str | None = None
    """What went wrong, when the tool failed or asked the model to retry."""
    duration: float | None = None
    """Seconds from the start of execution to the result, when known."""
    outcome: str = "success"
    """pydantic-ai's outcome: success, failed, retried (sent back to the model), denied, interrupted."""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class ApprovalRequested:
    """A tool that requires approval wants to run: the turn waits for `ChatSession.decide`."""

    _: KW_ONLY
    call_id: str
    """The tool call waiting for a decision."""
    tool_name: str
    """The tool's name."""
    args: dict[str, Any] | str
    """The call's arguments."""


@dataclass(frozen=True, slots=True)
class OutputStarted:
    """The model began streaming the structured output (the agent's `output_type`)."""

    _: KW_ONLY
    call_id: str
    """Identifies the output call; later `ToolArgsDelta`s with this id are output text."""
    tool_name: str
    """The output tool's name (`final_result` unless the agent names it)."""
    schema: dict[str, Any] | None = None
    """The JSON schema of the expected output, when the agent has one."""


@dataclass(frozen=True, slots=True)
class OutputPartial:
    """The structured output as streamed so far.

    `raw`, `value` and `missing` are computed when read, so a renderer that shows only the latest of
    many deltas pays for one parse per frame instead of one per delta (which would grow with the output).
    """

    _: KW_ONLY
    call_id: str
    """The output call."""
    delta: str
    """The JSON text this event added."""
    chunks: list[str] = field(repr=False)
    """The output call's text so far, shared between its events; this one covers the first `length`."""
    length: int = 1
    """How many of `chunks` had arrived with this event."""
    schema: dict[str, Any] | None = field(default=None, repr=False)
    """The output's JSON schema, for `missing`."""

    @classmethod
    def whole(cls, call_id: str, text: str, schema: dict[str, Any] | None = None) -> OutputPartial:
        """An event holding a complete text at once (for replaying a stored output)."""
        return cls(call_id=call_id, delta=text, chunks=[text], length=1, schema=schema)

    @property
    def raw(self) -> str:
        """The raw JSON text so far."""
        return "".join(self.chunks[: self.length])

    @property
    def value(self) -> Any:
        """The partially parsed value (dict/list/scalar), fields appearing as they arrive."""
        return parse_partial(self.raw)

    @property
    def missing(self) -> tuple[str, ...]:
        """Required top-level fields that have not arrived yet."""
        return missing_fields(self.value, self.schema)


@dataclass(frozen=True, slots=True)
class OutputValidated:
    """The structured output passed validation."""

    _: KW_ONLY
    call_id: str | None
    """The output call, or `None` when the output came as text."""
    value: Any
    """The validated output as JSON-able data."""


@dataclass(frozen=True, slots=True)
class OutputRejected:
    """The structured output failed validation; pydantic-ai asks the model to try again."""

    _: KW_ONLY
    call_id: str
    """The output call that was rejected."""
    error: str
    """The validation errors as text."""


@dataclass(frozen=True, slots=True)
class ResponseStarted:
    """Another model response of the same turn begins (after tool results, or after a rejected answer):
    its text starts a block of its own rather than running on from the last one."""

    _: KW_ONLY
    rejected_text: bool = False
    """The response before was text only and the run went on, so pydantic-ai did not take that text as the
    answer (an agent whose output is a tool or a type the text didn't validate as): mark it rejected."""


@dataclass(frozen=True, slots=True)
class Steered:
    """A message queued while the reply ran was delivered into the run: the model's next request carries it.
    What follows in the turn answers it (the chat shows it as a prompt of its own, where the model saw it)."""

    text: str
    """The message as delivered."""
    _: KW_ONLY
    enqueue_id: str | None = None
    """pydantic-ai's id of the delivery (`EnqueuedMessagesEvent.enqueue_id`)."""
    queued_id: int | None = None
    """Which of the session's queued messages it was (`SteeringQueue`), None when it was not queued from here."""


@dataclass(frozen=True, slots=True)
class Retrying:
    """A request failed before its first event (or stalled before any output) and will be tried again (a status,
    not part of the reply)."""

    _: KW_ONLY
    attempt: int
    """Which retry this is, from 1."""
    retries: int
    """How many retries are allowed."""
    delay: float
    """Seconds until the retry."""
    reason: str
    """A few words: "HTTP 503", "rate limited", "connection"."""
    detail: str = ""
    """The full one-line error."""


@dataclass(frozen=True, slots=True)
class Stalled:
    """The stream has been silent for a while (a status, not part of the reply)."""

    _: KW_ONLY
    seconds: float
    """Seconds since the last stream event."""
    limit: float
    """Seconds of silence after which the turn is given up (the idle timeout)."""


@dataclass(frozen=True, slots=True)
class Saving:
    """A save has been waiting for the history database (another process holds a lock, a slow disk)."""

    _: KW_ONLY
    seconds: float
    """Seconds the save has waited so far."""
    done: bool = False
    """The save has ended (saved or failed): the wait is over."""


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user should know about the conversation, said during a turn (a save that failed, a
    conversation continued elsewhere): a line in the chat, not part of the reply."""

    text: str
    """One or two sentences, plain text."""


@dataclass(frozen=True, slots=True)
class RequestSent:
    """A model request of the turn is about to go out: what the model is sent (for recordings and the inspector).

    The one event that carries pydantic-ai objects: `messages` are the `ModelMessage`s exactly as the model
    receives them (after history processors), shared with the run, never to be changed.
    """

    _: KW_ONLY
    number: int
    """Which request of the turn, from 1 (a turn with tools makes several)."""
    messages: tuple[Any, ...] = field(repr=False)
    """The `ModelMessage`s sent, the conversation's history included."""
    instructions: str | None = None
    """The instructions (system prompt) sent with it."""
    tools: tuple[dict[str, Any], ...] = ()
    """The tool definitions offered (function tools, then output tools): name, kind, description, parameters."""
    settings: dict[str, Any] | None = None
    """The model settings sent (temperature, max_tokens...), without anything secret."""
    model: str = ""
    """The model's name as pydantic-ai knows it (`gpt-4o-mini`, `function:...`)."""
    attempt: int = 1
    """Which attempt at this request (a retry repeats it)."""


@dataclass(frozen=True, slots=True)
class ResponseUsage:
    """A model response of the turn is complete (or was cut off): its usage and price."""

    _: KW_ONLY
    number: int
    """Which request of the turn it answered, from 1."""
    input_tokens: int = 0
    """Tokens the request sent (cached ones included)."""
    output_tokens: int = 0
    """Tokens the response produced."""
    cache_read_tokens: int = 0
    """Input tokens read from the provider's cache."""
    cache_write_tokens: int = 0
    """Input tokens written to the provider's cache."""
    model_name: str | None = None
    """The model that answered, as the provider named it."""
    provider_name: str | None = None
    """The provider (`openai`, `anthropic`...)."""
    cost: float | None = None
    """Price in USD from genai-prices, or None when it doesn't know the model (never a guess)."""
    finish_reason: str | None = None
    """Why the response ended (`stop`, `length`, `tool_call`...), when the provider said."""
    context_tokens: int = 0
    """The context this response leaves behind (its input as pydantic-ai measures context, plus its output)."""
    context_window: int | None = None
    """The answering model's context window in tokens, None when neither its profile nor genai-prices knows it."""


StatusEvent = Retrying | Stalled | Saving
"""Events about a turn's progress; they come in the turn's stream at the moment they happen, also while the
reply is silent (a retry's wait, a stall, a save waiting for the database). Outside a turn (a branch or a fork
waiting for the database) `Saving` goes to the session's `on_status` callback instead."""


@dataclass(frozen=True, slots=True)
class TurnStats:
    """Figures about one turn, for the status line."""

    _: KW_ONLY
    input_tokens: int = 0
    """Tokens sent to the model over the turn's requests."""
    output_tokens: int = 0
    """Tokens the model produced over the turn's requests."""
    requests: int = 0
    """Model requests the turn made (more than one when tools ran)."""
    ttft: float | None = None
    """Seconds from sending the prompt to the first streamed content."""
    duration: float = 0.0
    """Seconds from sending the prompt to the end of the turn."""

    @property
    def tokens_per_second(self) -> float | None:
        """Output tokens per second of streaming (after the first token)."""
        if self.ttft is None or self.output_tokens <= 0:
            return None
        streaming = self.duration - self.ttft
        return self.output_tokens / streaming if streaming > 0.05 else None


@dataclass(frozen=True, slots=True)
class TurnFinished:
    """The turn completed normally."""

    _: KW_ONLY
    stats: TurnStats
    """Usage and timings."""
    output: Any = None
    """The run's final output (text, or the validated structured value)."""


@dataclass(frozen=True, slots=True)
class TurnCancelled:
    """The user interrupted the turn; what streamed so far is kept and saved."""

    _: KW_ONLY
    stats: TurnStats
    """Usage and timings up to the interrupt."""
    partial_text: str = ""
    """The reply text that had streamed before the interrupt."""
    unsent: bool = False
    """Interrupted before the model answered anything: the prompt was taken back out of the
    conversation (kept in the store as a branch), and a front end should offer it again."""


@dataclass(frozen=True, slots=True)
class TurnFailed:
    """The turn ended with an error; what streamed so far is kept and saved."""

    _: KW_ONLY
    error: str
    """A one-line explanation for the user."""
    stats: TurnStats = field(default_factory=TurnStats)
    """Usage and timings up to the failure."""
    partial_text: str = ""
    """The reply text that had streamed before the failure."""
    detail: str | None = None
    """Longer technical detail (the exception type and message), if any."""
    unsent: bool = False
    """The model answered nothing, and the prompt was taken back out of the conversation (it stays in
    the store as an earlier branch): a front end should offer the prompt again."""


TurnEvent = (
    ApprovalRequested
    | TextDelta
    | ThinkingDelta
    | ToolCallStarted
    | ToolArgsDelta
    | ToolCallRunning
    | ToolCallFinished
    | OutputStarted
    | OutputPartial
    | OutputValidated
    | OutputRejected
    | ResponseStarted
    | Steered
    | Retrying
    | Stalled
    | Saving
    | Notice
    | RequestSent
    | ResponseUsage
    | TurnFinished
    | TurnCancelled
    | TurnFailed
)
"""Every event a turn can yield. A turn always ends with exactly one of the last three."""

SIDE_EVENTS = (Retrying, Stalled, Saving, Notice, RequestSent, ResponseUsage)
"""Events about the turn rather than the reply's content: they don't count as the stream speaking (the stall
watchdog ignores them), and a reply widget has nothing to draw for them."""
