"""Start-up: `xsus --version`, and the TUI from process start to its first painted frame.

    .venv/bin/python -m benchmarks.startup [--runs 10]

The TUI runs in a real pseudo-terminal (100x30) on the demo model with a fresh XSUS_HOME; the first
frame counts as painted when the terminal has received the prompt's placeholder text (as
`benchmarks.terminal.PLACEHOLDER` matches it: the whole "Type a message" only arrives when the cursor
first blinks off, about a second later).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

from benchmarks.terminal import PLACEHOLDER, XSUS, Terminal, bench_env, fresh_home

MARKER = PLACEHOLDER


def version_time() -> float:
    started = time.perf_counter()
    subprocess.run([*XSUS, "--version"], check=True, capture_output=True)
    return time.perf_counter() - started


def first_paint_time(home: str | Path) -> float:
    with Terminal.spawn(env=bench_env(home)) as term:
        painted = term.wait_for(MARKER, timeout=30)
        if painted is None:
            raise RuntimeError("the TUI did not paint within 30 s")
        return painted - term.started


def main() -> None:
    parser = argparse.ArgumentParser(description="start-up times of xsus")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/startup.json"))
    args = parser.parse_args()
    versions = [version_time() for _ in range(args.runs)]
    paints = []
    for _ in range(args.runs):
        with fresh_home() as home:
            paints.append(first_paint_time(home))
    figures = {
        "runs": args.runs,
        "version_p50_ms": round(statistics.median(versions) * 1000, 1),
        "first_paint_p50_ms": round(statistics.median(paints) * 1000, 1),
        "first_paint_max_ms": round(max(paints) * 1000, 1),
    }
    print(f"{'benchmark':<26}{'runs':>6}{'p50 ms':>10}{'max ms':>10}")
    print(f"{'xsus --version':<26}{args.runs:>6}{figures['version_p50_ms']:>10}{max(versions) * 1000:>10.1f}")
    print(
        f"{'TUI first paint':<26}{args.runs:>6}{figures['first_paint_p50_ms']:>10}{figures['first_paint_max_ms']:>10}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
