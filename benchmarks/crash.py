"""i. What a `kill -9` mid-reply loses: the reply is checkpointed while it streams.

A child process streams the demo's long reply into a real history database (a ChatSession, as the TUI
runs it) and reports, after each delta, how much text it has shown and when. The parent kills it with
SIGKILL at a random moment, opens the database again (which adds the checkpoint to the conversation as
an interrupted reply) and compares: characters shown, characters kept, and how old the kept text was
at the kill (the time the last kept character was shown, before the kill). Target: at most 1 s lost.

    .venv/bin/python -m benchmarks.crash [--runs 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from xsus_tui.core.agents import build_chat_agent
    from xsus_tui.core.session import ChatSession
    from xsus_tui.core.store import SQLiteConversationStore

    async def main(db):
        store = SQLiteConversationStore.open(db)
        session = ChatSession(build_chat_agent("demo"), store)
        shown = 0
        async for event in session.run_turn("long"):
            if type(event).__name__ == "TextDelta":
                shown += len(event.text)
                print(f"{time.monotonic()} {shown}", flush=True)

    asyncio.run(main(sys.argv[1]))
    """
)


def one_run(kill_after: float, delay: str) -> dict[str, float]:
    from pydantic_ai.messages import ModelResponse, TextPart

    from xsus_tui.core.store import SQLiteConversationStore

    with tempfile.TemporaryDirectory() as home:
        db = Path(home) / "history.db"
        env = {**os.environ, "XSUS_DEMO_DELAY": delay, "PYDANTIC_AI_NO_BANNER": "1"}
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, text=True, env=env)
        shown: list[tuple[float, int]] = []
        for line in child.stdout:
            at, length = line.split()
            shown.append((float(at), int(length)))
            if shown[-1][0] - shown[0][0] >= kill_after:
                break
        killed_at = time.monotonic()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        store = SQLiteConversationStore.open(db)
        conversation = asyncio.run(store.load(store.latest_id()))
        store.close()
        kept = sum(
            len(part.content)
            for message in conversation.messages
            if isinstance(message, ModelResponse)
            for part in message.parts
            if isinstance(part, TextPart)
        )
        # When the last kept character was shown: the text kept is what was on screen that long before the kill.
        kept_at = next((at for at, length in shown if length >= kept), shown[0][0]) if kept else shown[0][0]
        return {
            "streamed_s": shown[-1][0] - shown[0][0],
            "shown": shown[-1][1],
            "kept": kept,
            "lost_chars": shown[-1][1] - kept,
            "lost_s": killed_at - kept_at if kept else killed_at - shown[0][0],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--delay", default="0.01", help="XSUS_DEMO_DELAY: seconds between the demo's tokens")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rng = random.Random(1)
    runs = [one_run(rng.uniform(1.2, 4.0), args.delay) for _ in range(args.runs)]
    lost = sorted(run["lost_s"] for run in runs)
    print(f"{'run':>4} {'streamed':>9} {'shown':>7} {'kept':>7} {'lost':>6} {'lost s':>7}")
    for index, run in enumerate(runs, 1):
        print(
            f"{index:>4} {run['streamed_s']:>8.2f}s {run['shown']:>7} {run['kept']:>7} "
            f"{run['lost_chars']:>6} {run['lost_s']:>6.2f}s"
        )
    figures = {
        "runs": len(runs),
        "lost_s_p50": statistics.median(lost),
        "lost_s_max": lost[-1],
        "lost_chars_max": max(run["lost_chars"] for run in runs),
        "detail": runs,
    }
    print(
        f"kill -9 at a random moment: text lost p50 {figures['lost_s_p50']:.2f} s, max {figures['lost_s_max']:.2f} s "
        f"of streaming ({figures['lost_chars_max']} characters at most); target: at most 1 s"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
