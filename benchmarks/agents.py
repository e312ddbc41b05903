"""pydantic-ai agents for the benchmarks that run the real app: `xsus --agent benchmarks/agents.py:NAME`.

`paced` streams a long markdown reply at a steady rate (300 deltas/s by default), paced against a
deadline so that it does not drift. Each reply starts with a marker unique to its turn, `⟦7⟧` for
the 7th prompt of the conversation, so a benchmark can find it in the bytes the terminal receives.
When `XSUS_BENCH_FIRST_DELTA_FILE` is set, the agent appends `TURN MONOTONIC_TIME` to that file just
before it yields a turn's first delta (`time.monotonic()`, CLOCK_MONOTONIC, comparable across
processes on Linux), so the parent can compute the time to first token on screen.

Settings, from the environment (read at each turn) or from the prompt (`deltas=N rate=R` anywhere in
it wins over the environment):

    XSUS_BENCH_RATE          deltas per second (default 300)
    XSUS_BENCH_DELTAS        deltas per reply (default 600, two seconds at 300/s)
    XSUS_BENCH_FIRST_DELTA_FILE   where to append each turn's first-delta time

The reply text is plain ASCII markdown (headings, lists, code blocks): it never contains `§`, `⟦`,
or any Greek or Cyrillic letter, which the benchmarks type or look for.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

DELTA_CHARS = 6
"""Characters per delta, about a token and a half (as in benchmarks/render.py)."""

WORDS = (
    "the stream keeps its pace while the terminal draws each frame and the prompt stays ready for "
    "the next key so nothing waits on the model or the markdown parser or the store a reply grows "
    "line by line through headings lists tables and code until the turn ends and is saved"
).split()


def marker(turn: int) -> str:
    """The first delta of turn `turn`'s reply (unique: `⟦1⟧` is not a substring of `⟦11⟧`)."""
    return f"⟦{turn}⟧"


def markdown_block(seed: int) -> str:
    """About 700 characters of markdown: a heading, a paragraph, a list, and every third one a code block."""
    words = [WORDS[(seed * 7 + i * i + i) % len(WORDS)] for i in range(60)]
    text = f"## Section {seed}\n\n" + " ".join(words[:40]).capitalize() + ".\n\n"
    text += "".join(f"- item {seed}.{i}: {' '.join(words[40 + i * 4 : 44 + i * 4])}\n" for i in range(4)) + "\n"
    if seed % 3 == 0:
        text += "```python\n" + "".join(f"value_{seed}_{i} = {i} * {seed}\n" for i in range(5)) + "```\n\n"
    return text


def long_markdown(chars: int, seed: int = 0) -> str:
    """At least `chars` characters of markdown, deterministic for a seed."""
    parts, size, block = [], 0, seed
    while size < chars:
        parts.append(markdown_block(block))
        size += len(parts[-1])
        block += 1
    return "".join(parts)


def turn_number(messages: list[ModelMessage]) -> int:
    """How many prompts the conversation holds, this one included."""
    return sum(
        isinstance(part, UserPromptPart)
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
    )


def last_prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ""


def _setting(prompt: str, name: str, env: str, default: float) -> float:
    if found := re.search(rf"\b{name}=([0-9.]+)", prompt):
        return float(found.group(1))
    return float(os.environ.get(env) or default)


def _note(path: str, line: str) -> None:
    """Append one line (a few microseconds: not worth a thread)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)


async def paced_stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
    prompt = last_prompt(messages)
    rate = _setting(prompt, "rate", "XSUS_BENCH_RATE", 300)
    deltas = int(_setting(prompt, "deltas", "XSUS_BENCH_DELTAS", 600))
    turn = turn_number(messages)
    head = marker(turn) + "\n\n"
    body = long_markdown(deltas * DELTA_CHARS, seed=turn)
    pieces = [head] + [body[i : i + DELTA_CHARS] for i in range(0, (deltas - 1) * DELTA_CHARS, DELTA_CHARS)]
    record = os.environ.get("XSUS_BENCH_FIRST_DELTA_FILE")
    start = time.monotonic()
    for index, piece in enumerate(pieces):
        due = start + index / rate  # against the deadline: a late wake-up does not push later deltas back
        if (wait := due - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        if index == 0 and record:
            _note(record, f"{turn} {time.monotonic():.6f}\n")
        yield piece


paced = Agent(FunctionModel(stream_function=paced_stream, model_name="paced"), name="paced")
"""Streams a long markdown reply at `XSUS_BENCH_RATE` deltas/s; its first delta is `⟦TURN⟧`."""
