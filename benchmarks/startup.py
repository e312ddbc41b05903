"""Start-up: `xsus --version`, and the TUI from process start to its first frame, to typing, to ready to send.

    .venv/bin/python -m benchmarks.startup [--runs 5] [--load 1] [--against OLD_CHECKOUT]

Each run starts the real app in a pseudo-terminal (100x30, a fresh XSUS_HOME) and, the moment its first
frame arrives, types `hello` and Enter in one write (as a user who starts typing at once, or pastes).
Times are from just before the process is forked to the arrival of:

- **first frame**: the prompt's placeholder (`benchmarks.terminal.PLACEHOLDER`);
- **typing**: the typed `hello` echoed in the prompt (the start-up screen takes typing);
- **ready to send**: the status line's `streaming`, painted when the chat screen acts on that Enter and
  the turn starts. Enter pressed at any moment is acted on at the latest then (a message sent while
  starting is queued and goes out the moment the chat is ready), so this is when Enter is acted on;
- for `--agent`, **loading shown**: the start-up screen's `loading agent ...`;
- and **CPU to ready**: the app's CPU time (user + system, /proc) when ready to send was seen, a figure
  that other processes on the machine change much less than they change the times;
- beside it, **the libraries alone**: the CPU time of a fresh interpreter that only imports the libraries
  that start can't be ready without (`LIBRARIES`: Textual's app and pydantic-ai, and for openai-chat
  pydantic-ai's OpenAI model, which imports the openai SDK), the collector off as the app has it while
  starting: the floor under CPU to ready, measured in the same runs.

The package is byte-compiled first (as pip does when it installs it): with PYTHONDONTWRITEBYTECODE set and no
`__pycache__`, every start would compile xsus's own modules again, which an installed xsus never does.

Three ways to start: the demo model; `--model openai-chat:bench` (OPENAI_API_KEY=dummy, OPENAI_BASE_URL at
a closed 127.0.0.1 port: no request is made before the send, which then fails, as it should); and
`--agent benchmarks/agents.py:paced`. Each is run `--runs` times (median shown), first on the machine as
it is, then with `--load` CPU-bound processes beside it (`python -c 'while 1: pass'`); the load average
is printed with each. `--against DIR` compares instead: each start is made from DIR (an older checkout, as
`git archive` writes it) and from this one in turn, and each row gets the load average its runs saw.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.terminal import ENTER, PLACEHOLDER, ROOT, XSUS, Terminal, bench_env, fresh_home

MARKER = PLACEHOLDER
TYPED = b"hello"
STREAMING = b"streaming"
LOADING = b"loading agent"


def version_time() -> float:
    started = time.perf_counter()
    subprocess.run([*XSUS, "--version"], check=True, capture_output=True)
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) process `pid` has used so far, from /proc (NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released: a connection to it is refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


SCENARIOS: dict[str, tuple[list[str], dict[str, str]]] = {
    "demo": ([], {}),
    "openai": (["--model", "openai-chat:bench"], {"OPENAI_API_KEY": "dummy"}),
    "agent": (["--agent", "benchmarks/agents.py:paced"], {}),
}
"""name: (arguments, environment); openai's OPENAI_BASE_URL is added per run."""

LIBRARIES: dict[str, str] = {
    "demo": "textual.app, pydantic_ai",
    "openai": "textual.app, pydantic_ai, pydantic_ai.models.openai",
    "agent": "textual.app, pydantic_ai",
}
"""What each start imports before it can be ready (the demo's FunctionModel comes with pydantic_ai)."""


def libraries_cpu(scenario: str) -> float:
    """The CPU time (user + system) of a fresh interpreter importing `LIBRARIES[scenario]`, and nothing else."""
    code = f"import gc; gc.disable(); import {LIBRARIES[scenario]}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYDANTIC_AI_NO_BANNER": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def one_run(scenario: str, home: Path, root: Path = ROOT) -> dict[str, float]:
    """The times (seconds from the fork) of one start, typing at the first frame; `root`: the checkout to run."""
    args, extra = SCENARIOS[scenario]
    extra = dict(extra)
    if scenario == "openai":
        extra["OPENAI_BASE_URL"] = f"http://127.0.0.1:{closed_port()}/v1"
    if root != ROOT:
        extra["PYTHONPATH"] = str(root)
    with Terminal.spawn(args, env=bench_env(home, **extra), cwd=root) as term:
        painted_at = term.wait_offset(MARKER, timeout=30)
        if painted_at < 0:
            raise RuntimeError(f"{scenario}: the TUI did not paint within 30 s: {term.last_words()}")
        painted = term.arrival(painted_at + len(MARKER) - 1)
        start = len(term.output)
        term.send(TYPED + ENTER)
        typed = term.wait_for(TYPED, start=start, timeout=30)
        ready = term.wait_for(STREAMING, start=start, timeout=60)
        cpu = cpu_seconds(term.pid)
        if typed is None or ready is None:
            raise RuntimeError(f"{scenario}: the typed message was not sent within 60 s: {term.last_words()}")
        times = {
            "first_frame": painted - term.started,
            "typing": typed - term.started,
            "ready": ready - term.started,
            "cpu": cpu,
        }
        if scenario == "agent":
            loading = term.arrival(found + len(LOADING) - 1) if (found := term.find(LOADING)) >= 0 else None
            # Loading a module as light as benchmarks/agents.py may end before it is painted: then it was not shown.
            times["loading_shown"] = (loading - term.started) if loading is not None else float("nan")
        return times


@contextlib.contextmanager
def cpu_load(processes: int) -> Iterator[None]:
    """`processes` CPU-bound Python processes running beside the app, for the loaded figures."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(processes)]
    try:
        time.sleep(0.5 if hogs else 0)  # let them take their share of the CPU
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def measure(runs: int, load: int) -> dict[str, object]:
    """Median (and max) of each time over `runs` starts of each scenario, interleaved, under `load` hogs."""
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in SCENARIOS}
    with cpu_load(load):
        before = os.getloadavg()[0]
        for _ in range(runs):
            for name in SCENARIOS:
                with fresh_home() as home:
                    times = one_run(name, home)
                times["libraries"] = libraries_cpu(name)
                samples[name].append(times)
        after = os.getloadavg()[0]
    figures: dict[str, object] = {
        "cpu_hogs": load,
        "loadavg_before": round(before, 2),
        "loadavg_after": round(after, 2),
    }
    for name, runs_of in samples.items():
        for key in runs_of[0]:
            values = [run[key] for run in runs_of if run[key] == run[key]]  # NaN: not shown in that run
            if not values:
                figures[f"{name}_{key}_p50_ms"] = None
                continue
            figures[f"{name}_{key}_p50_ms"] = round(statistics.median(values) * 1000, 1)
            figures[f"{name}_{key}_max_ms"] = round(max(values) * 1000, 1)
    return figures


def compare(runs: int, load: int, against: Path) -> dict[str, object]:
    """A/B: each scenario started `runs` times from this checkout and from `against` (an older one), one after
    the other (which goes first alternates), under `load` hogs. Medians, with the load average each run saw."""
    checkouts = {"before": against, "after": ROOT}
    samples: dict[tuple[str, str], list[dict[str, float]]] = {(c, s): [] for c in checkouts for s in SCENARIOS}
    with cpu_load(load):
        for run in range(runs):
            order = list(checkouts) if run % 2 == 0 else list(reversed(checkouts))
            for scenario in SCENARIOS:
                for checkout in order:
                    with fresh_home() as home:
                        times = one_run(scenario, home, checkouts[checkout])
                    times["loadavg"] = os.getloadavg()[0]
                    samples[(checkout, scenario)].append(times)
    figures: dict[str, object] = {"cpu_hogs": load, "against": str(against)}
    print(f"\nA/B against {against}: {load} CPU-bound process(es) beside it, medians of {runs} (max)")
    print(f"{'':<16}{'first frame':>14}{'ready to send':>16}{'CPU to ready':>15}{'load average':>16}")
    for scenario in SCENARIOS:
        for checkout in checkouts:
            runs_of = samples[(checkout, scenario)]
            row = {}
            for key in ("first_frame", "ready", "cpu"):
                values = [run[key] * 1000 for run in runs_of]
                row[key] = (round(statistics.median(values), 1), round(max(values), 1))
            loads = [run["loadavg"] for run in runs_of]
            row["loadavg"] = (round(min(loads), 2), round(max(loads), 2))
            figures[f"{checkout}_{scenario}"] = row
            cells = [f"{row[key][0]:.0f} ({row[key][1]:.0f})" for key in ("first_frame", "ready", "cpu")]
            loads = "{:.2f}-{:.2f}".format(*row["loadavg"])
            print(f"{scenario + ' ' + checkout:<16}{cells[0]:>14}{cells[1]:>16}{cells[2]:>15}{loads:>16}")
    return figures


def table(title: str, figures: dict[str, object]) -> None:
    print(
        f"\n{title}: {figures['cpu_hogs']} CPU-bound process(es) beside it, load average (1 min) "
        f"{figures['loadavg_before']} before, {figures['loadavg_after']} after"
    )
    heads = ("first frame", "typing", "ready to send", "CPU to ready", "libraries alone", "loading shown")
    print(f"{'median ms (max)':<16}" + "".join(f"{head:>16}" for head in heads))
    for name in SCENARIOS:
        cells = []
        for key in ("first_frame", "typing", "ready", "cpu", "libraries", "loading_shown"):
            p50 = figures.get(f"{name}_{key}_p50_ms")
            cells.append("-" if p50 is None else f"{p50:.0f} ({figures[f'{name}_{key}_max_ms']:.0f})")
        print(f"{name:<16}" + "".join(f"{cell:>16}" for cell in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description="start-up times of xsus")
    parser.add_argument("--runs", type=int, default=5, help="starts of each kind, for each load (median shown)")
    parser.add_argument("--load", type=int, default=1, help="CPU-bound processes for the loaded runs (0: none)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/startup.json"))
    parser.add_argument(
        "--against",
        type=Path,
        metavar="DIR",
        help="A/B instead: an older checkout (e.g. from `git archive`), started in turn with this one",
    )
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "xsus_tui")], check=True)
    if args.against:
        against = args.against.resolve()
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(against / "xsus_tui")], check=True)
        ab = {"quiet": compare(args.runs, 0, against)}
        if args.load:
            ab["loaded"] = compare(args.runs, args.load, against)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(ab, indent=2))
        return
    versions = [version_time() for _ in range(args.runs)]
    quiet = measure(args.runs, 0)
    figures: dict[str, object] = {
        "runs": args.runs,
        "version_p50_ms": round(statistics.median(versions) * 1000, 1),
        # The first frame of the demo's quiet runs, under the name the earlier runs gave it.
        "first_paint_p50_ms": quiet["demo_first_frame_p50_ms"],
        "first_paint_max_ms": quiet["demo_first_frame_max_ms"],
        "quiet": quiet,
    }
    print(f"xsus --version: median {figures['version_p50_ms']} ms of {args.runs}")
    table("quiet", quiet)
    if args.load:
        figures["loaded"] = loaded = measure(args.runs, args.load)
        table("loaded", loaded)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
