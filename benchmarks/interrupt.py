"""Esc to idle: how long the real app takes to stop a streaming reply, over many interrupts.

    .venv/bin/python -m benchmarks.interrupt [--runs 50] [--terminal-runs 20] [--against DIR]

Each run streams the demo model's long reply (about 80 tokens/s) into the headless app, presses Esc
at a random moment, and measures from the key press to the turn having ended (the reply marked
interrupted, the partial reply saved, the worker finished).

Then in a real terminal (a 100x30 pseudo-terminal, the app as users start it): `--terminal-runs` times, the
long reply is asked for (in a new conversation each time), and at a random moment 0.2-1.2 s into it the Esc
byte is written; timed from that write to the terminal receiving `interrupted` (the reply's mark, the status).
This includes what headless runs skip: the terminal driver taking a lone ESC as the Esc key (it waits ESCDELAY
for the rest of a possible sequence), and the frame that shows it. `--against DIR` runs an older checkout's app
beside this one, the interrupts alternating between them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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


def in_terminal(runs: int, seed: int, roots: dict[str, Path]) -> dict[str, list[float]]:
    """Esc byte to `interrupted` received, `runs` times in each checkout's app (alternating), in seconds."""
    from benchmarks.terminal import ENTER, ESCAPE, PLACEHOLDER, ROOT, Terminal, bench_env, fresh_home

    rng = random.Random(seed)
    latencies: dict[str, list[float]] = {name: [] for name in roots}
    with contextlib.ExitStack() as stack:
        terms = {}
        for name, root in roots.items():
            home = stack.enter_context(fresh_home())
            extra = {} if root == ROOT else {"PYTHONPATH": str(root)}
            term = stack.enter_context(Terminal.spawn([], env=bench_env(home, **extra), cwd=root))
            if term.wait_for(PLACEHOLDER, timeout=60) is None:
                raise RuntimeError(f"{name}: the app did not start: {term.last_words()}")
            terms[name] = term
        for _ in range(runs):
            for name, term in terms.items():
                start = len(term.output)
                term.send(b"long" + ENTER)
                if term.wait_for(b"streaming", start=start, timeout=30) is None:
                    raise RuntimeError(f"{name}: the reply did not start: {term.last_words()}")
                term.sleep(rng.uniform(0.2, 1.2))
                start = len(term.output)
                sent = term.send(ESCAPE)
                seen = term.wait_for(b"interrupted", start=start, timeout=30)
                if seen is None:
                    raise RuntimeError(f"{name}: Esc did not interrupt: {term.last_words()}")
                latencies[name].append(seen - sent)
                # A new conversation for the next run: the chat would otherwise repaint this reply's own
                # `interrupted` mark while the next one streams, before its Esc is taken.
                term.send(b"/new" + ENTER)
                term.wait_quiet(0.3, timeout=5)
    return latencies


def summary(seconds: list[float]) -> dict[str, float]:
    ms = [value * 1000 for value in seconds]
    return {
        "runs": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Esc-to-idle latency of the real app")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--terminal-runs", type=int, default=20, help="Esc in a pseudo-terminal (0: skip)")
    parser.add_argument("--against", type=Path, metavar="DIR", help="an older checkout, run beside this one")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/interrupt.json"))
    args = parser.parse_args()
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
    figures: dict = {}
    rows: list[tuple[str, dict]] = []
    if not args.against:
        figures = summary(asyncio.run(measure(args.runs, args.seed)))
        rows.append(("Esc to idle", figures))
    if args.terminal_runs:
        from benchmarks.terminal import ROOT

        roots = {"terminal": ROOT} if not args.against else {"before": args.against.resolve(), "after": ROOT}
        load_before = os.getloadavg()[0]
        for name, seconds in in_terminal(args.terminal_runs, args.seed, roots).items():
            figures[name] = summary(seconds)
            rows.append((f"Esc in a terminal ({name})" if args.against else "Esc in a terminal", figures[name]))
        figures["terminal_loadavg"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(f"{'benchmark':<30}{'runs':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for label, row in rows:
        print(f"{label:<30}{row['runs']:>6}{row['p50_ms']:>10}{row['p99_ms']:>10}{row['max_ms']:>10}")
    if "terminal_loadavg" in figures:
        print("load average (1 min) before, after the terminal runs: {} - {}".format(*figures["terminal_loadavg"]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
