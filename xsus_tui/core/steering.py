"""Steering: messages typed while a reply runs.

A message queued with Enter (a *steer*) goes to the running agent run through pydantic-ai's public queue
(`RunContext.enqueue`, priority `'asap'`): pydantic-ai adds it to the history at the run's next model request,
or, when the run would otherwise end, makes one more request for it. Delivery comes back as an
`EnqueuedMessagesEvent`, which the translator turns into `Steered`. A message queued with Alt+Enter (a
*follow-up*) stays here and becomes the next turn once this one has finished.

The run's `RunContext` is reached through the session's capability (`runner.TurnHooks.before_run`), which hands it
to `attach` as each run starts. The context's queue is the run's
own, thread-safe, and pydantic-ai closes it atomically when the run ends, so a steer either reaches the run or
`enqueue` raises `UserError` and the message stays here, to run as the next turn.

Until delivered a queued message can be taken back (`take_back`: dequeued from the run, or refused when the run
already delivered it). A turn that is interrupted or fails gives every undelivered message back (`take_all`).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from pydantic_ai.exceptions import UserError
from pydantic_ai.messages import ModelRequest, UserPromptPart

from .events import STEERED_METADATA_KEY
from .sanitize import storable


@dataclasses.dataclass(frozen=True)
class Queued:
    """One message waiting to be delivered."""

    id: int
    """Its number in this session (never reused)."""
    text: str
    """The message as typed."""
    follow_up: bool = False
    """Runs as a turn of its own after the current one (Alt+Enter), rather than into the running one (Enter)."""


def steered_request(text: str) -> ModelRequest:
    """The request a steer is delivered as: a prompt marked as typed while the reply ran."""
    return ModelRequest(parts=[UserPromptPart(storable(text))], metadata={STEERED_METADATA_KEY: True})


def is_steered(message: Any) -> bool:
    """Whether a stored message is a prompt that was delivered into a running turn."""
    return isinstance(message, ModelRequest) and bool((message.metadata or {}).get(STEERED_METADATA_KEY))


class SteeringQueue:
    """The session's queued messages, in the order typed, and their place in the running run's queue."""

    def __init__(self) -> None:
        self.items: list[Queued] = []
        """Waiting, oldest first (steers and follow-ups)."""
        self._ids = itertools.count(1)
        self._ctx: Any = None
        """The running run's RunContext (its queue), from `TurnHooks.before_run`; None between runs."""
        self._enqueued: dict[int, str] = {}
        """Queued id -> pydantic-ai's enqueue_id, for the steers the running run holds."""

    def __len__(self) -> int:
        return len(self.items)

    def add(self, text: str, *, follow_up: bool = False) -> Queued:
        """Queue `text`; a steer goes to the running run at once (or when the next run starts)."""
        item = Queued(next(self._ids), text, follow_up)
        self.items.append(item)
        if not follow_up:
            self._enqueue(item)
        return item

    def take_back(self, queued_id: int) -> Queued | None:
        """Take a waiting message back (to edit or drop it); None when it is no longer waiting (delivered)."""
        item = next((item for item in self.items if item.id == queued_id), None)
        if item is None:
            return None
        enqueue_id = self._enqueued.get(queued_id)
        if enqueue_id is not None and self._ctx is not None:
            try:
                removed = self._ctx.dequeue(enqueue_id)
            except UserError:
                removed = False
            if not removed:  # the run has it already: it is being delivered
                return None
        self._enqueued.pop(queued_id, None)
        self.items.remove(item)
        return item

    def take_all(self) -> list[Queued]:
        """Every waiting message, taken out (the turn was interrupted or failed: they go back to the input)."""
        items = []
        for item in list(self.items):
            if (taken := self.take_back(item.id)) is not None:
                items.append(taken)
        return items

    def next_turn(self) -> Queued | None:
        """After a finished turn: the first waiting message, taken out, to run as the next turn (a steer the run
        could not take any more, because it was ending, runs this way too)."""
        return self.items.pop(0) if self.items else None

    def restore(self, texts: Any) -> None:
        """Messages delivered into a run that was then interrupted before answering them: waiting again, first."""
        items = [Queued(next(self._ids), text) for text in texts if text]
        self.items[:0] = items

    def delivered(self, enqueue_id: str) -> Queued | None:
        """The run delivered `enqueue_id`: it is no longer waiting. Returns which message it was."""
        for queued_id, known in list(self._enqueued.items()):
            if known == enqueue_id:
                del self._enqueued[queued_id]
                item = next((item for item in self.items if item.id == queued_id), None)
                if item is not None:
                    self.items.remove(item)
                return item
        return None

    # -- the running run -------------------------------------------------------------------------------

    def attach(self, ctx: Any) -> None:
        """A run started: hand it every steer waiting (queued before it started, or left by an attempt retried)."""
        self._ctx = ctx
        for item in self.items:
            if not item.follow_up and item.id not in self._enqueued:
                self._enqueue(item)

    def detach(self) -> None:
        """The run ended: what it did not deliver stays waiting, for the next attempt or the next turn."""
        self._ctx = None
        self._enqueued.clear()

    def _enqueue(self, item: Queued) -> None:
        ctx = self._ctx
        if ctx is None:
            return
        try:
            enqueue_id = ctx.enqueue(steered_request(item.text), priority="asap")
        except UserError:  # the run is ending: it runs as the next turn instead
            return
        if enqueue_id is not None:
            self._enqueued[item.id] = enqueue_id
