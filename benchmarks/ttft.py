"""Time to first token on screen: from the model's first delta to the terminal receiving it.

    .venv/bin/python -m benchmarks.ttft [--turns 30] [--deltas 150] [--quick]

The app runs in a pseudo-terminal (100x30) with `benchmarks/agents.py:paced`, for `--turns` turns in
one session: type a prompt, Enter, wait until the turn has ended, again. The agent streams each reply
at 300 deltas/s, starts it with a marker unique to the turn (`⟦7⟧`), and writes the
`time.monotonic()` at which it yielded that first delta to a file. The time to first token is from
that moment to the arrival of the marker's bytes at the terminal (both CLOCK_MONOTONIC). Also shown:
from writing Enter to the marker (what a user feels: it includes starting the turn and the model).
Target: p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path

from benchmarks.agents import marker
from benchmarks.terminal import ENTER, TURN_ENDED, Terminal, bench_env, fresh_home, percentile

TARGET_P99_MS = 50.0
READY = b"Chatting with"
"""The chat screen's opening notice for an --agent (`Chatting with function:paced. ...`): the chat is up."""


def first_deltas(path: Path) -> dict[int, float]:
    """The agent's record: turn number -> monotonic time of its first delta."""
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        turn, when = line.split()
        out[int(turn)] = float(when)
    return out


def measure(turns: int, deltas: int, rate: float, seed: int) -> dict:
    rng = random.Random(seed)
    ttft: list[float] = []
    from_enter: list[float] = []
    problems: list[str] = []
    with fresh_home() as home:
        record = home / "first-deltas.txt"
        env = bench_env(home, XSUS_BENCH_RATE=str(rate), XSUS_BENCH_FIRST_DELTA_FILE=str(record))
        with Terminal.spawn(["--agent", "benchmarks/agents.py:paced"], env=env) as term:
            if term.wait_for(READY, timeout=60) is None:
                raise RuntimeError(f"the chat was not ready within 60 s: {term.last_words()}")
            term.sleep(0.5)
            for turn in range(1, turns + 1):
                term.send(f"turn {turn}: tell me more deltas={deltas}")
                term.sleep(rng.uniform(0.1, 0.3))  # the prompt is typed; a moment later, Enter
                start = len(term.output)
                entered = term.send(ENTER)
                found = term.wait_offset(marker(turn).encode(), start=start, timeout=30)
                if found < 0:
                    problems.append(f"turn {turn}: its first delta never reached the screen")
                    break
                shown = term.arrival(found + len(marker(turn).encode()) - 1)
                if term.wait_match(TURN_ENDED, start=found, timeout=60 + deltas / rate) is None:
                    problems.append(f"turn {turn}: did not end")
                    break
                wrote = first_deltas(record).get(turn)
                if wrote is None:
                    problems.append(f"turn {turn}: the agent recorded no first delta")
                    continue
                ttft.append(shown - wrote)
                from_enter.append(shown - entered)
            peak = term.peak_rss_mb()
    ms = [value * 1000 for value in ttft]
    enter_ms = [value * 1000 for value in from_enter]
    return {
        "turns": turns,
        "measured": len(ms),
        "deltas_per_reply": deltas,
        "rate_deltas_per_s": rate,
        "p50_ms": round(statistics.median(ms), 2) if ms else None,
        "p99_ms": round(percentile(ms, 0.99), 2) if ms else None,
        "max_ms": round(max(ms), 2) if ms else None,
        "enter_to_first_token_p50_ms": round(statistics.median(enter_ms), 2) if ms else None,
        "enter_to_first_token_p99_ms": round(percentile(enter_ms, 0.99), 2) if ms else None,
        "target_p99_ms": TARGET_P99_MS,
        "meets_target": bool(ms) and not problems and percentile(ms, 0.99) < TARGET_P99_MS,
        "peak_rss_mb": None if peak is None else round(peak, 1),
        "problems": problems,
        "ttft_ms": [round(value, 2) for value in ms],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="time to first token on screen, over many turns of one session")
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--deltas", type=int, default=150, help="deltas per reply (150: half a second at 300/s)")
    parser.add_argument("--rate", type=float, default=300.0, help="deltas per second the replies stream at")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="3 short turns, to check the script runs")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/ttft.json"))
    args = parser.parse_args()
    turns, deltas = (3, 30) if args.quick else (args.turns, args.deltas)
    started = time.monotonic()
    figures = measure(turns, deltas, args.rate, args.seed)
    figures["wall_s"] = round(time.monotonic() - started, 1)
    figures["load_average_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine skews the figures
    verdict = "ok" if figures["meets_target"] else "MISSED"
    print(f"{'benchmark':<30}{'turns':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'target':>22}")
    print(
        f"{'first delta to screen':<30}{figures['measured']:>7}{figures['p50_ms']!s:>9}{figures['p99_ms']!s:>9}"
        f"{figures['max_ms']!s:>9}{'p99 < 50: ' + verdict:>22}"
    )
    print(
        f"{'Enter to first token':<30}{figures['measured']:>7}{figures['enter_to_first_token_p50_ms']!s:>9}"
        f"{figures['enter_to_first_token_p99_ms']!s:>9}"
    )
    for problem in figures["problems"]:
        print(f"problem: {problem}")
    print(f"wall {figures['wall_s']} s, load average {figures['load_average_1m']} (1 min, on {os.cpu_count()} CPUs)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
