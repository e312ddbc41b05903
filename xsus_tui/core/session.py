"""One chat: its conversation, its store, and the turns it runs.

`run_turn` owns the whole life of a turn: the prompt is on disk before the model is called, the
agent's event stream is translated into `TurnEvent`s, and whatever the turn produced (a finished
reply, an interrupted one, a failed one) is saved when it ends, also when the consumer is cancelled
(the app quitting mid-stream). `cancel()` interrupts the turn from any task.

Everything a turn produces comes through the one stream `run_turn` yields, in order: the reply, what each
model request was sent and its usage (`RequestSent`, `ResponseUsage`), the turn's status (`Retrying`,
`Stalled`, `Saving`) and notices (`Notice`). Some of those happen while the reply is silent, in other tasks
(the retry layer inside pydantic-ai's run, the watchdog) or in a save the turn awaits: they go into the
turn's `SideChannel`, which wakes the turn's wait, so they are yielded at the moment they happen (see
`channel.py`). `on_status` and `on_notice` hear only what happens outside a turn.

Faults: a request that fails before its first event is retried by `RetryingModel` (the one retry
layer). A watchdog notices a silent stream: after `stall_notice` seconds it reports `Stalled`, after
`idle_timeout` it gives the turn up, retrying it when nothing had been shown yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic_ai.capabilities import HandleDeferredToolCalls
from pydantic_ai.conversation import Conversation
from pydantic_ai.conversation_store import ConversationConflict, ConversationStore
from pydantic_ai.exceptions import UserError
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.tools import DeferredToolRequests, DeferredToolResults, ToolDenied
from pydantic_ai.usage import UsageLimits
from pydantic_core import PydanticSerializationError

from . import compaction
from .agents import ChatAgent
from .attachments import DEFAULT_LIMIT, Prompt
from .channel import SideChannel
from .compaction import Compaction
from .db import StoreError
from .events import (
    ERROR_METADATA_KEY,
    SIDE_EVENTS,
    Notice,
    RequestSent,
    ResponseUsage,
    Retrying,
    Saving,
    Stalled,
    StatusEvent,
    Steered,
    TextDelta,
    TurnCancelled,
    TurnEvent,
    TurnFailed,
    TurnFinished,
    TurnStats,
)
from .export import transcript
from .pricing import Pricer, conversation_usage
from .recording import Recorder, Recording
from .retrying import RetryingModel, RetryPolicy
from .runner import BackgroundRun
from .sanitize import storable, storable_value
from .steering import Queued, SteeringQueue, is_steered
from .translate import TurnTranslator
from .usage import UsageTotals

T = TypeVar("T")

REQUESTS_PER_TURN = 50
"""Model requests one turn may make (a guard against a tool loop), counted per turn, not per conversation."""
CHECKPOINT_EVERY = 1.0
"""Seconds between checkpoints of a streaming reply."""
CHECKPOINT_BLOCK = 0.25
"""A finished markdown block is checkpointed sooner, but no sooner than this after the last checkpoint
(each checkpoint rewrites the whole partial reply)."""
SLOW_SAVE = 0.5
"""Seconds a save may wait for the database before the status line says it is waiting."""


@dataclasses.dataclass
class _TurnContext:
    """What a turn's recording says about the turn, learnt as it starts."""

    prompt: str
    started_at: str = dataclasses.field(default_factory=lambda: datetime.now(UTC).isoformat())
    entry_id: str | None = None
    """The prompt's stored entry (None while unsaved, or when it couldn't be saved: then nothing is recorded)."""
    history: tuple[Any, ...] | None = None
    turn: int | None = None


@dataclasses.dataclass
class _Attempt:
    """How one attempt at a turn ended."""

    ending: TurnFinished | TurnCancelled | TurnFailed | None = None
    """The ending as the translator saw it: held back, and never yielded itself (the turn yields a complete one)."""
    new: list[ModelMessage] = dataclasses.field(default_factory=list)
    unsent: bool = False
    """Nothing came back, and the prompt was taken back out of the conversation."""
    stalled: bool = False
    retry: bool = False


class ChatSession:
    """A conversation with one agent, saved to a store turn by turn."""

    def __init__(
        self,
        chat_agent: ChatAgent,
        store: ConversationStore | None = None,
        *,
        conversation: Conversation | None = None,
        retries: int = 3,
        backoff: float = 1.0,
        idle_timeout: float = 60.0,
        stall_notice: float = 5.0,
        model_settings: dict[str, Any] | None = None,
        toolsets: list[Any] | None = None,
        on_status: Callable[[StatusEvent], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.chat_agent = chat_agent
        self.store = store
        self.conversation = conversation or Conversation()
        self.retries = retries
        """Retries for a request that fails before its first event (and for a turn that stalls before any output)."""
        self.backoff = backoff
        """Seconds before the first retry; doubled for each further one (with jitter)."""
        self.idle_timeout = idle_timeout
        """Seconds of stream silence after which a turn is given up."""
        self.stall_notice = stall_notice
        """Seconds of stream silence after which `Stalled` is reported."""
        self.model_settings = model_settings or None
        """pydantic-ai ModelSettings sent with every request (temperature, max_tokens...)."""
        self.toolsets = toolsets if toolsets is not None else []
        """Extra toolsets for every turn (the running MCP servers); the front end may change the list."""
        self.on_status = on_status
        """Receives `Saving` when the database makes a branch or a fork wait, outside a turn (set by the front end).
        During a turn every status event comes in the turn's stream instead."""
        self.on_notice = on_notice
        """Receives one-line notices about the conversation itself (e.g. it was continued elsewhere) outside a turn;
        during a turn they come in its stream as `Notice`."""
        self.attachment_limit = DEFAULT_LIMIT
        self.compact_at = 0.8
        """How full the context window may get (a fraction, config.toml `compact_at`) before the front end offers
        `compact()` after a turn."""
        """Bytes one attached file may have (config.toml `max_attachment_mb`; the front end reads the files)."""
        self.record = True
        """Record each turn (its events with their times, what each request was sent) into the store."""
        self.last_recording: Recorder | None = None
        """The events of the latest turn with their times, as recorded (also when nothing was stored)."""
        self._turn_context: _TurnContext | None = None
        self._channel: SideChannel | None = None
        """The running turn's side channel, through which status events and notices join its stream."""
        self._wake: asyncio.Event | None = None
        """Set by `cancel()`: ends the wait before a retry of a stalled turn."""
        self._events: BackgroundRun | None = None
        """The running turn's agent run (None between turns)."""
        self._cancel_requested = False
        self._last_event = 0.0
        self._decisions: dict[str, asyncio.Future[bool | ToolDenied]] = {}
        self._waiting_for_user = False
        self._translator: TurnTranslator | None = None
        self._rng = random.Random()
        self._saving_prompt = False
        self.save_error: str | None = None
        """Why the last save failed, while the conversation has messages that are not on disk."""
        self._checkpoint: asyncio.Task[None] | None = None
        self._checkpoint_at = 0.0
        self._checkpoint_seen = 0
        self.queue = SteeringQueue()
        """Messages typed while a reply runs (steering): into the running run, or as the next turn."""

    # -- steering ---------------------------------------------------------------------------------------

    def queue_message(self, text: str, *, follow_up: bool = False) -> Queued:
        """Queue a message typed while a turn runs. A steer (the default) reaches the running run at its next model
        request (`Steered` in the turn's stream says when); a follow-up, and a steer the run could no longer take,
        waits for `next_queued()` after the turn has finished."""
        return self.queue.add(text, follow_up=follow_up)

    def take_back(self, queued_id: int) -> Queued | None:
        """Take a queued message back before it is delivered; None when the run has it already."""
        return self.queue.take_back(queued_id)

    def take_queued(self) -> list[Queued]:
        """Every message still waiting, taken out (after a turn that was interrupted or failed)."""
        return self.queue.take_all()

    def next_queued(self) -> Queued | None:
        """The first message still waiting, taken out, to run as the next turn (after a turn that finished)."""
        return self.queue.next_turn()

    @property
    def unsaved(self) -> int:
        """How many of the conversation's messages are not on disk yet (a save failed); they go with the next."""
        conversation = self.conversation
        if self.store is None:
            return 0
        if conversation.revision is None:
            return len(conversation.messages)
        return max(0, len(conversation.messages) - (conversation.new_message_index or 0))

    async def flush(self) -> bool:
        """Try again to save what a failed save left in memory (at quit); whether everything is on disk now."""
        if self.unsaved and not self.busy:
            with contextlib.suppress(StoreError):
                await self._save()
        return not self.unsaved

    async def take_back_unanswered(self) -> str | Prompt | None:
        """A conversation whose last message is a prompt nothing answered (xsus stopped before the first token):
        take that prompt out of the history (kept in the store as a branch) and return it, to offer it again,
        so the next prompt doesn't follow it unanswered."""
        messages = self.conversation.messages
        if self.busy or not messages or not isinstance(last := messages[-1], ModelRequest):
            return None
        content = next((p.content for p in last.parts if isinstance(p, UserPromptPart)), None)
        if content is None:
            return None
        prompt = content if isinstance(content, str) else Prompt.from_content(content)
        store = self.store
        if store is not None and hasattr(store, "pending_reply"):
            # It was answered, but the answer is still in a checkpoint the store could not add at open (a full
            # disk): show it and keep it in memory, to be saved with the next save.
            if pending := await store.pending_reply(self.conversation.conversation_id, self.conversation.revision):
                messages.extend(pending)
                self.save_error = "the reply cut short when xsus stopped is not saved yet"
                return None
        try:
            await self._take_back_prompt()
        except StoreError:  # the store can't take the branch now: never leave the prompt unanswered in memory
            del messages[-1]
        return prompt

    @property
    def busy(self) -> bool:
        """Whether a turn is running."""
        return self._events is not None

    def expect_turn(self) -> None:
        """A turn is about to start: forget any earlier `cancel()`. From here on, `cancel()` stops that turn,
        also before `run_turn` is called (the front end waiting for tools) and while its prompt is saved."""
        self._cancel_requested = False

    def cancel(self) -> None:
        """Interrupt the running turn (or the expected one); it ends with TurnCancelled, its partial reply kept."""
        self._cancel_requested = True
        if self._wake is not None:
            self._wake.set()
        if self._events is not None:
            self._events.cancel()
        elif self._saving_prompt and hasattr(self.store, "stop_waiting"):
            self.store.stop_waiting()  # a prompt waiting for the database: give it back now, not at the timeout

    def decide(self, call_id: str, approved: bool, reason: str | None = None) -> None:
        """Answer an ApprovalRequested: run the tool, or deny it (the model is told `reason`)."""
        decision = self._decision(call_id)
        if not decision.done():
            decision.set_result(True if approved else ToolDenied(reason or "The user denied this tool call."))
        if approved and self._translator is not None:
            self._translator.started(call_id)

    def _decision(self, call_id: str) -> asyncio.Future[bool | ToolDenied]:
        if call_id not in self._decisions:
            self._decisions[call_id] = asyncio.get_running_loop().create_future()
        return self._decisions[call_id]

    async def _ask_user(self, ctx: Any, requests: DeferredToolRequests) -> DeferredToolResults | None:
        """pydantic-ai's HandleDeferredToolCalls handler: wait for the person to approve or deny."""
        if not requests.approvals:
            return None
        self._waiting_for_user = True
        try:
            approvals = {part.tool_call_id: await self._decision(part.tool_call_id) for part in requests.approvals}
        finally:
            self._waiting_for_user = False
            for part in requests.approvals:
                self._decisions.pop(part.tool_call_id, None)
        return DeferredToolResults(approvals=approvals)

    def _status(self, event: StatusEvent | RequestSent | ResponseUsage) -> None:
        """A status event: into the running turn's stream now, else (outside a turn) to `on_status`."""
        if isinstance(event, Retrying):  # waiting out a backoff is not silence
            self._last_event = time.monotonic() + event.delay
        if self._channel is not None:
            self._channel.put(event)
        elif self.on_status is not None and not isinstance(event, RequestSent | ResponseUsage):
            self.on_status(event)

    def _notice(self, text: str) -> None:
        """A notice about the conversation: into the running turn's stream now, else to `on_notice`."""
        if self._channel is not None:
            self._channel.put(Notice(text))
        elif self.on_notice is not None:
            self.on_notice(text)

    # -- a turn -----------------------------------------------------------------------------------------

    async def run_turn(self, prompt: str | Prompt) -> AsyncIterator[TurnEvent]:
        """Run one turn for `prompt` (text, or text with attached files), yielding everything it produces in order
        (the reply, the requests and their usage, status events and notices); always ends with one Turn* ending
        event. Events are frozen: what was yielded never changes.

        A consumer that stops early (it is cancelled, or closes the stream) cancels the turn, which still saves
        what it produced before the stream closes; cancelled again meanwhile, it stops waiting for that save.
        """
        if self.busy or self._channel is not None:
            raise RuntimeError("a turn is already running")
        self._channel = SideChannel()
        self._wake = asyncio.Event()
        if self._cancel_requested:
            self._wake.set()
        recorder = self.last_recording = Recorder() if self.record else None
        self._turn_context = _TurnContext(prompt=storable(Prompt.of(prompt).text))
        saved = False
        try:
            async with contextlib.aclosing(self._turn(prompt)) as events:
                async for event in events:
                    if recorder is not None:
                        recorder.add(event)
                        if isinstance(event, TurnFinished | TurnCancelled | TurnFailed):
                            saved = True  # stored before its ending goes out, unless the database makes it wait
                            await self._keep_recording()
                    yield event
        finally:
            if recorder is not None and not saved:  # closed early: keep what streamed, quietly
                with contextlib.suppress(asyncio.CancelledError):  # cancelled again: the write goes on without us
                    await self._keep_recording()
            self._channel, self._wake = None, None
            self._cancel_requested = False  # a cancel belongs to the turn it was meant for

    def turn_recording(self) -> Recording | None:
        """The running (or latest) turn's recording as far as it has come: its events so far, and what the store
        keeps with it (the prompt's entry once saved, the history the turn started from). None before any turn, or
        with recording off."""
        recorder, context = self.last_recording, self._turn_context
        if recorder is None or context is None:
            return None
        return Recording(
            prompt=context.prompt,
            events=tuple(recorder.events),
            history=context.history,
            conversation_id=self.conversation.conversation_id,
            turn=context.turn,
            entry_id=context.entry_id,
            started_at=context.started_at,
            model=self.chat_agent.label,
            agent=self.chat_agent.target,
        )

    async def _keep_recording(self) -> None:
        """Store the turn's recording with its conversation. It waits for the database `SLOW_SAVE` at most (then the
        write goes on behind the turn, on the store's thread); a store that can't take it loses only the recording."""
        context = self._turn_context
        store = self.store
        if context is None or context.entry_id is None or store is None or not hasattr(store, "save_recording"):
            return
        if self.save_error is not None:  # the turn itself is not on disk (a full disk): don't add to the trouble
            return
        recording = self.turn_recording()
        if recording is None:
            return
        saving = asyncio.ensure_future(store.save_recording(recording))
        saving.add_done_callback(lambda done: done.cancelled() or done.exception())
        await asyncio.wait({saving}, timeout=SLOW_SAVE)

    async def _turn(self, prompt: str | Prompt) -> AsyncIterator[TurnEvent]:
        request = ModelRequest(parts=[UserPromptPart(Prompt.of(prompt).content())])
        self.conversation.messages.append(request)
        context = self._turn_context
        self._saving_prompt = True
        try:
            saving = asyncio.ensure_future(self._save())  # the prompt is on disk before the model sees it
            async for event in self._side_events_until(saving):
                yield event
            entries = saving.result()
            if context is not None:
                context.entry_id = next((e.id for e in reversed(entries) if e.message is request), None)
                context.history = tuple(self.conversation.messages)
                context.turn = sum(
                    isinstance(m, ModelRequest) and any(isinstance(p, UserPromptPart) for p in m.parts)
                    for m in self.conversation.messages
                )
        except StoreError as error:  # not on disk, so not sent either: it goes back to the input
            if self.conversation.messages and self.conversation.messages[-1] is request:
                self.conversation.messages.pop()
            if self._cancel_requested:
                yield TurnCancelled(stats=TurnStats(), unsent=True)
            else:
                yield TurnFailed(error=f"Not sent, {error}; your prompt is back in the input.", unsent=True)
            return
        finally:
            self._saving_prompt = False
        policy = RetryPolicy(retries=self.retries, base_delay=self.backoff, open_timeout=self.idle_timeout)
        for attempt in range(1, self.retries + 2):
            translator = TurnTranslator(
                output_tools=self.chat_agent.output_tools,
                key_env=self.chat_agent.key_env,
                text_output=self.chat_agent.text_output,
                usage_before=dataclasses.replace(self.conversation.usage),
                started_at=time.perf_counter(),
            )
            outcome = _Attempt(retry=attempt <= self.retries)
            async with contextlib.aclosing(self._attempt(translator, policy, outcome)) as events:
                async for event in events:  # closed here if the turn is stopped: its save runs in this task
                    yield event
            if outcome.stalled and outcome.retry and not translator.shown_anything:
                delay = policy.delay(attempt, TimeoutError(), self._rng)
                self._last_event = time.monotonic() + delay
                yield Retrying(attempt=attempt, retries=self.retries, delay=delay, reason="stalled")
                if await self._cancelled_within(delay):
                    break
                continue
            if isinstance(held := outcome.ending, TurnFinished):
                yield held
            elif held is not None:
                # The run can be one delta ahead of what was yielded when it stops; show what was kept.
                if tail := _unshown_tail(outcome.new, translator.partial_text):
                    yield TextDelta(tail)
                yield dataclasses.replace(  # the ending, complete: built once, never changed after
                    held,
                    stats=translator.stats(self.conversation.usage if outcome.new else None),
                    partial_text=held.partial_text + tail,
                    unsent=outcome.unsent,
                )
            return
        yield TurnCancelled(stats=translator.stats(None))  # Esc during the wait before a retry

    async def _cancelled_within(self, delay: float) -> bool:
        """Wait `delay` seconds, or less when `cancel()` comes first; whether it did."""
        if not self._cancel_requested and (wake := self._wake) is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), delay)
        return self._cancel_requested

    async def _attempt(
        self, translator: TurnTranslator, policy: RetryPolicy, outcome: _Attempt
    ) -> AsyncIterator[TurnEvent]:
        """One run of the agent for the conversation's pending prompt, saved however it ends."""
        agent = self.chat_agent.agent
        base = self.chat_agent.model or agent.model
        model = RetryingModel(base, policy, self._status) if base is not None else None
        # pydantic-ai counts its request limit (50) from the conversation's usage, carried across turns;
        # a long chat would hit it. Give each turn its own budget instead.
        limits = UsageLimits(request_limit=self.conversation.usage.requests + REQUESTS_PER_TURN)
        run = BackgroundRun(
            agent,
            self._channel if self._channel is not None else SideChannel(),
            queue=self.queue,
            conversation=self.conversation,
            model=model,
            usage_limits=limits,
            model_settings=self.model_settings,
            capabilities=[HandleDeferredToolCalls(handler=self._ask_user)],
            toolsets=list(self.toolsets) or None,
        )
        self._translator = translator
        self._events = run
        if self._cancel_requested:  # Esc arrived while the prompt was being saved: the run never starts
            run.cancel()
        run.start()
        self._last_event = time.monotonic()
        watchdog = asyncio.create_task(self._watch(run, translator, outcome))
        finished = False
        try:
            async for event in translator.transform_stream(run.events()):
                if isinstance(event, SIDE_EVENTS):
                    yield event
                    continue
                self._last_event = time.monotonic()
                if isinstance(event, Steered) and event.enqueue_id is not None:
                    item = self.queue.delivered(event.enqueue_id)
                    event = dataclasses.replace(event, queued_id=item.id if item is not None else None)
                if isinstance(event, TurnFinished | TurnCancelled | TurnFailed):
                    outcome.ending = event  # held back until the reply is saved: nothing of the turn comes after it
                else:
                    yield event
                    self._maybe_checkpoint(
                        run, translator, block_done=isinstance(event, TextDelta) and "\n\n" in event.text
                    )
            finished = True
        finally:
            watchdog.cancel()
            if self._checkpoint is not None:  # the final save must come after the last checkpoint
                await asyncio.wait({self._checkpoint})
                self._checkpoint = None
            try:
                await run.aclose()
            finally:
                self.queue.detach()
                self._events, self._translator = None, None
                if outcome.stalled and isinstance(outcome.ending, TurnCancelled):
                    outcome.ending = TurnFailed(
                        error=f"The model sent nothing for {self.idle_timeout:g} s, so the reply was given up.",
                        partial_text=outcome.ending.partial_text,
                    )
                keep = not (outcome.stalled and outcome.retry and not translator.shown_anything)
                cut = outcome.ending if isinstance(outcome.ending, TurnCancelled | TurnFailed) else None
                if keep and not finished:  # the stream is being closed: save without a word, nobody listens
                    outcome.new, outcome.unsent = await self._keep(run, cut)
        if keep:  # the reply is saved while its stream stays open, so a wait for the database is seen
            saving = asyncio.ensure_future(self._keep(run, cut))
            async for event in self._side_events_until(saving):
                yield event
            outcome.new, outcome.unsent = saving.result()

    async def _side_events_until(self, task: asyncio.Future[Any]) -> AsyncIterator[TurnEvent]:
        """What joins the turn's stream (a save's wait, a notice) while `task` runs; it is never cut halfway."""
        channel = self._channel
        if channel is None:
            await asyncio.wait({task})
            return
        async for event in channel.until(task):
            yield event

    async def _watch(self, events: BackgroundRun, translator: TurnTranslator, outcome: _Attempt) -> None:
        """Report silence, and give the turn up after `idle_timeout` seconds of it."""
        while True:
            await asyncio.sleep(0.5)
            self._maybe_checkpoint(events, translator)
            now = time.monotonic()
            if translator.tools_running or self._waiting_for_user:  # a tool at work, or a person deciding
                self._last_event = now
                continue
            silent = now - self._last_event
            if silent >= min(self.stall_notice, self.idle_timeout / 2):
                self._status(Stalled(seconds=silent, limit=self.idle_timeout))
            # Before the first event RetryingModel's own timeout applies (and retries).
            if silent >= self.idle_timeout and translator.first_token_at is not None:
                outcome.stalled = True
                events.cancel()
                return

    async def _keep(
        self, events: BackgroundRun, ending: TurnCancelled | TurnFailed | None
    ) -> tuple[list[ModelMessage], bool]:
        """Add what the run produced to the conversation and save it (finished, cancelled or failed); returns
        the messages kept and whether the prompt was taken back.

        A turn that failed or was interrupted before the model answered anything is taken back out of
        the history the model will see (it stays in the store as a branch), so sending the prompt
        again does not repeat it; `unsent` on the ending tells the front end to offer it again.
        """
        result = events.result
        try:
            new = events.new_messages()
            usage = events.usage
        except UserError:  # the run never started (cancelled at once)
            new, usage = [], self.conversation.usage
        if ending is not None:  # a steer delivered but never answered goes back with the waiting ones
            new = self._give_back_unanswered(new)
        if ending is not None and not any(isinstance(m, ModelResponse) and m.parts for m in new):
            await self._take_back_prompt()  # nothing came back: take it back rather than leave it unanswered
            return [], True
        if isinstance(ending, TurnFailed):
            new = _with_error(new, ending.error)
        new = storable_value(new)  # a lone surrogate from the provider must not make the history unsavable
        self.conversation.messages.extend(new)
        self.conversation.usage = result.usage if result is not None else usage
        try:
            await self._save()
        except StoreError as error:  # kept in memory; the next save (or the one at quit) takes it along
            self._report_unsaved(error)
        return new, False

    def _give_back_unanswered(self, new: list[ModelMessage]) -> list[ModelMessage]:
        """`new` without the steers at its end that the model never answered (the run was interrupted or failed
        first, leaving at most an empty response after them): they wait in the queue again, to go back to the
        input, rather than stay in the history unanswered and stack up with the next prompt."""
        end = len(new)
        while end and isinstance(new[end - 1], ModelResponse) and not new[end - 1].parts:
            end -= 1
        start = end
        while start and is_steered(new[start - 1]):
            start -= 1
        if start == end:
            return new
        self.queue.restore(_prompt_of(message) for message in new[start:end])
        return new[:start]

    def _report_unsaved(self, error: StoreError) -> None:
        self.save_error = str(error)
        self._notice(
            f"Not saved yet ({error.cause or error}): this reply stays here, and xsus saves it with your "
            "next prompt or when you quit."
        )

    # -- checkpoints of the reply while it streams --------------------------------------------------------

    def _maybe_checkpoint(self, events: BackgroundRun, translator: TurnTranslator, *, block_done: bool = False) -> None:
        """Write what the turn has produced so far to the store, at most once a `CHECKPOINT_EVERY` (sooner when
        a markdown block has just finished), so a crash or a kill loses at most the last second."""
        store, conversation = self.store, self.conversation
        if store is None or conversation.revision is None or not hasattr(store, "checkpoint"):
            return
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        now = time.monotonic()
        if translator.events_seen == self._checkpoint_seen or not (
            now - self._checkpoint_at >= (CHECKPOINT_BLOCK if block_done else CHECKPOINT_EVERY)
        ):
            return
        try:
            new = events.new_messages()
        except UserError:  # the run has not started
            return
        responses = sum(isinstance(message, ModelResponse) for message in new)
        if translator.responses_started > responses and (live := translator.live_response()) is not None:
            new = [*new, live]
        if not new:
            return
        self._checkpoint_at, self._checkpoint_seen = now, translator.events_seen
        messages = storable_value(new)
        revision = conversation.revision

        async def write() -> None:
            with contextlib.suppress(StoreError):  # a checkpoint that fails is only a lost safety net
                await store.checkpoint(conversation.conversation_id, revision=revision, messages=messages)

        self._checkpoint = asyncio.create_task(write())

    # -- the conversation -------------------------------------------------------------------------------

    async def regenerate(self) -> str | Prompt | None:
        """Take the last turn out of the conversation (kept in the store as an earlier branch) and return
        its prompt, to be run again with `run_turn`; None when there is no turn yet."""
        if self.busy:
            raise RuntimeError("a turn is running")
        messages = self.conversation.messages
        for index in range(len(messages) - 1, -1, -1):
            message = messages[index]
            if isinstance(message, ModelRequest) and any(isinstance(p, UserPromptPart) for p in message.parts):
                content = next(p.content for p in message.parts if isinstance(p, UserPromptPart))
                await self._branch_at(index)
                return content if isinstance(content, str) else Prompt.from_content(content)
        return None

    async def compact(
        self, *, keep_turns: int = 1, focus: str = "", on_text: Callable[[str], None] | None = None
    ) -> Compaction:
        """Replace every turn but the last `keep_turns` by a summary the model writes (`on_text` hears it stream).

        The compacted history (the summary, then the kept turns) is saved in one write as a new branch from the
        conversation's root, so the full conversation stays stored as the earlier branch. Nothing changes until
        the summary is complete: a cancelled or failed compaction leaves the conversation as it was.
        Raises NothingToCompact, the model's error, or StoreError (then the compacted history waits in memory
        for the next save, like an unsaved reply)."""
        if self.busy:
            raise RuntimeError("a turn is running")
        messages = self.conversation.messages
        split = compaction.plan(messages, keep_turns)
        request = compaction.summary_request(
            transcript(split.older, tool_result_chars=compaction.TOOL_RESULT_CHARS), focus
        )
        base = self.chat_agent.model or self.chat_agent.agent.model
        if base is None:
            raise UserError("no model to write the summary")
        policy = RetryPolicy(retries=self.retries, base_delay=self.backoff, open_timeout=self.idle_timeout)
        writer = compaction.SummaryWriter(RetryingModel(base, policy, self._status), self.model_settings)

        async def write() -> None:
            async for piece in writer.write(request):
                if on_text is not None:
                    on_text(piece)

        # Run beside a wait for `cancel()` (Esc), so the summary's request is stopped without cancelling our caller.
        self._cancel_requested = False
        wake = self._wake = asyncio.Event()
        writing = asyncio.ensure_future(write())
        woken = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({writing, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._wake = None
            for task in (writing, woken):
                task.cancel()
            await asyncio.wait({writing, woken})
        if not writing.cancelled() and (error := writing.exception()) is not None:
            raise error
        if self._cancel_requested or writing.cancelled():
            self._cancel_requested = False
            raise compaction.CompactionCancelled("stopped: nothing changed")
        summary = storable(writer.text.strip())
        if not summary:
            raise ValueError("the model wrote an empty summary; nothing was changed")
        if self.unsaved:
            await self._save()  # what is not on disk yet goes into the old branch first
        conversation = self.conversation
        spent = conversation_usage(split.older).total  # what the replaced turns cost still counts...
        if (response := writer.response) is not None:  # ...and so does the summary
            usage = response.usage
            spent += UsageTotals.of_response(
                usage.input_tokens or 0, usage.output_tokens or 0, usage.cache_read_tokens or 0, Pricer()(response)
            )
        conversation.messages[:] = compaction.compacted(split, summary, dataclasses.asdict(spent))
        conversation.new_message_index = None  # compared whole with the stored history: a rewrite, so a branch
        await self._save()
        head = compaction.summary_of(conversation.messages[0])
        total = (compaction.summarized_turns(head) if head is not None else None) or split.turns
        return Compaction(turns=split.turns, summary=summary, kept=keep_turns, summarized=total)

    def prompt_indexes(self) -> list[int]:
        """Where each turn's prompt is in `conversation.messages` (turn n is at [n - 1])."""
        return [
            index
            for index, message in enumerate(self.conversation.messages)
            if isinstance(message, ModelRequest) and any(isinstance(part, UserPromptPart) for part in message.parts)
        ]

    async def branch_before(self, turn: int) -> None:
        """Take turn `turn` (1 = the first) and all after it out of the conversation, to send an edited prompt in
        its place: the new prompt becomes another version of that turn, and the old ones stay stored."""
        if self.busy:
            raise RuntimeError("a turn is running")
        await self._branch_at(self.prompt_indexes()[turn - 1])

    async def show_version(self, tip: str) -> None:
        """Continue the conversation from the stored entry `tip` (another version of a turn, and what followed it):
        the chat shows that branch, and it is what the model is sent next. The choice is saved."""
        if self.busy:
            raise RuntimeError("a turn is running")
        store = self.store
        conversation = self.conversation
        if store is None or conversation.revision is None:
            raise StoreError("this conversation is not saved yet", cause="not saved yet")
        if self.unsaved:
            await self._save()  # the branch must not leave unsaved messages behind
            conversation = self.conversation
        self.conversation = await self._wait_for_store(
            store.branch(conversation.conversation_id, from_entry=tip, expected_revision=conversation.revision)
        )

    async def fork_at(self, turn: int) -> Conversation:
        """A new conversation holding this one up to the end of turn `turn` (1 = the first); this one is unchanged."""
        if self.store is None or self.conversation.revision is None:
            raise StoreError("this conversation is not saved yet", cause="not saved yet")
        prompts = self.prompt_indexes()
        end = prompts[turn] if turn < len(prompts) else len(self.conversation.messages)
        return await self._wait_for_store(self.store.fork(self.conversation.conversation_id, at=end))

    def switch_to(self, conversation: Conversation | None) -> None:
        """Go on with another conversation (None: a new one) in the same session: same agent, same tools."""
        if self.busy:
            raise RuntimeError("a turn is running")
        self.conversation = conversation or Conversation()
        self.save_error = None

    async def _take_back_prompt(self) -> None:
        await self._branch_at(len(self.conversation.messages) - 1)

    async def _branch_at(self, keep: int) -> None:
        conversation = self.conversation
        if self.store is not None and conversation.revision is not None:
            try:
                self.conversation = await self.store.branch(
                    conversation.conversation_id, at=keep, expected_revision=conversation.revision
                )
                return
            except ConversationConflict:
                await self._fork_from_stored(conversation)
                conversation = self.conversation
        del conversation.messages[keep:]
        await self._save()

    async def _save(self) -> list[Any]:
        """Save the conversation and return the entries written (pydantic-ai `ConversationEntry`s); StoreError when
        the database can't take it (it stays in memory, unsaved)."""
        if self.store is None:
            return []
        entries: list[Any] = []
        try:
            entries = await self._wait_for_store(self.store.save(self.conversation))
        except ConversationConflict:
            entries = await self._fork_from_stored(self.conversation)
        except PydanticSerializationError:
            # Something in the new messages JSON can't hold (a tool result of an odd type): store its repr.
            conversation = self.conversation
            shared = (conversation.new_message_index or 0) if conversation.revision is not None else 0
            messages = conversation.messages
            messages[shared:] = storable_value(messages[shared:], deep=True)
            entries = await self._wait_for_store(self.store.save(self.conversation))
        if self.save_error is not None:
            self.save_error = None
            self._notice("Saved: everything in this conversation is on disk now.")
        return list(entries or [])

    async def _wait_for_store(self, call: Awaitable[T]) -> T:
        """Await a store call, saying on the status line when it waits; it is never stopped halfway (a save
        cut off after its write but before its bookkeeping would leave the conversation out of step)."""
        task = asyncio.ensure_future(call)
        task.add_done_callback(lambda done: done.cancelled() or done.exception())  # seen, even if we are gone
        started = time.monotonic()
        waited = False
        while True:
            done, _ = await asyncio.wait({task}, timeout=SLOW_SAVE)
            if done:
                break
            waited = True
            self._status(Saving(seconds=time.monotonic() - started))
        if waited:
            self._status(Saving(seconds=time.monotonic() - started, done=True))
        return task.result()

    async def _fork_from_stored(self, conversation: Conversation) -> list[Any]:
        """Another process saved this conversation since we loaded it: continue ours as a fork of the
        part both share, so neither side's turns are lost."""
        assert self.store is not None
        shared = conversation.new_message_index or 0
        fork = await self.store.fork(conversation.conversation_id, at=shared)
        fork.messages.extend(conversation.messages[shared:])
        fork.usage = conversation.usage
        entries = await self.store.save(fork)
        self.conversation = fork
        self._notice(
            "This conversation was continued elsewhere at the same time; "
            f"yours goes on as a new conversation {fork.conversation_id[:13]}."
        )
        return list(entries or [])


def _with_error(new: list[ModelMessage], error: str) -> list[ModelMessage]:
    """`new` with the failure recorded on its last response (metadata is kept but never sent to the model)."""
    for index in range(len(new) - 1, -1, -1):
        message = new[index]
        if isinstance(message, ModelResponse):
            metadata = {**(message.metadata or {}), ERROR_METADATA_KEY: error}
            return [*new[:index], dataclasses.replace(message, metadata=metadata), *new[index + 1 :]]
    return new


def _prompt_of(request: ModelMessage) -> str:
    return "\n\n".join(
        part.content for part in request.parts if isinstance(part, UserPromptPart) and isinstance(part.content, str)
    )


def _unshown_tail(new: list[ModelMessage], shown: str) -> str:
    kept = "".join(
        part.content
        for message in new
        if isinstance(message, ModelResponse)
        for part in message.parts
        if isinstance(part, TextPart)
    )
    return kept[len(shown) :] if len(kept) > len(shown) and kept.startswith(shown) else ""
