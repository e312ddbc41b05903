"""Typing while a reply streams: key press to its echo on screen, in the real app in a real terminal.

    .venv/bin/python -m benchmarks.responsiveness [--presses 100] [--rate 300] [--busy] [--quick]

The app runs in a pseudo-terminal (100x30) with `benchmarks/agents.py:paced`, which streams a long
markdown reply at `--rate` deltas/s. While it streams, a character is typed into the prompt (which
keeps the focus) `--presses` times, at random intervals; each press is timed from writing the key to
the pty until the terminal output contains the character. Each press types a character the reply
never contains and that is not already in the prompt: `§`, then Greek and Cyrillic letters; the
prompt is emptied with Ctrl+U every 20 presses so that it stays one line (each press waits for its
echo, or 5 s, before the next). The reply is stopped with
Esc after the last press. Target: p99 < 50 ms. `--busy` measures twice: as it is, then with a CPU-bound
process beside the app (`python -c 'while 1: pass'`), so that the app has one core of the two at most.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.terminal import (
    CTRL_U,
    ENTER,
    ESCAPE,
    PLACEHOLDER,
    TURN_ENDED,
    Terminal,
    bench_env,
    fresh_home,
    percentile,
)

TARGET_P99_MS = 50.0
READY = b"Chatting with"
"""The chat screen's opening notice for an --agent (`Chatting with function:paced. ...`): the chat is up."""
KEYS = "§" + "αβγδεζηθικλμνξοπρστυφχψω" + "абвгдежзийклмнопрстуфхцчшщъыьэюя"
PER_LINE = 20
"""Presses before the prompt is emptied (all distinct, fewer than len(KEYS))."""


def measure(presses: int, rate: float, seed: int, gap: tuple[float, float]) -> dict:
    rng = random.Random(seed)
    # A reply that outlasts the presses even if echoes are slow; Esc stops it after the last press. The
    # agent paces itself, so how much has streamed at a given moment doesn't depend on this.
    deltas = int(rate * (presses * (gap[1] + 1.0) + 30))
    latencies: list[float] = []
    detail: list[tuple[float, float | None]] = []
    missed: list[tuple[str, int]] = []
    ended_early = False
    with fresh_home() as home:
        env = bench_env(home, XSUS_BENCH_RATE=str(rate))
        with Terminal.spawn(["--agent", "benchmarks/agents.py:paced"], env=env) as term:
            if term.wait_for(READY, timeout=60) is None:
                raise RuntimeError(f"the chat was not ready within 60 s: {term.last_words()}")
            term.sleep(0.5)
            start = len(term.output)
            term.send(f"stream deltas={deltas}")
            term.send(ENTER)
            first = term.wait_offset("⟦1⟧".encode(), start=start, timeout=30)
            if first < 0:
                raise RuntimeError("the reply did not start within 30 s")
            streamed_from = term.arrival(first)
            term.sleep(0.5)  # well into the stream
            typed = 0
            for press in range(presses):
                if typed == PER_LINE:
                    # Wait for the emptied prompt (its placeholder) before typing on: a key that reaches
                    # Textual right after Ctrl+U is handled before the binding's action, which deletes it.
                    cleared = len(term.output)
                    term.send(CTRL_U)
                    term.wait_for(PLACEHOLDER, start=cleared, timeout=30)
                    term.sleep(0.05)
                    typed = 0
                key = KEYS[press % len(KEYS)]
                offset = len(term.output)
                sent = term.send(key)
                typed += 1
                echoed = term.wait_for(key.encode(), start=offset, timeout=5)
                if echoed is None:
                    missed.append((key, offset))
                else:
                    latencies.append(echoed - sent)
                detail.append(
                    (round(sent - streamed_from, 3), None if echoed is None else round((echoed - sent) * 1000, 2))
                )
                term.sleep(rng.uniform(*gap))
            ended_early = TURN_ENDED.search(term.output, first) is not None
            late = sum(term.find(key.encode(), offset) >= 0 for key, offset in missed)
            stop = len(term.output)
            term.send(ESCAPE)
            term.wait_match(TURN_ENDED, start=stop, timeout=10)
            peak = term.peak_rss_mb()
    ms = [value * 1000 for value in latencies]
    return {
        "presses": presses,
        "echoed": len(ms),
        "missed": len(missed),
        "missed_but_shown_later": late,
        "rate_deltas_per_s": rate,
        "streaming_throughout": not ended_early,
        "p50_ms": round(statistics.median(ms), 2) if ms else None,
        "p99_ms": round(percentile(ms, 0.99), 2) if ms else None,
        "max_ms": round(max(ms), 2) if ms else None,
        "mean_ms": round(statistics.fmean(ms), 2) if ms else None,
        "target_p99_ms": TARGET_P99_MS,
        "meets_target": bool(ms) and not missed and not ended_early and percentile(ms, 0.99) < TARGET_P99_MS,
        "peak_rss_mb": None if peak is None else round(peak, 1),
        "presses_s_into_stream_and_ms": detail,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="key-press-to-echo latency while a reply streams")
    parser.add_argument("--presses", type=int, default=100)
    parser.add_argument("--rate", type=float, default=300.0, help="deltas per second the reply streams at")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="5 presses, to check the script runs")
    parser.add_argument("--busy", action="store_true", help="measure again with a CPU-bound process beside the app")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/responsiveness.json"))
    args = parser.parse_args()
    presses = 5 if args.quick else args.presses
    results = {}
    print(f"{'benchmark':<30}{'presses':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'load':>6}{'target':>22}")
    for beside in ("quiet", "busy") if args.busy else ("quiet",):
        hog = subprocess.Popen([sys.executable, "-c", "while 1: pass"]) if beside == "busy" else None
        started = time.monotonic()
        try:
            figures = measure(presses, args.rate, args.seed, gap=(0.05, 0.25))
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
        figures["wall_s"] = round(time.monotonic() - started, 1)
        figures["load_average_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine skews the figures
        results[beside] = figures
        verdict = "ok" if figures["meets_target"] else "MISSED"
        name = "  with a CPU hog beside" if beside == "busy" else "key echo while streaming"
        print(
            f"{name:<30}{figures['echoed']:>8}{figures['p50_ms']!s:>9}{figures['p99_ms']!s:>9}"
            f"{figures['max_ms']!s:>9}{figures['load_average_1m']:>6}{'p99 < 50: ' + verdict:>22}"
        )
    figures = results["quiet"]
    print(
        f"reply at {args.rate:g} deltas/s, streaming throughout: {figures['streaming_throughout']}; "
        f"no echo within 5 s: {figures['missed']}; peak RSS {figures['peak_rss_mb']} MB"
    )
    print(f"wall {figures['wall_s']} s, load average (1 min) on {os.cpu_count()} CPUs beside each row")
    if args.busy:
        figures = {**figures, "busy": results["busy"]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
