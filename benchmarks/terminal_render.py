"""Render throughput where users look: the real app in a pseudo-terminal, the real openai client, a loopback server.

    .venv/bin/python -m benchmarks.terminal_render [--sizes 30 100] [--runs 3] [--paths-runs 5] [--profile]

A loopback server (benchmarks/stream_paths.py, 127.0.0.1 only) streams the same varied markdown (headings,
lists, code, tables, quotes; ~5.5 characters a chunk) as fast as the client reads it. For each size and
run, in the same run and under the same load:
  - xsus in a pty of 110x36 (`--model openai-chat:bench`, OPENAI_BASE_URL at the server): Enter on a
    prompt; timed from the server writing the reply's first chunk to the terminal receiving the reply's
    last line (its final words, found in the bytes: so the whole reply has been drawn). The turn going
    idle (the status line's figures) is shown beside it;
  - the no-UI pydantic-ai consumer: `agent.run_stream_events()` consuming every event (a fresh process);
  - the floor: the openai SDK alone parsing the same stream (a fresh process).
Both no-UI times run from the server's first chunk to the consumer's last event. The app is told that
the terminal supports synchronized output (it asks; a real terminal answers), so each frame it draws
is bracketed by `ESC[?2026h`..`ESC[?2026l`: that counts frames, and the cursor moves inside a frame
count the lines it rewrote. Bytes per KB of reply: what the terminal received, first chunk to last line.

Then (`--paths-runs`) the cheapest path through pydantic-ai, no UI, in this process, each path in
turn against the same stream: the SDK, the model layer alone, `run_stream_events`, `iter()` +
`node.stream()`, `event_stream_handler`, and xsus's engine (`ChatSession.run_turn`); median of N, with
the cost per event. Then (`--profile`) xsus under cProfile in the pty for the largest size, its time
by area (benchmarks/profile_areas.py); `--py-spy PATH` samples every thread with py-spy as well.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.stream_paths import FINAL_WORDS, MODEL_NAME, MODES, chunk_count, consume, reply_markdown
from benchmarks.terminal import ENTER, PLACEHOLDER, ROOT, TURN_ENDED, Terminal, bench_env, fresh_home

SIZE = (110, 36)
SYNC_QUERY = b"\x1b[?2026$p"
SYNC_REPLY = b"\x1b[?2026;2$y"
"""DECRPM: mode 2026 (synchronized output) is known and reset; Textual then brackets every frame."""
SYNC_START = b"\x1b[?2026h"
MOVE = re.compile(rb"\x1b\[(\d+);\d+H")
ESCAPE = re.compile(rb"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-_])")
"""Any escape sequence (CSI, OSC, or two bytes): what is left is the characters drawn."""
FINAL = FINAL_WORDS.encode()
PROMPT = "write the long reply"


class Server:
    """The loopback server in its own process: its base URL, and a record (monotonic times) per reply."""

    def __init__(self, kb: float) -> None:
        command = [sys.executable, "-m", "benchmarks.stream_paths", "serve", "--kb", str(kb)]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=_env())
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self.lines.get(timeout=60)
        if not first.startswith("URL "):
            raise RuntimeError(f"the loopback server did not start: {first!r}")
        self.url = first.split()[1]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def reply(self, timeout: float = 60) -> dict:
        """The next reply's record: received, first_chunk, last_chunk, events, outcome."""
        return json.loads(self.lines.get(timeout=timeout))

    def close(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYDANTIC_AI_NO_BANNER": "1", "PYTHONPATH": str(ROOT), **extra}


def consumer(mode: str, server: Server, kb: float, *, profile_to: Path | None = None) -> dict:
    """One run of a no-UI consumer in a fresh process; seconds from the server's first chunk to its last event."""
    profiler = [] if profile_to is None else ["-m", "cProfile", "-o", str(profile_to)]
    command = [sys.executable, *profiler, "-m", "benchmarks.stream_paths", "consume", mode, "--base-url", server.url]
    done = subprocess.run([*command, "--kb", str(kb)], cwd=ROOT, capture_output=True, text=True, env=_env())
    if done.returncode:
        raise RuntimeError(f"the {mode} consumer failed: {done.stderr[-2000:]}")
    result, record = json.loads(done.stdout), server.reply()
    if not result["complete"]:
        raise RuntimeError(f"the {mode} consumer did not receive the whole reply")
    return {"s": result["last"] - record["first_chunk"], "events": result["events"]}


def xsus(
    server: Server, kb: float, *, command: list[str] | None = None, timeout: float = 300, save_to: Path | None = None
) -> dict:
    """One turn of the app in a pty: the reply's last line on the terminal, and what the terminal received."""
    with fresh_home() as home:
        env = bench_env(home, OPENAI_BASE_URL=server.url, OPENAI_API_KEY="dummy")
        extra = {} if command is None else {"command": command}
        with Terminal.spawn(["--model", f"openai-chat:{MODEL_NAME}"], env=env, size=SIZE, **extra) as term:
            synced = term.wait_for(SYNC_QUERY, timeout=60) is not None
            if synced:
                term.send(SYNC_REPLY)
            if term.wait_for(PLACEHOLDER, timeout=60) is None:
                raise RuntimeError(f"the app did not start: {term.last_words()}")
            term.sleep(0.5)
            term.send(PROMPT)
            term.sleep(0.3)
            start = len(term.output)
            term.send(ENTER)
            found = term.wait_offset(FINAL, start=start, timeout=timeout)
            if found < 0:
                raise RuntimeError(f"the reply's last line never reached the screen: {term.last_words()}")
            end = found + len(FINAL)
            shown = term.arrival(end - 1)
            record = server.reply()
            ended = term.wait_match(TURN_ENDED, start=found, timeout=60)
            idle = term.arrival(ended.end() - 1) if ended else None
            first = record["first_chunk"]
            begin = term.offset_at(first)
            frames = _frames(term, begin, end)
            term.close()
            if save_to is not None:  # what the terminal received, first chunk to the last line, for a closer look
                save_to.write_bytes(bytes(term.output[begin:end]))
    seconds = shown - first
    return {
        "s": seconds,
        "idle_s": None if idle is None else idle - first,
        "synchronized": synced,
        "bytes": end - begin,
        "bytes_per_kb": (end - begin) / kb,
        **frames,
        "fps": frames["frames"] / seconds if seconds > 0 else None,
    }


def _frames(term: Terminal, begin: int, end: int) -> dict:
    """Frames (synchronized-output brackets) between two offsets: rows each rewrote, bytes, the longest gap."""
    output = bytes(term.output[begin:end])
    starts = [match.start() for match in re.finditer(re.escape(SYNC_START), output)]
    rows, sizes, cells = [], [], []
    for index, at in enumerate(starts):
        body = output[at : starts[index + 1] if index + 1 < len(starts) else len(output)]
        rows.append(len({match.group(1) for match in MOVE.finditer(body)}))
        sizes.append(len(body))
        cells.append(len(ESCAPE.sub(b"", body).replace(b"\r\n", b"").decode(errors="replace")))
    arrivals = [term.arrival(begin + at) for at in starts]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    return {
        "frames": len(starts),
        "rows_per_frame_median": statistics.median(rows) if rows else None,
        "rows_per_frame_mean": round(statistics.fmean(rows), 1) if rows else None,
        "bytes_per_frame_median": statistics.median(sizes) if sizes else None,
        "cells_per_frame_mean": round(statistics.fmean(cells)) if cells else None,
        "cells_written": sum(cells),
        "longest_frame_gap_ms": round(max(gaps) * 1000, 1) if gaps else None,
    }


def item1(sizes: list[float], runs: int, save_dir: Path | None = None) -> list[dict]:
    rows = []
    for kb in sizes:
        text = reply_markdown(kb)
        ours, events, sdk = [], [], []
        with Server(kb) as server:
            for run in range(runs):  # interleaved, so that a change in the machine's load hits each alike
                save_to = None if save_dir is None else save_dir / f"terminal_render_{kb:g}kb_{run + 1}.bytes"
                ours.append(xsus(server, kb, save_to=save_to))
                events.append(consumer("events", server, kb))
                sdk.append(consumer("sdk", server, kb))
        ratios = [run["s"] / floor["s"] for run, floor in zip(ours, events, strict=True)]
        median = statistics.median
        rows.append(
            {
                "size_kb": round(len(text) / 1024, 1),
                "chunks": chunk_count(text),
                "runs": runs,
                "sdk_s": round(median(run["s"] for run in sdk), 3),
                "no_ui_s": round(median(run["s"] for run in events), 3),
                "xsus_s": round(median(run["s"] for run in ours), 3),
                "xsus_idle_s": _median_or_none([run["idle_s"] for run in ours]),
                "xsus_vs_no_ui": round(median(ratios), 2),
                "xsus_vs_no_ui_each": [round(ratio, 2) for ratio in ratios],
                "xsus_us_per_chunk": round(median(run["s"] for run in ours) / chunk_count(text) * 1e6, 1),
                "bytes_per_kb": round(median(run["bytes_per_kb"] for run in ours)),
                "fps": round(median(run["fps"] for run in ours), 1),
                "frames": median(run["frames"] for run in ours),
                "rows_per_frame_median": median(run["rows_per_frame_median"] or 0 for run in ours),
                "rows_per_frame_mean": median(run["rows_per_frame_mean"] or 0 for run in ours),
                "bytes_per_frame_median": median(run["bytes_per_frame_median"] or 0 for run in ours),
                "cells_per_frame_mean": median(run["cells_per_frame_mean"] or 0 for run in ours),
                "cells_per_kb": round(median(run["cells_written"] for run in ours) / kb),
                "longest_frame_gap_ms": max(run["longest_frame_gap_ms"] or 0 for run in ours),
                "synchronized": all(run["synchronized"] for run in ours),
                "load_average_1m": round(os.getloadavg()[0], 2),
            }
        )
    return rows


def _median_or_none(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return round(statistics.median(present), 3) if present else None


def item3(kb: float, runs: int) -> dict:
    """Each no-UI path through the same stream, in turn, `runs` times after a warm-up round (this process)."""
    os.environ["OPENAI_API_KEY"] = "dummy"
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    counts: dict[str, int] = {}
    with Server(kb) as server:
        os.environ["OPENAI_BASE_URL"] = server.url
        for round_ in range(runs + 1):
            for mode in MODES:
                result = asyncio.run(consume(mode))
                record = server.reply()
                if result["text"] != reply_markdown(kb):
                    raise RuntimeError(f"{mode} did not receive the whole reply")
                counts[mode] = result["events"]
                if round_:  # the first round warms imports and caches
                    times[mode].append(result["last"] - record["first_chunk"])
    floor = statistics.median(times["sdk"])
    chunks = chunk_count(reply_markdown(kb))
    out = {"size_kb": kb, "chunks": chunks, "runs": runs, "paths": {}}
    for mode in MODES:
        median = statistics.median(times[mode])
        out["paths"][mode] = {
            "s": round(median, 3),
            "events": counts[mode],
            "us_per_chunk": round(median / chunks * 1e6, 1),
            "us_per_chunk_over_sdk": round((median - floor) / chunks * 1e6, 1),
            "each_s": [round(value, 3) for value in times[mode]],
        }
    out["load_average_1m"] = round(os.getloadavg()[0], 2)
    return out


def profile(kb: float, out_dir: Path, py_spy: str | None) -> dict:
    """xsus under cProfile (and py-spy, when given) in the pty for one reply of `kb`; its time by area."""
    from benchmarks.profile_areas import cprofile_report

    out_dir.mkdir(parents=True, exist_ok=True)
    dump = out_dir / f"terminal_render_{kb:g}kb.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(dump), "-m", "xsus_tui"]
    with Server(kb) as server:
        run = xsus(server, kb, command=command)
        result = {"cprofile": cprofile_report(dump), "cprofile_run": run, "dump": str(dump)}
        # the no-UI consumer under the same profiler: what pydantic-ai itself costs per event
        no_ui = out_dir / f"terminal_render_{kb:g}kb_no_ui.prof"
        consumer("events", server, kb, profile_to=no_ui)
        result["no_ui_cprofile"] = cprofile_report(no_ui)
        if py_spy:
            result["py_spy"] = _py_spy(server, kb, py_spy, out_dir)
    return result


def _py_spy(server: Server, kb: float, py_spy: str, out_dir: Path) -> dict:
    """Sample the app's threads with py-spy (100 Hz, idle included) while it draws one reply."""
    from benchmarks.profile_areas import collapsed_report

    stacks = out_dir / f"terminal_render_{kb:g}kb.pyspy.txt"
    wrapper = [py_spy, "record", "--format", "raw", "--rate", "200", "--idle", "--threads", "-o", str(stacks), "--"]
    run = xsus(server, kb, command=[*wrapper, sys.executable, "-m", "xsus_tui"])
    return {"run": run, "stacks": str(stacks), **collapsed_report(stacks)} if stacks.exists() else {"run": run}


def print_item1(rows: list[dict]) -> None:
    print(f"render in a real terminal ({SIZE[0]}x{SIZE[1]} pty, openai client, loopback), median of {rows[0]['runs']}")
    print(
        f"{'KB':>6}{'chunks':>8}{'sdk s':>8}{'no UI s':>9}{'xsus s':>8}{'x no-UI':>9}{'idle s':>8}"
        f"{'us/chunk':>10}{'B/KB':>7}{'cells/KB':>9}{'fps':>6}{'rows/frame':>11}{'cells/frame':>12}{'gap ms':>8}"
        f"{'load':>6}"
    )
    for row in rows:
        print(
            f"{row['size_kb']:>6}{row['chunks']:>8}{row['sdk_s']:>8.2f}{row['no_ui_s']:>9.2f}{row['xsus_s']:>8.2f}"
            f"{row['xsus_vs_no_ui']:>9.2f}{row['xsus_idle_s'] or 0:>8.2f}{row['xsus_us_per_chunk']:>10.1f}"
            f"{row['bytes_per_kb']:>7}{row['cells_per_kb']:>9}{row['fps']:>6}{row['rows_per_frame_mean']:>11}"
            f"{row['cells_per_frame_mean']:>12}{row['longest_frame_gap_ms']:>8}{row['load_average_1m']:>6}"
        )
    if not all(row["synchronized"] for row in rows):
        print("note: the app did not ask for synchronized output, so frames could not be counted")


def print_item3(paths: dict) -> None:
    size, chunks, runs = paths["size_kb"], paths["chunks"], paths["runs"]
    print(f"\npaths through pydantic-ai, no UI, {size} KB, {chunks} chunks, median of {runs}")
    print(f"{'path':<10}{'s':>8}{'events':>8}{'us/chunk':>10}{'over SDK':>10}")
    for mode, row in paths["paths"].items():
        print(
            f"{mode:<10}{row['s']:>8.3f}{row['events']:>8}{row['us_per_chunk']:>10.1f}{row['us_per_chunk_over_sdk']:>10.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="render throughput in a real terminal, and the no-UI paths")
    parser.add_argument("--sizes", type=float, nargs="+", default=[30, 100], help="reply sizes in KB")
    parser.add_argument("--runs", type=int, default=3, help="runs of xsus in the terminal per size (0: skip)")
    parser.add_argument("--paths-runs", type=int, default=5, help="runs of each no-UI path (0: skip)")
    parser.add_argument("--paths-kb", type=float, default=30)
    parser.add_argument("--profile", action="store_true", help="profile xsus on the largest size as well")
    parser.add_argument("--py-spy", help="the py-spy executable, to sample every thread as well (with --profile)")
    parser.add_argument("--save-output", type=Path, help="keep the bytes the terminal received, a file a run")
    parser.add_argument("--quick", action="store_true", help="one small reply, one run each: checks the script runs")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/terminal_render.json"))
    args = parser.parse_args()
    os.environ.setdefault("XSUS_HOME", tempfile.mkdtemp(prefix="xsus-bench-"))
    if args.quick:
        args.sizes, args.runs, args.paths_runs, args.paths_kb, args.profile = [2], 1, 1, 2, False
    started = time.monotonic()
    if args.save_output:
        args.save_output.mkdir(parents=True, exist_ok=True)
    figures: dict = {}
    if args.runs:
        figures["render"] = item1(args.sizes, args.runs, args.save_output)
        print_item1(figures["render"])
        sys.stdout.flush()
    if args.paths_runs:
        figures["paths"] = item3(args.paths_kb, args.paths_runs)
        print_item3(figures["paths"])
    if args.profile:
        from benchmarks.profile_areas import print_collapsed, print_cprofile

        figures["profile"] = profile(max(args.sizes), args.json.parent, args.py_spy)
        print(f"\nxsus under cProfile, {max(args.sizes):g} KB: {figures['profile']['cprofile_run']['s']:.2f} s")
        print_cprofile(figures["profile"]["cprofile"])
        print(f"\nthe no-UI consumer (run_stream_events) under cProfile, {max(args.sizes):g} KB")
        print_cprofile(figures["profile"]["no_ui_cprofile"])
        if "samples_by_thread" in figures["profile"].get("py_spy", {}):
            print(f"\nxsus under py-spy, {max(args.sizes):g} KB: {figures['profile']['py_spy']['run']['s']:.2f} s")
            print_collapsed(figures["profile"]["py_spy"])
    figures["wall_s"] = round(time.monotonic() - started, 1)
    print(f"wall {figures['wall_s']} s, load average {os.getloadavg()[0]:.2f} (1 min, on {os.cpu_count()} CPUs)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
