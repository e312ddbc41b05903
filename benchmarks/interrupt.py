"""Esc to idle: how long the real app takes to stop a streaming reply, over many interrupts.

    .venv/bin/python -m benchmarks.interrupt [--runs 50]

Each run streams the demo model's long reply (about 80 tokens/s) into the headless app, presses Esc
at a random moment, and measures from the key press to the turn having ended (the reply marked
interrupted, the partial reply saved, the worker finished).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(runs: int, seed: int) -> list[float]:
    os.environ["XSUS_DEMO_DELAY"] = "0.012"
    from xsus_tui.core.agents import build_chat_agent
    from xsus_tui.core.session import ChatSession
    from xsus_tui.core.store import SQLiteConversationStore
    from xsus_tui.ui.app import XsusApp

    rng = random.Random(seed)
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as home:
        store = SQLiteConversationStore.open(Path(home) / "history.db")
        app = XsusApp(ChatSession(build_chat_agent("demo"), store))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.chat_screen
            for _ in range(runs):
                screen.prompt.insert("long")
                await pilot.press("enter")
                target = rng.randint(20, 1500)
                while len(screen.replies[-1].text) < target and screen.session.busy:
                    await asyncio.sleep(0.005)
                start = time.perf_counter()
                screen.action_interrupt()
                while screen.session.busy or not screen.turn_worker.is_finished:
                    await asyncio.sleep(0.0005)
                latencies.append(time.perf_counter() - start)
                assert screen.replies[-1].state == "interrupted"
        store.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description="Esc-to-idle latency of the real app")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/interrupt.json"))
    args = parser.parse_args()
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
    latencies = asyncio.run(measure(args.runs, args.seed))
    ms = [value * 1000 for value in latencies]
    figures = {
        "runs": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 2),
    }
    print(f"{'benchmark':<22}{'runs':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    print(
        f"{'Esc to idle':<22}{figures['runs']:>6}{figures['p50_ms']:>10}{figures['p99_ms']:>10}{figures['max_ms']:>10}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
