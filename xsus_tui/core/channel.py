"""How events from elsewhere join a turn's one stream while the turn waits.

A turn's stream is an async generator (`ChatSession.run_turn`): it can only yield while it runs. Yet some
of what a turn produces happens while it is waiting: the retry layer announces a retry from inside
pydantic-ai's run task, the watchdog reports a stall from its own task, a save waits for the database.
Those go into the turn's `SideChannel`, and every wait of the turn is a `wait(task)` that returns when the
awaited task is done *or* something was put, so the generator yields it at once, in order, and waits again.

No extra task per turn and no hand-off per event: the reply's events are yielded by the consumer's own task
as they come out of pydantic-ai; what the channel costs per event is one future and one callback.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, TypeVar

T = TypeVar("T")


class SideChannel:
    """Events put by other tasks (or by code the turn awaits), taken by the turn when it next looks."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, event: Any) -> None:
        """Add an event; a turn waiting in `wait` wakes now."""
        self._items.append(event)
        if (waiter := self._waiter) is not None and not waiter.done():
            waiter.set_result(None)

    def take(self) -> list[Any]:
        """Everything put so far, in order (and forget it)."""
        items = list(self._items)
        self._items.clear()
        return items

    def __bool__(self) -> bool:
        return bool(self._items)

    async def wait(self, task: asyncio.Future[Any]) -> None:
        """Until `task` is done or an event has been put (returns at once if either is already so)."""
        if self._items or task.done():
            return
        waiter = self._waiter = asyncio.get_running_loop().create_future()

        def wake(_: object) -> None:
            if not waiter.done():
                waiter.set_result(None)

        task.add_done_callback(wake)
        try:
            await waiter
        finally:
            self._waiter = None
            task.remove_done_callback(wake)

    async def until(self, task: asyncio.Future[Any]) -> AsyncIterator[Any]:
        """Yield what is put while `task` runs, then what is left once it is done.

        Closed early (the consumer stopped), it still waits for the task, which must not be cut halfway (a save);
        cancelled again while it waits, it stops waiting and the task goes on on its own.
        """
        try:
            while True:
                await self.wait(task)
                for item in self.take():
                    yield item
                if task.done():
                    for item in self.take():
                        yield item
                    return
        finally:
            if not task.done():
                await asyncio.wait({task})


async def merged(events: AsyncIterator[T], channel: SideChannel) -> AsyncIterator[T | Any]:
    """`events` with the channel's events slipped in where they were put (while `events` was silent)."""
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(events.__anext__())
            await channel.wait(pending)
            if channel:
                for item in channel.take():
                    yield item
            if pending.done():
                done, pending = pending, None
                try:
                    event = done.result()
                except StopAsyncIteration:
                    break
                yield event
        for item in channel.take():
            yield item
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            await asyncio.wait({pending})
        if pending is not None and pending.done() and not pending.cancelled():
            pending.exception()  # retrieved: a stream torn down under it may have failed, and nobody waits for it
