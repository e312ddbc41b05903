"""One agent run in a task of its own, its events handed to the turn in batches.

Why not `agent.run_stream_events()`: it runs the agent in a background task too, but hands every event over a
zero-buffer anyio memory stream, so each event costs a hand-over between two tasks (36-57 µs an event measured,
docs/performance.md). Here the run is `agent.iter()` driven by `AgentRun.__anext__`, the public way that runs every
capability hook exactly as `agent.run()` does; the events reach us through our own capability's
`wrap_run_event_stream` (placed outermost, so we see what any other capability made of them), which appends each to
the turn's `SideChannel`: one deque append, and one wake-up of the turn for however many events arrived meanwhile.

The guarantees `run_stream_events` gave are the public `AgentRun`'s: `cancel()` from any task or thread stops the
run (pydantic-ai cancels the task driving it, tears the model stream down, closing its HTTP connection, and keeps
the partial response in the run's messages); `new_messages()`, `usage` and `result` read the live run.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.capabilities.abstract import CapabilityOrdering
from pydantic_ai.exceptions import RunCancelled, UserError
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.run import AgentRun, AgentRunResult, AgentRunResultEvent
from pydantic_ai.usage import RunUsage

from .channel import SideChannel
from .sanitize import storable_value
from .steering import SteeringQueue

BACKLOG = 64
"""Events the run may be ahead of the turn before it waits: bounds how much one wake-up of the turn handles (and how
long it holds the event loop) while keeping the hand-over off the per-event path."""


@dataclasses.dataclass
class _Ended:
    """The run is over: `error` is what it raised (RunCancelled when it was cancelled), None when it finished."""

    error: BaseException | None = None


@dataclasses.dataclass
class TurnHooks(AbstractCapability[Any]):
    """The one capability xsus adds to a run (one capability, so one layer per event in pydantic-ai's chain):

    - taps the run's event stream into the turn's channel (outermost, so it sees the events as the consumer would);
    - makes text storable where it enters the run: each model response (a provider may split an emoji's surrogate
      pair across chunks) and each tool result (any string a tool returns); lone surrogates would otherwise fail the
      run's own serialization, and then every save;
    - hands the run's context to the session's SteeringQueue as the run starts (steering, `RunContext.enqueue`).
    """

    put: Callable[[Any], None] | None = None
    """Where each event goes (the turn's channel); None: the stream is not tapped."""
    backlog: Callable[[], Any] | None = None
    """Awaitable factory: wait while the turn is `BACKLOG` events behind (None: never wait)."""
    queue: SteeringQueue | None = None
    """The session's steering queue, attached to the run's context."""

    def get_ordering(self) -> CapabilityOrdering | None:
        return CapabilityOrdering(position="outermost")

    async def before_run(self, ctx: Any) -> None:
        if self.queue is not None:
            self.queue.attach(ctx)

    async def after_model_request(self, ctx: Any, *, request_context: Any, response: ModelResponse) -> ModelResponse:
        return storable_value(response)

    async def after_tool_execute(self, ctx: Any, *, call: Any, tool_def: Any, args: Any, result: Any) -> Any:
        return storable_value(result)

    async def wrap_run_event_stream(self, ctx: Any, *, stream: AsyncIterable[Any]) -> AsyncIterator[Any]:
        put, backlog = self.put, self.backlog
        if put is None:
            async for event in stream:
                yield event
            return
        async for event in stream:
            put(event)
            if backlog is not None and (wait := backlog()) is not None:
                await wait
            yield event


class BackgroundRun:
    """An agent run (`agent.iter(**kwargs)`) in its own task, started by `start()`, feeding `channel`.

    The turn reads `events()`: the run's events and whatever else was put in the channel (status events, notices),
    in the order they happened, ending with `AgentRunResultEvent` or raising what the run raised (RunCancelled when
    it was cancelled), as `AgentRunEvents` did.
    """

    def __init__(self, agent: Any, channel: SideChannel, *, queue: SteeringQueue | None, **kwargs: Any) -> None:
        self.channel = channel
        """The turn's channel: the run's events go there, beside the status events and notices of other tasks."""
        self._agent = agent
        self._kwargs = kwargs
        """What `agent.iter()` is called with (the conversation, model, limits, toolsets, capabilities...)."""
        self._queue = queue
        self._run: AgentRun[Any, Any] | None = None
        """The live run, from the moment `agent.iter()` has entered (None before)."""
        self._task: asyncio.Task[None] | None = None
        """The task driving the run (None when it never started)."""
        self._cancel_requested = False
        self._result: AgentRunResult[Any] | None = None
        self._drained: asyncio.Future[None] | None = None
        """What the run waits on when it is `BACKLOG` events ahead; the turn resolves it as it takes them."""
        self._backlog = 0
        """Events the run put since the turn last took them."""

    # -- the run's task ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the run now (a cancel that came before means it never starts: `events()` ends cancelled)."""
        if self._cancel_requested:
            self.channel.put(_Ended(RunCancelled("The agent run was cancelled.")))
            return
        self._task = asyncio.create_task(self._drive())

    async def _drive(self) -> None:
        hooks = TurnHooks(put=self._put, backlog=self._behind, queue=self._queue)
        capabilities = [*self._kwargs.pop("capabilities", []), hooks]
        ended = _Ended()
        try:
            async with self._agent.iter(None, capabilities=capabilities, **self._kwargs) as run:
                self._run = run
                if self._cancel_requested:
                    run.cancel()
                async for _node in run:
                    pass
            self._result = run.result
        except asyncio.CancelledError:  # cancelled before the run existed (while its toolsets started)
            ended.error = RunCancelled("The agent run was cancelled.")
        except BaseException as error:  # RunCancelled, or what the run failed with: the turn raises it
            ended.error = error
        finally:
            self.channel.put(ended)

    def _put(self, event: Any) -> None:
        self._backlog += 1
        self.channel.put(event)

    def _behind(self) -> asyncio.Future[None] | None:
        """A future to wait on when the turn is `BACKLOG` events behind, else None."""
        if self._backlog < BACKLOG:
            return None
        if self._drained is None or self._drained.done():
            self._drained = asyncio.get_running_loop().create_future()
        return self._drained

    # -- the turn's side --------------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[Any]:
        """Everything in the channel as it comes, until the run has ended (see the class)."""
        channel = self.channel
        while True:
            if not channel:
                await channel.wait_item()
            items = channel.take()
            self._backlog = 0
            if (drained := self._drained) is not None and not drained.done():
                drained.set_result(None)
            for item in items:
                if isinstance(item, _Ended):
                    for late in channel.take():  # put by the run's last moments (a retry notice): still in order
                        if not isinstance(late, _Ended):
                            yield late
                    if item.error is not None:
                        raise item.error
                    if self._result is not None:
                        yield AgentRunResultEvent(self._result)
                    return
                yield item

    def cancel(self) -> None:
        """Stop the run, from any task: it ends with RunCancelled, its partial response kept in its messages."""
        self._cancel_requested = True
        if self._run is not None:
            self._run.cancel()
        elif self._task is not None and not self._task.done():
            self._task.cancel()  # the run is not there yet: nothing to keep

    async def aclose(self) -> None:
        """Stop the run if it is still going and wait for its teardown (the model stream closed, its state final).
        Cancelled while it waits, it stops waiting; the teardown goes on by itself."""
        task = self._task
        if task is None or task.done():
            return
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._backlog = 0
        self.cancel()
        await asyncio.wait({task})

    # -- the run's state ------------------------------------------------------------------------------------

    def new_messages(self) -> list[ModelMessage]:
        """The messages this run produced so far (the partial response of a cancelled request included)."""
        if self._run is None:
            raise UserError("The run has not started.")
        return self._run.new_messages()

    @property
    def usage(self) -> RunUsage:
        """The run's usage so far (UserError before it started)."""
        if self._run is None:
            raise UserError("The run has not started.")
        return self._run.usage

    @property
    def result(self) -> AgentRunResult[Any] | None:
        """The run's result once it finished, else None."""
        return self._result
