"""Saving a turn: what the history store costs per turn with 10 and with 10,000 turns already stored.

    .venv/bin/python -m benchmarks.store [--turns 10 10000] [--runs 200] [--turn-runs 20] [--quick]

For each size, a fresh history database (the app's SQLiteConversationStore, in a temporary folder)
gets one conversation of that many turns. Its first turn is a real ChatSession turn on an instant
FunctionModel; the others are copies of that turn's two messages with their own text and run id,
saved through the store's `save` as the session saves, so every row is one the app writes. The
conversation is then resumed as `xsus -r` does (`store.load`) into a ChatSession.

What is timed is the time spent in the store's methods during a turn. A ChatSession calls the store
twice per turn (this is checked): it saves the prompt before the model is called, and the reply
after. Two figures:
  - the store alone (`--runs`): the session's own save path (`ChatSession._save`) for the prompt as
    `run_turn` adds it, then for a reply as pydantic-ai returns it, back to back;
  - in a real turn (`--turn-runs`): the same two saves inside `ChatSession.run_turn`, after the agent
    has handled the whole history for the model, which leaves the CPU caches cold.
The garbage collector is settled after the load and after each turn, as the app does.

Each turn adds one to its conversation, so enough conversations are built first (before anything
is timed) for each to grow by 1% at most: every turn is saved onto 10, or 10,000 to 10,100, turns.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

TARGET_RATIO = 1.5
"""Flat: saving onto the largest conversation may cost at most this many times saving onto the smallest."""

REPLY = (
    "Turn {i}. Here is a reply of a few hundred characters, about what a short answer from a model is: "
    "it restates the question, gives two or three sentences of substance, and ends with an offer to go "
    "further. Nothing in it is special for the store, which keeps it as the JSON pydantic-ai writes for "
    "a ModelResponse, next to its usage, model name, timestamp and run id."
)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def settle_garbage() -> None:
    """What the app does after start-up and after each turn (ui/screens/chat.py, not imported: no Textual here)."""
    gc.collect(1)
    gc.freeze()


def timed_store_class():
    """The real store, with the time spent in the calls a ChatSession makes to it added up."""
    from xsus_tui.core.store import SQLiteConversationStore

    class TimedStore(SQLiteConversationStore):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.reset()

        async def _timed(self, name, call, *args, **kwargs):
            started = time.perf_counter()
            try:
                return await call(*args, **kwargs)
            finally:
                self.spent += time.perf_counter() - started
                self.calls.append(name)

        async def save(self, *args, **kwargs):
            return await self._timed("save", super().save, *args, **kwargs)

        async def load(self, *args, **kwargs):
            return await self._timed("load", super().load, *args, **kwargs)

        async def branch(self, *args, **kwargs):
            return await self._timed("branch", super().branch, *args, **kwargs)

        async def fork(self, *args, **kwargs):
            return await self._timed("fork", super().fork, *args, **kwargs)

        def reset(self) -> None:
            self.spent, self.calls = 0.0, []

    return TimedStore


def chat_agent():
    from pydantic_ai import Agent
    from pydantic_ai.models.function import FunctionModel

    from xsus_tui.core.agents import ChatAgent

    async def stream(messages, info):
        yield REPLY.format(i=len(messages) // 2)

    return ChatAgent(agent=Agent(FunctionModel(stream_function=stream)), label="bench")


async def run_turn(session, prompt: str) -> None:
    async for _ in session.run_turn(prompt):
        pass


def reply_like(reply, i: int):
    """Another reply as pydantic-ai returns it: `reply` (from a real turn) with its own text and run id."""
    from pydantic_ai.messages import TextPart

    return dataclasses.replace(reply, parts=[TextPart(REPLY.format(i=i))], run_id=str(uuid.uuid4()))


def usage_after(usage, reply):
    """A conversation's usage after one more request that answered `reply`."""
    usage = usage + reply.usage
    usage.requests += 1
    return usage


async def save_turn(session, prompt: str, reply) -> None:
    """What a ChatSession does with its store in a turn, without running the agent."""
    from pydantic_ai.messages import ModelRequest, UserPromptPart

    session.conversation.messages.append(ModelRequest(parts=[UserPromptPart(prompt)]))  # as run_turn
    await session._save()
    session.conversation.messages.append(reply)  # as _keep, with what the run returned and its usage
    session.conversation.usage = usage_after(session.conversation.usage, reply)
    await session._save()


async def build(store, agent, turns: int):
    """A ChatSession on a conversation of `turns` stored turns, resumed from the store as `xsus -r` does,
    and a reply from a real turn to copy."""
    from pydantic_ai.messages import UserPromptPart

    from xsus_tui.core.session import ChatSession

    first = ChatSession(agent, store)
    await run_turn(first, "Turn 0: what the store keeps")
    conversation = first.conversation
    prompt, reply = conversation.messages
    for i in range(1, turns):
        conversation.messages.append(
            dataclasses.replace(prompt, parts=[UserPromptPart(f"Turn {i}: another question about the store")])
        )
        conversation.messages.append(reply_like(reply, i))
        conversation.usage = usage_after(conversation.usage, reply)
    await store.save(conversation)
    loaded = await store.load(conversation.conversation_id)
    assert loaded is not None and len(loaded.messages) == 2 * turns
    settle_garbage()
    return ChatSession(agent, store, conversation=loaded), reply


def database_size(store) -> dict:
    page_count = store._db.execute("PRAGMA page_count").fetchone()[0]
    page_size = store._db.execute("PRAGMA page_size").fetchone()[0]
    files = sum(p.stat().st_size for p in store.path.parent.glob(store.path.name + "*"))
    return {"db_bytes": page_count * page_size, "files_bytes": files}


def figures(ms: list[float]) -> dict:
    return {
        "runs": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
        "max_ms": round(max(ms), 3),
    }


async def measure(turns: int, runs: int, turn_runs: int) -> dict:
    agent = chat_agent()
    per_conversation = 1 + turns // 100  # turns saved onto one conversation: it grows by 1% at most
    needed = runs + 1 + (turn_runs + 1 if turn_runs else 0)  # with a warm-up turn for each kind
    with tempfile.TemporaryDirectory(prefix="xsus-bench-store-") as home:
        store = timed_store_class().open(Path(home) / "history.db")
        try:
            started = time.perf_counter()
            built = [await build(store, agent, turns)]
            build_s = time.perf_counter() - started
            size = database_size(store)
            # All built before any is timed, so no build runs just before a timed turn.
            built += [await build(store, agent, turns) for _ in range(-(-needed // per_conversation) - 1)]
            slots = iter([pair for pair in built for _ in range(per_conversation)])
            settle_garbage()
            calls: set[str] = set()
            stored_max = 0

            async def one_turn(prompt: str, *, real: bool) -> float:
                """Store time (ms) of one more turn, as a real turn or the store alone."""
                nonlocal stored_max
                session, reply = next(slots)
                stored = len(session.conversation.messages) // 2
                stored_max = max(stored_max, stored)
                next_reply = reply_like(reply, stored)  # made by pydantic-ai, not by the store: not timed
                store.reset()
                if real:
                    await run_turn(session, prompt)
                else:
                    await save_turn(session, prompt, next_reply)
                spent, made = store.spent * 1000, " ".join(store.calls)
                assert len(session.conversation.messages) // 2 == stored + 1, "the turn was not saved"
                calls.add(made)
                settle_garbage()
                return spent

            alone, in_turn, whole = [], [], []
            for run in range(-1, runs):  # -1: a warm-up, not counted
                spent = await one_turn(f"Turn {turns + run}: one more", real=False)
                if run >= 0:
                    alone.append(spent)
            for run in range(-1, turn_runs) if turn_runs else ():
                begun = time.perf_counter()
                spent = await one_turn(f"Turn {turns + run}: one more, for real", real=True)
                if run >= 0:
                    in_turn.append(spent)
                    whole.append((time.perf_counter() - begun) * 1000)
            latest = store.latest_id()
            assert any(session.conversation.conversation_id == latest for session, _ in built)
        finally:
            store.close()
    return {
        "turns_stored": turns,
        "turns_stored_max": stored_max,
        **figures(alone),
        "in_turn": {**figures(in_turn), "whole_turn_p50_ms": round(statistics.median(whole), 2)} if in_turn else None,
        "store_calls_per_turn": sorted(calls),
        "conversations_built": len(built),
        "build_s": round(build_s, 2),
        **size,
        "db_bytes_per_turn": round(size["db_bytes"] / turns),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="cost of saving a turn, against how many turns are stored")
    parser.add_argument("--turns", type=int, nargs="+", default=[10, 10000])
    parser.add_argument("--runs", type=int, default=200, help="turns saved by the store alone, per size")
    parser.add_argument("--turn-runs", type=int, default=20, help="real turns per size (0: none)")
    parser.add_argument("--quick", action="store_true", help="a small conversation and a few runs, to check it runs")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/store.json"))
    args = parser.parse_args()
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
    sizes, runs, turn_runs = ([10, 1000], 20, 3) if args.quick else (args.turns, args.runs, args.turn_runs)
    rows = [asyncio.run(measure(turns, runs, turn_runs)) for turns in sizes]
    base = rows[0]
    for row in rows:
        row["p50_vs_first"] = round(row["p50_ms"] / base["p50_ms"], 2)
        row["p99_vs_first"] = round(row["p99_ms"] / base["p99_ms"], 2)
        if row["in_turn"]:
            row["in_turn"]["p50_vs_first"] = round(row["in_turn"]["p50_ms"] / base["in_turn"]["p50_ms"], 2)
    print(f"{'':>13}{'store alone':^38}{'in a real turn':^30}")
    print(
        f"{'turns stored':>13}{'runs':>6}{'p50 ms':>8}{'p99 ms':>8}{'x p50':>8}{'x p99':>8}"
        f"{'runs':>6}{'p50 ms':>8}{'x p50':>7}{'turn ms':>9}{'db MB':>8}{'KB/turn':>9}"
    )
    for row in rows:
        turn = row["in_turn"] or {"runs": 0, "p50_ms": 0, "p50_vs_first": 0, "whole_turn_p50_ms": 0}
        print(
            f"{row['turns_stored']:>13}{row['runs']:>6}{row['p50_ms']:>8.3f}{row['p99_ms']:>8.3f}"
            f"{row['p50_vs_first']:>8.2f}{row['p99_vs_first']:>8.2f}"
            f"{turn['runs']:>6}{turn['p50_ms']:>8.3f}{turn['p50_vs_first']:>7.2f}{turn['whole_turn_p50_ms']:>9.1f}"
            f"{row['db_bytes'] / 1e6:>8.2f}{row['db_bytes_per_turn'] / 1000:>9.2f}"
        )
    last = rows[-1]
    flat = last["p50_vs_first"] <= TARGET_RATIO
    print(
        f"saving a turn onto {last['turns_stored']} stored turns costs the store {last['p50_vs_first']:.2f}x (p50)"
        f" what it costs onto {base['turns_stored']}: target within {TARGET_RATIO}x {'met' if flat else 'NOT met'};"
        f" store calls per turn: {', '.join(last['store_calls_per_turn'])}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    summary = {"target_ratio": TARGET_RATIO, "flat": flat, "p50_ratio": last["p50_vs_first"], "rows": rows}
    args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
