"""Retrying a model request that fails before its first event: the one layer of retries xsus has, and the
one place that sees each request go out and its response come back (`RequestSent`, `ResponseUsage`).

`RetryingModel` wraps whatever model a turn runs (pydantic-ai's `WrapperModel`). Opening a request's
stream (which, for the providers pydantic-ai ships, includes receiving its first chunk) is retried on a
transient fault, with exponential backoff and jitter, honouring the provider's Retry-After. Once a
stream has produced an event nothing is retried here: the partial reply is the user's, and what to do
with it is the session's business. The provider SDKs' own retries are turned off where xsus builds
the client (see `agents.py`), so one prompt never becomes a storm of requests.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from dataclasses import KW_ONLY, dataclass
from typing import Any

from pydantic_ai import exceptions as exc
from pydantic_ai.messages import InstructionPart, ModelMessage, ModelRequest
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from . import compat
from .errors import describe_error
from .events import RequestSent, ResponseUsage, Retrying
from .pricing import context_window

SECRET_SETTINGS = frozenset({"extra_headers", "extra_body"})
"""Model settings whose values may hold credentials (an Authorization header): recorded by name only."""

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


@dataclass(frozen=True)
class RetryPolicy:
    """How a request that fails before its first event is retried."""

    _: KW_ONLY
    retries: int = 3
    """How many times to retry (0 turns retrying off)."""
    base_delay: float = 1.0
    """Seconds before the first retry; doubled for each further one."""
    max_delay: float = 30.0
    """The longest wait between attempts, also for a provider's Retry-After."""
    open_timeout: float | None = 60.0
    """Seconds to wait for a request's first event before treating it as a stalled (transient) fault."""

    def delay(self, attempt: int, error: BaseException, rng: random.Random) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after >= 0:
            return min(float(retry_after), self.max_delay)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling * (0.5 + rng.random() / 2)  # "equal jitter": never less than half the backoff


def transient_reason(error: BaseException) -> str | None:
    """A short reason when `error` is worth retrying, else None (auth, bad request, validation...)."""
    if isinstance(error, exc.ModelQuotaExceededError | exc.ModelRequestRejectedError):
        return None
    if isinstance(error, exc.ModelHTTPError):
        return f"HTTP {error.status_code}" if error.status_code in TRANSIENT_STATUS else None
    if isinstance(error, exc.ModelRateLimitError):
        return "rate limited"
    if isinstance(error, exc.ModelOverloadedError):
        return "overloaded"
    if isinstance(error, exc.ModelUnavailableError | exc.ModelServerError):
        return "server error"
    if isinstance(error, exc.ModelConnectionError | exc.ModelRequestTimeout):
        return "timed out" if isinstance(error, exc.ModelTimeoutError | exc.ModelRequestTimeout) else "connection"
    if isinstance(error, TimeoutError):
        return "no answer"
    if isinstance(error, ConnectionError):
        return "connection"
    return None


class RetryingModel(WrapperModel):
    """A model whose streamed requests are retried until they produce their first event."""

    def __init__(
        self,
        wrapped: Model | str,
        policy: RetryPolicy,
        on_event: Callable[[Retrying | RequestSent | ResponseUsage], None] | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        super().__init__(wrapped)
        self.policy = policy
        self.on_event = on_event
        """Hears each request go out (`RequestSent`), each retry (`Retrying`) and each response's usage."""
        self.requests = 0
        """Requests made through this model (one turn's attempt makes one per model response)."""
        self._rng = random.Random(seed)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: Any = None,
    ) -> AsyncGenerator[StreamedResponse]:
        attempt = 0
        self.requests += 1
        number = self.requests
        while True:
            if self.on_event is not None:
                self.on_event(
                    _request_sent(number, attempt + 1, messages, model_settings, model_request_parameters, self)
                )
            opened = self.wrapped.request_stream(messages, model_settings, model_request_parameters, run_context)
            try:
                async with asyncio.timeout(self.policy.open_timeout):
                    response = await opened.__aenter__()
            except Exception as error:
                reason = transient_reason(error)
                attempt += 1
                if reason is None or attempt > self.policy.retries:
                    raise
                delay = self.policy.delay(attempt, error, self._rng)
                if self.on_event is not None:
                    detail = describe_error(error) if not isinstance(error, TimeoutError) else "no answer"
                    self.on_event(
                        Retrying(
                            attempt=attempt, retries=self.policy.retries, delay=delay, reason=reason, detail=detail
                        )
                    )
                await asyncio.sleep(delay)
                continue
            break
        try:
            yield response
        except BaseException as error:
            self._report_usage(number, response)
            if not await opened.__aexit__(type(error), error, error.__traceback__):
                raise
        else:
            self._report_usage(number, response)
            await opened.__aexit__(None, None, None)

    def _report_usage(self, number: int, response: StreamedResponse) -> None:
        if self.on_event is None:
            return
        try:
            message = response.get()
        except Exception:  # a stream that broke before it could say anything
            return
        self.on_event(response_usage(number, message, context_window(self.wrapped)))


def response_usage(number: int, message: Any, window: int | None = None) -> ResponseUsage:
    """A `ModelResponse`'s usage and price (genai-prices; None when it doesn't know the model or the usage), and
    the context it leaves behind in a window of `window` tokens."""
    usage = message.usage
    try:
        cost: float | None = float(message.cost().total_price) if message.model_name else None
    except Exception:  # genai-prices doesn't know it (LookupError), or the provider sent no usage
        cost = None
    return ResponseUsage(
        number=number,
        input_tokens=usage.input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
        cache_read_tokens=usage.cache_read_tokens or 0,
        cache_write_tokens=usage.cache_write_tokens or 0,
        model_name=message.model_name,
        provider_name=message.provider_name,
        cost=cost,
        finish_reason=message.finish_reason,
        context_tokens=compat.context_tokens(message),
        context_window=window,
    )


def _request_sent(
    number: int,
    attempt: int,
    messages: list[ModelMessage],
    settings: ModelSettings | None,
    parameters: ModelRequestParameters,
    model: Model,
) -> RequestSent:
    if parameters.instruction_parts is not None:
        instructions = InstructionPart.join(parameters.instruction_parts) or None
    else:
        last = next((m for m in reversed(messages) if isinstance(m, ModelRequest)), None)
        instructions = last.instructions if last is not None else None
    tools = tuple(
        {
            "name": tool.name,
            "kind": tool.kind,
            "description": tool.description,
            "parameters": tool.parameters_json_schema,
        }
        for tool in [*parameters.function_tools, *parameters.output_tools]
    )
    recorded = None
    if settings:
        recorded = {key: ("(not recorded)" if key in SECRET_SETTINGS else value) for key, value in settings.items()}
    return RequestSent(
        number=number,
        attempt=attempt,
        messages=tuple(messages),
        instructions=instructions,
        tools=tools,
        settings=recorded,
        model=f"{model.system}:{model.model_name}",
    )
