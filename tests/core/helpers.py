"""FunctionModel agents for core tests."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo, FunctionModel

from xsus_tui.core import events as ev
from xsus_tui.core.agents import ChatAgent, output_tools

StreamFn = Callable[[list[ModelMessage], AgentInfo], AsyncIterator[Any]]


def chat_agent(stream: StreamFn, **agent_kwargs: Any) -> ChatAgent:
    agent = Agent(FunctionModel(stream_function=stream), **agent_kwargs)
    return ChatAgent(agent=agent, label="function", output_tools=output_tools(agent))


def text_stream(chunks: list[str], delay: float = 0.0, seen: list[list[ModelMessage]] | None = None) -> StreamFn:
    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        if seen is not None:
            seen.append(list(messages))
        for chunk in chunks:
            if delay:
                await asyncio.sleep(delay)
            yield chunk

    return stream


REQUEST_EVENTS = (ev.RequestSent, ev.ResponseUsage)
"""What each model request was sent and its usage: in every turn's stream, left out by `collect` unless asked."""


async def collect(session, prompt: str, *, on_event=None, every: bool = False) -> list[ev.TurnEvent]:
    """The turn's events; without `every`, those about its model requests (`REQUEST_EVENTS`) are left out."""
    out: list[ev.TurnEvent] = []
    async for event in session.run_turn(prompt):
        if not every and isinstance(event, REQUEST_EVENTS):
            continue
        out.append(event)
        if on_event is not None:
            on_event(event, out)
    return out


def text_of(events: list[ev.TurnEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, ev.TextDelta))


def to_schema_1(path: Path) -> None:
    """Back to what a schema-1 xsus wrote: no search table, no counts."""
    db = sqlite3.connect(path)
    db.executescript(
        "DROP TABLE search; DROP TABLE deleted; DROP INDEX entries_parent;"
        " ALTER TABLE entries DROP COLUMN depth; ALTER TABLE entries DROP COLUMN turn;"
        " ALTER TABLE entries DROP COLUMN conversation_id;"
        " ALTER TABLE conversations DROP COLUMN turns; ALTER TABLE conversations DROP COLUMN messages;"
        " ALTER TABLE conversations DROP COLUMN preview; ALTER TABLE conversations DROP COLUMN model;"
        " ALTER TABLE conversations DROP COLUMN agent; PRAGMA user_version = 1;"
    )
    db.close()
