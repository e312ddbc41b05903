"""Every benchmark in one run: `.venv/bin/python -m benchmarks [--quick] [--only NAME ...]`.

Runs each script in turn (each prints its own table), then writes benchmarks/results/all.json with
every script's figures, the machine they ran on and the load average while each ran (sampled every
second: these machines are shared, and other work skews every timing). `--quick` runs tiny sizes, to
check they work.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path

RESULTS = Path("benchmarks/results")
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    # name: (what it measures, full-run arguments, quick arguments)
    "render": ("a. render throughput", [], ["--quick"]),
    "responsiveness": ("b. key press to screen while streaming", ["--busy"], ["--quick"]),
    "ttft": ("c. first token on screen", [], ["--quick"]),
    "interrupt": ("d. Esc to idle, headless and in a real terminal", [], ["--runs", "3", "--terminal-runs", "2"]),
    "startup": ("e. start-up", [], ["--runs", "1", "--load", "0"]),
    "history": ("f. long history", [], ["--quick"]),
    "store": ("g. store save cost", [], ["--quick"]),
    "long_session": ("h. long live session", [], ["--quick"]),
    "crash": ("i. what kill -9 mid-reply loses", [], ["--runs", "1"]),
    "conversations": ("j. a large history: list, search, open, save, migrate", [], ["--quick"]),
    "inspector": ("k. the turn inspector: F2 to its first frame on a 17,000-event turn", [], ["--quick"]),
    "recording": ("l. recording every turn: render cost with and without, bytes stored", [], ["--quick"]),
    "terminal_render": (
        "m. render in a real terminal with the openai client, beside the no-UI paths through pydantic-ai",
        [],
        ["--quick"],
    ),
}


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus": str(os.cpu_count()),
        "os": platform.platform(),
        "python": platform.python_version(),
        "textual": version("textual"),
        "pydantic-ai": version("pydantic-ai-slim"),
        "rich": version("rich"),
    }


class LoadSampler:
    """The 1-minute load average, sampled every `interval` seconds in a thread while a script runs."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict[str, float]:
        """min, mean and max of the samples (there is always at least one)."""
        return {
            "min": round(min(self.samples), 2),
            "mean": round(sum(self.samples) / len(self.samples), 2),
            "max": round(max(self.samples), 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description="run every benchmark and collect the figures")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that every script runs")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("--json", type=Path, default=RESULTS / "all.json")
    args = parser.parse_args()
    out_dir = args.json.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {"machine": machine(), "quick": args.quick, "results": {}, "load": {}}
    env = {**os.environ, "PYDANTIC_AI_NO_BANNER": "1"}
    failed = []
    for name, (title, full, quick) in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        out = out_dir / f"{name}.json"
        print(f"\n== {title} (python -m benchmarks.{name} {' '.join(quick if args.quick else full)})", flush=True)
        started = time.perf_counter()
        with LoadSampler() as load:
            result = subprocess.run(
                [sys.executable, "-m", f"benchmarks.{name}", *(quick if args.quick else full), "--json", str(out)],
                env=env,
            )
        if result.returncode:
            failed.append(name)
            continue
        seconds = time.perf_counter() - started
        report["results"][name] = json.loads(out.read_text())
        report["load"][name] = {**load.summary(), "seconds": round(seconds, 1)}
        figures = report["load"][name]
        print(
            f"   ({seconds:.0f} s; load average {figures['min']}-{figures['max']}, on {os.cpu_count()} CPUs)",
            flush=True,
        )
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nmachine: {report['machine']}\nall figures: {args.json}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
