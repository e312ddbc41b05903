"""How events from elsewhere join a turn's one stream while the turn waits.

A turn's stream is an async generator (`ChatSession.run_turn`): it can only yield while it runs. Yet some
of what a turn produces happens while it is waiting: the retry layer announces a retry from inside
pydantic-ai's run task, the watchdog reports a stall from its own task, a save waits for the database.
Those go into the turn's `SideChannel`, and every wait of the turn is a `wait(task)` that returns when the
awaited task is done *or* something was put, so the generator yields it at once, in order, and waits again.

The agent's own events come through the same channel (`runner.BackgroundRun` puts them there from the run's
task), so everything is in the order it happened, and the turn wakes once for however many events arrived
meanwhile: what an event costs here is one deque append.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any


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

    async def wait_item(self) -> None:
        """Until an event has been put (returns at once if one is there)."""
        if self._items:
            return
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None

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
