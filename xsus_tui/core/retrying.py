"""Retrying a model request that fails before its first event: the one layer of retries xsus has.

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
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from .errors import describe_error
from .events import Retrying

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
        on_retry: Callable[[Retrying], None] | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        super().__init__(wrapped)
        self.policy = policy
        self.on_retry = on_retry
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
        while True:
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
                if self.on_retry is not None:
                    detail = describe_error(error) if not isinstance(error, TimeoutError) else "no answer"
                    self.on_retry(
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
            if not await opened.__aexit__(type(error), error, error.__traceback__):
                raise
        else:
            await opened.__aexit__(None, None, None)
