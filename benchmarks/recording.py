"""What recording every turn costs: render throughput with and without it, and the bytes it stores.

    .venv/bin/python -m benchmarks.recording [--sizes 30 100] [--runs 3] [--quick]

For each size (KB of varied markdown in 6-character deltas, as benchmark a), the same turn runs with the
history store, recording on and off, alternating, median of `--runs`:
  - no UI: consuming the turn's events (first delta to the end of the stream: the recording is stored before
    the ending is yielded, so its cost is inside);
  - xsus: the real app headless, first delta to the turn idle (benchmark a's measure).
Then what the store keeps per turn: the recording's row (header + compressed events) against the reply's text,
for these replies and for the demo's text turns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import render
from benchmarks.render import DELTA, chat_agent, markdown


async def no_ui(text: str, store, record: bool) -> float:
    from xsus_tui.core.session import ChatSession

    session = ChatSession(chat_agent(text), store)
    session.record = record
    first = None
    async for event in session.run_turn("go"):
        if first is None and type(event).__name__ == "TextDelta":
            first = time.perf_counter()
    return time.perf_counter() - (first or time.perf_counter())


async def app(text: str, store, record: bool) -> float:
    from xsus_tui.core.session import ChatSession

    session = ChatSession(chat_agent(text), store)
    session.record = record
    return await render.xsus(text, session)


def stored_bytes(path: Path) -> tuple[int, int]:
    """The newest recording's row: (header + events bytes, parts bytes it refers to)."""
    db = sqlite3.connect(path)
    header, body, parts = db.execute(
        "SELECT header, events, parts FROM recordings ORDER BY created_at DESC LIMIT 1"
    ).fetchone()
    keys = json.loads(parts)
    shared = sum(
        len(data)
        for (data,) in db.execute(
            f"SELECT data FROM recording_parts WHERE hash IN ({','.join('?' * len(keys))})", keys
        ).fetchall()
    )
    db.close()
    return len(header.encode()) + len(body), shared


async def measure(sizes: list[int], runs: int) -> dict:
    from xsus_tui.core import events as ev
    from xsus_tui.core.agents import build_chat_agent
    from xsus_tui.core.session import ChatSession
    from xsus_tui.core.store import SQLiteConversationStore

    folder = Path(tempfile.mkdtemp(prefix="xsus-bench-recording-"))
    store = SQLiteConversationStore.open(folder / "history.db")
    rows = []
    try:
        for size in sizes:
            text = markdown(size)
            times: dict[str, list[float]] = {"no_ui_off": [], "no_ui_on": [], "app_off": [], "app_on": []}
            for _ in range(runs):
                for record in (False, True):
                    key = "on" if record else "off"
                    times[f"no_ui_{key}"].append(await no_ui(text, store, record))
                    times[f"app_{key}"].append(await app(text, store, record))
            stored, shared = stored_bytes(folder / "history.db")
            median = {name: statistics.median(values) for name, values in times.items()}
            rows.append(
                {
                    "size_kb": size,
                    "deltas": -(-len(text) // DELTA),
                    **{f"{name}_s": round(value, 3) for name, value in median.items()},
                    "no_ui_cost": round(median["no_ui_on"] / median["no_ui_off"] - 1, 3),
                    "app_cost": round(median["app_on"] / median["app_off"] - 1, 3),
                    "text_bytes": len(text.encode()),
                    "stored_bytes": stored,
                    "stored_vs_text": round(stored / len(text.encode()), 2),
                }
            )
        demo = []
        session = ChatSession(build_chat_agent("demo"), store)
        for prompt in ("hello", "long"):
            events = [e async for e in session.run_turn(prompt)]
            reply = "".join(e.text for e in events if isinstance(e, ev.TextDelta)).encode()
            stored, shared = stored_bytes(folder / "history.db")
            demo.append(
                {
                    "prompt": prompt,
                    "events": len(events),
                    "text_bytes": len(reply),
                    "stored_bytes": stored,
                    "stored_vs_text": round(stored / len(reply), 2),
                    "shared_parts_bytes": shared,
                }
            )
    finally:
        store.close()
    return {"render": rows, "demo": demo}


def main() -> None:
    parser = argparse.ArgumentParser(description="the cost of recording every turn")
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 100])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run, to check the script runs")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/recording.json"))
    args = parser.parse_args()
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
    os.environ.setdefault("XSUS_HOME", tempfile.mkdtemp(prefix="xsus-bench-"))
    os.environ.setdefault("XSUS_DEMO_DELAY", "0")
    sizes, runs = ([2], 1) if args.quick else (args.sizes, args.runs)
    result = asyncio.run(measure(sizes, runs))
    print(
        f"{'KB':>5}{'deltas':>8}{'no UI off':>11}{'on':>8}{'cost':>8}{'app off':>10}{'on':>8}{'cost':>8}{'stored':>9}"
    )
    for row in result["render"]:
        print(
            f"{row['size_kb']:>5}{row['deltas']:>8}{row['no_ui_off_s']:>11.3f}{row['no_ui_on_s']:>8.3f}"
            f"{row['no_ui_cost']:>8.1%}{row['app_off_s']:>10.3f}{row['app_on_s']:>8.3f}{row['app_cost']:>8.1%}"
            f"{row['stored_vs_text']:>8.2f}x"
        )
    for row in result["demo"]:
        print(
            f"demo {row['prompt']!r}: {row['events']} events, reply {row['text_bytes']} B, recording "
            f"{row['stored_bytes']} B ({row['stored_vs_text']}x), tools and instructions shared "
            f"{row['shared_parts_bytes']} B"
        )
    worst = max((row["app_cost"] for row in result["render"]), default=0)
    print(f"target: recording costs < 5% of render throughput (benchmark a): worst {worst:.1%}")
    print(f"load average {os.getloadavg()[0]:.1f} (1 min, on {os.cpu_count()} CPUs)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
