"""A long stored conversation: resuming it (`xsus -c`) and scrolling back to its start.

    .venv/bin/python -m benchmarks.history [--turns 2000] [--pageups 10] [--quick]

A fresh XSUS_HOME gets one conversation of `--turns` turns (2,000: about 1 MB of prompts and
markdown replies, with lists, a few code blocks and some tool calls), written with the store the app
uses (`SQLiteConversationStore.save`, once per turn). Then `xsus -c` runs in a pseudo-terminal
(100x30, the demo model), and the benchmark measures:

  - first paint: from process start until the terminal has received the last turn's text (each
    reply ends with its marker, `⟦a2000⟧`; each prompt starts with one, `⟦q1⟧`);
  - peak memory: the process's VmHWM after the first paint, and at the end;
  - scrolling to the top: Ctrl+Home, then again each time the app has repainted and then not repainted
    for STILL seconds, until the first turn's prompt (`⟦q1⟧`) shows; the number of presses and the time
    from the first press (an app that loads old turns lazily needs several);
  - PgUp: back at the bottom (Ctrl+End), each of `--pageups` presses timed until the terminal has
    received a repaint of the chat (REPAINT_BYTES since the press).

Targets: first paint < 1 s, peak memory < 300 MB. Anything that doesn't happen within its timeout is
reported as `timeout`, not raised.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sqlite3
import statistics
import time
from pathlib import Path

from benchmarks.agents import WORDS, markdown_block
from benchmarks.terminal import CTRL_END, CTRL_HOME, PAGE_UP, PLACEHOLDER, Terminal, bench_env, fresh_home, percentile

TARGET_FIRST_PAINT_MS = 1000.0
TARGET_RSS_MB = 300.0
REPAINT_BYTES = 2000
"""Output after a key that counts as the chat repainted: a 26-line chat area is 2.6 KB at least, while a
blink of the prompt's cursor is a few hundred bytes."""
STILL = 1.0
"""Seconds without a repaint after which the screen counts as still: longer than a slow frame (one took 400 ms
with 2,000 turns mounted), so that a scroll animation isn't taken for the end of the app's reaction."""
BLINK_BYTES = 1000
"""Writes smaller than this don't count as a repaint (the prompt's cursor blinks every 0.5 s: about 200 bytes)."""


def question(turn: int) -> str:
    return f"⟦q{turn}⟧ Question {turn}: " + " ".join(WORDS[(turn * 5 + i) % len(WORDS)] for i in range(20)) + "?"


def answer(turn: int) -> str:
    """About 500 characters of markdown; every 10th turn has a code block. Ends with the turn's marker."""
    block = markdown_block(turn)
    heading, paragraph, items = block.split("\n\n")[:3]
    text = f"{heading}\n\n{paragraph.rstrip('.')}.\n\n" + items + "\n"
    if turn % 10 == 0:
        text += "\n```python\n" + "".join(f"total_{turn} += {i}\n" for i in range(3)) + "```\n"
    return text + f"\nThat was answer {turn} ⟦a{turn}⟧\n"


def turn_messages(turn: int) -> list:
    """One turn as pydantic-ai messages; every 15th calls a tool first."""
    from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart, UserPromptPart

    messages = [ModelRequest(parts=[UserPromptPart(question(turn))])]
    if turn % 15 == 0:
        call = ToolCallPart("search_notes", {"query": f"notes about turn {turn}", "limit": 3}, f"call_{turn}")
        messages += [
            ModelResponse(parts=[TextPart("Let me look that up."), call], model_name="bench"),
            ModelRequest(
                parts=[
                    ToolReturnPart(
                        "search_notes", {"hits": [f"note {turn}.{i}" for i in range(3)]}, tool_call_id=f"call_{turn}"
                    )
                ]
            ),
        ]
    messages.append(ModelResponse(parts=[TextPart(answer(turn))], model_name="bench"))
    return messages


async def build_history(db: Path, turns: int) -> dict:
    """Store one conversation of `turns` turns in the database at `db`, saved turn by turn as the app does."""
    from pydantic_ai.conversation import Conversation

    from xsus_tui.core.store import SQLiteConversationStore

    started = time.monotonic()
    store = SQLiteConversationStore.open(db)
    try:
        conversation = Conversation()
        text = 0
        for turn in range(1, turns + 1):
            messages = turn_messages(turn)
            text += len(question(turn)) + len(answer(turn))
            conversation.messages.extend(messages)
            await store.save(conversation)
    finally:
        store.close()
    with contextlib.closing(sqlite3.connect(db)) as check:
        stored = check.execute("SELECT count(*), sum(length(message)) FROM entries").fetchone()
    return {
        "turns": turns,
        "messages": stored[0],
        "text_kb": round(text / 1024, 1),
        "messages_json_kb": round(stored[1] / 1024, 1),
        "build_s": round(time.monotonic() - started, 2),
    }


def react(term: Terminal, key: bytes, *, timeout: float) -> tuple[float, float | None, float | None]:
    """Press `key`, then wait for a repaint and a still screen.

    Returns when the key was written, when the repaint had arrived (REPAINT_BYTES since the key), and
    when the last repaint before the screen went still arrived (None for what didn't happen in time).
    """
    offset = len(term.output)
    sent = term.send(key)
    repainted = term.wait_bytes(REPAINT_BYTES, start=offset, timeout=timeout)
    settled = None if repainted is None else term.wait_still(STILL, ignore_below=BLINK_BYTES, timeout=timeout)
    return sent, repainted, settled


OLDEST = re.compile(rb"\xe2\x9f\xa6q(\d+)\xe2\x9f\xa7")
"""A prompt's marker, `⟦qN⟧`, in the terminal's bytes."""


def oldest_shown(term: Terminal, start: int) -> int | None:
    """The oldest turn whose prompt the terminal has shown since output offset `start`."""
    turns = [int(found.group(1)) for found in OLDEST.finditer(term.output, start)]
    return min(turns) if turns else None


def scroll_to_top(term: Terminal, marker: bytes, timeout: float) -> dict:
    """Ctrl+Home until `marker` shows: presses, time from the first press, and what each press showed.

    `top_ms` runs from the first press to the marker's arrival, and so includes the STILL seconds the
    benchmark waits after each press before it presses again; `top_app_ms` adds up, over the presses, only
    the time from each press to its last repaint (what the app took).
    """
    start = len(term.output)
    deadline = time.monotonic() + timeout
    first_sent = first_repaint = None
    presses, app_time, oldest, each = 0, 0.0, [], []
    figures: dict = {}
    while (left := deadline - time.monotonic()) > 0:
        offset = len(term.output)
        sent, repainted, settled = react(term, CTRL_HOME, timeout=min(30.0, left))
        presses += 1
        took = ((settled or time.monotonic()) - sent) if repainted is not None else 0.0
        app_time += took
        each.append(round(took * 1000, 1))
        oldest.append(oldest_shown(term, offset))
        if first_sent is None:
            first_sent = sent
            first_repaint = None if repainted is None else round((repainted - sent) * 1000, 1)
        found = term.find(marker, start)
        if found >= 0:
            figures["top_ms"] = round((term.arrival(found + len(marker) - 1) - first_sent) * 1000, 1)
            break
    else:
        figures["top_ms"] = "timeout"
    reached = [turn for turn in oldest if turn is not None]
    return {
        **figures,
        "top_presses": presses,
        "top_app_ms": round(app_time * 1000, 1),
        "top_first_repaint_ms": first_repaint,
        "top_oldest_turn_reached": min(reached) if reached else None,
        "top_oldest_turn_after_each_press": oldest,
        "top_app_ms_each_press": each,
    }


def rss_mb(term: Terminal) -> float | None:
    peak = term.peak_rss_mb()
    return None if peak is None else round(peak, 1)


def measure(turns: int, pageups: int, paint_timeout: float, scroll_timeout: float) -> dict:
    figures: dict = {}
    with fresh_home() as home:
        figures.update(asyncio.run(build_history(home / "history.db", turns)))
        with Terminal.spawn(["-c"], env=bench_env(home)) as term:
            last = f"⟦a{turns}⟧".encode()
            painted = term.wait_for(last, timeout=paint_timeout)
            prompt = term.wait_for(PLACEHOLDER, timeout=60 if painted else 0)
            figures["first_paint_ms"] = "timeout" if painted is None else round((painted - term.started) * 1000, 1)
            figures["prompt_shown_ms"] = None if prompt is None else round((prompt - term.started) * 1000, 1)
            figures["rss_after_paint_mb"] = rss_mb(term)
            if painted is None:
                figures["problem"] = (
                    f"the app exited (status {term.close()}) before its first paint: {term.last_words()}"
                    if term.closed
                    else f"no first paint within {paint_timeout:g} s"
                )
            if painted is not None:
                term.wait_still(STILL, ignore_below=BLINK_BYTES, timeout=30)  # the first frames are done
                figures.update(scroll_to_top(term, "⟦q1⟧".encode(), scroll_timeout))
                react(term, CTRL_END, timeout=10)
                delays = []
                for _ in range(pageups):
                    sent, repainted, _ = react(term, PAGE_UP, timeout=10)
                    delays.append(None if repainted is None else (repainted - sent) * 1000)
                shown = [value for value in delays if value is not None]
                figures["pageup_presses"] = pageups
                figures["pageup_timeouts"] = len(delays) - len(shown)
                figures["pageup_p50_ms"] = round(statistics.median(shown), 1) if shown else None
                figures["pageup_max_ms"] = round(max(shown), 1) if shown else None
                figures["pageup_p99_ms"] = round(percentile(shown, 0.99), 1) if shown else None
            figures["peak_rss_mb"] = rss_mb(term)
    paint = figures["first_paint_ms"]
    figures["target_first_paint_ms"] = TARGET_FIRST_PAINT_MS
    figures["target_rss_mb"] = TARGET_RSS_MB
    figures["meets_first_paint"] = paint != "timeout" and paint < TARGET_FIRST_PAINT_MS
    figures["meets_rss"] = figures["peak_rss_mb"] is not None and figures["peak_rss_mb"] < TARGET_RSS_MB
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description="resuming a long stored conversation, and scrolling back through it")
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--pageups", type=int, default=10)
    parser.add_argument("--paint-timeout", type=float, default=300.0, help="seconds to wait for the first paint")
    parser.add_argument("--scroll-timeout", type=float, default=300.0, help="seconds to wait for the first turn")
    parser.add_argument("--quick", action="store_true", help="20 turns and 2 PgUps, to check the script runs")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/history.json"))
    args = parser.parse_args()
    turns, pageups = (20, 2) if args.quick else (args.turns, args.pageups)
    started = time.monotonic()
    figures = measure(turns, pageups, args.paint_timeout, args.scroll_timeout)
    figures["wall_s"] = round(time.monotonic() - started, 1)
    figures["load_average_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine skews the figures

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    print(
        f"stored: {figures['turns']} turns, {figures['messages']} messages, {figures['text_kb']} KB of text "
        f"({figures['messages_json_kb']} KB as stored JSON), built in {figures['build_s']} s"
    )
    print(f"{'xsus -c':<34}{'value':>12}  target")
    print(
        f"{'first paint (last turn shown)':<34}{figures['first_paint_ms']!s:>12}  "
        f"< 1000 ms: {verdict(figures['meets_first_paint'])}"
    )
    print(f"{'prompt shown':<34}{figures['prompt_shown_ms']!s:>12}")
    print(f"{'peak RSS MB (VmHWM)':<34}{figures['peak_rss_mb']!s:>12}  < 300 MB: {verdict(figures['meets_rss'])}")
    print(f"{'RSS MB after first paint':<34}{figures['rss_after_paint_mb']!s:>12}")
    if "problem" in figures:
        print(f"problem: {figures['problem']}")
    if "top_ms" in figures:
        print(
            f"{'Ctrl+Home to first turn ms':<34}{figures['top_ms']!s:>12}  ({figures['top_presses']} presses,"
            f" oldest turn shown: {figures['top_oldest_turn_reached']})"
        )
        print(f"{'  of which the app, ms':<34}{figures['top_app_ms']!s:>12}  (each press to its last repaint)")
        print(f"{'  first Ctrl+Home repaint ms':<34}{figures['top_first_repaint_ms']!s:>12}")
        print(
            f"{'PgUp repaint ms p50 / max':<34}{figures['pageup_p50_ms']!s:>12} / {figures['pageup_max_ms']}"
            f"  ({figures['pageup_presses']} presses, {figures['pageup_timeouts']} timed out)"
        )
    print(f"wall {figures['wall_s']} s, load average {figures['load_average_1m']} (1 min, on {os.cpu_count()} CPUs)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
