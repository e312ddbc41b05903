"""A long stored conversation: resuming it (`xsus -c`) and jumping back to its start.

    .venv/bin/python -m benchmarks.history [--turns 2000] [--pageups 10] [--opens 5] [--quick] [--against DIR]

A fresh XSUS_HOME gets one conversation of `--turns` turns (2,000: about 1 MB of prompts and
markdown replies, with lists, a few code blocks and some tool calls), written with the store the app
uses (`SQLiteConversationStore.save`, once per turn). Then `xsus -c` runs `--opens` times (5) in a
pseudo-terminal (100x30, the demo model), and the benchmark measures:

  - first paint, each open: from process start until the terminal has received the last turn's text
    (each reply ends with its marker, `⟦a2000⟧`; each prompt starts with one, `⟦q1⟧`); the median, the
    slowest, and the load average before each open;
  - peak memory: the process's VmHWM after the first paint, and at the end of the first open;
  - in the first open, Ctrl+Home to turn 1: pressed again each time the app has repainted and then not
    repainted for STILL seconds, until the first turn's prompt (`⟦q1⟧`) shows (the presses and the time
    from the first press; one press since the jump renders turn 1's page at once);
  - PgDn from turn 1 (the turns after it fill in as they come into view) and, back at the bottom
    (Ctrl+End), PgUp: each of `--pageups` presses timed until the terminal has received a repaint of
    the chat (REPAINT_BYTES since the press);
  - in the second open a search hit (Ctrl+O, `⟦q1⟧` typed, Enter on the hit) and in the third a `/tree`
    pick (Home, Enter): from the Enter until turn 1's reply's end (`⟦a1⟧`) is on screen.

`--against DIR` only opens it, `--opens` times from DIR (an older checkout) and from this one in turn: the
first paint's median, the app's CPU time by then and the load average for each.

Targets: first paint < 1 s every time, turn 1 on screen < 1 s after each jump, peak memory < 300 MB.
Anything that doesn't happen within its timeout is reported as `timeout`, not raised.
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
from benchmarks.startup import cpu_seconds
from benchmarks.terminal import (
    CTRL_END,
    CTRL_HOME,
    ENTER,
    PAGE_DOWN,
    PAGE_UP,
    PLACEHOLDER,
    ROOT,
    Terminal,
    bench_env,
    fresh_home,
    percentile,
)

TARGET_FIRST_PAINT_MS = 1000.0
TARGET_RSS_MB = 300.0
TARGET_JUMP_MS = 1000.0
HOME = b"\x1b[H"
DOWN = b"\x1b[B"
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


def open_once(home: Path, turns: int, paint_timeout: float, root: Path = ROOT) -> tuple[Terminal, dict]:
    """Start `xsus -c` (from the checkout at `root`) and wait for the last turn and the prompt: the terminal (still
    running) and its figures."""
    extra = {} if root == ROOT else {"PYTHONPATH": str(root)}
    term = Terminal.spawn(["-c"], env=bench_env(home, **extra), cwd=root)
    figures: dict = {}
    painted = term.wait_for(f"⟦a{turns}⟧".encode(), timeout=paint_timeout)
    figures["cpu_at_paint_ms"] = None if painted is None else round(cpu_seconds(term.pid) * 1000, 1)
    prompt = term.wait_for(PLACEHOLDER, timeout=60 if painted else 0)
    figures["first_paint_ms"] = "timeout" if painted is None else round((painted - term.started) * 1000, 1)
    figures["prompt_shown_ms"] = None if prompt is None else round((prompt - term.started) * 1000, 1)
    if painted is None:
        figures["problem"] = (
            f"the app exited (status {term.close()}) before its first paint: {term.last_words()}"
            if term.closed
            else f"no first paint within {paint_timeout:g} s"
        )
    else:
        term.wait_still(STILL, ignore_below=BLINK_BYTES, timeout=30)  # the first frames are done
    return term, figures


FIRST_REPLY_END = "⟦a1⟧".encode()
"""Turn 1's reply's last line: in the chat only (the browser and the tree show the start of a text)."""


def jump_to_turn_1(term: Terminal, how: str, timeout: float) -> float | str:
    """Milliseconds from the key that picks turn 1 (a search hit in Ctrl+O, or its line in /tree) until
    its reply's end is on screen; "timeout" if it never shows. Each step waits for what it shows (the
    browser's input cursor blinks too big for `wait_still`)."""

    def step(keys: bytes | str, shows: bytes) -> bool:
        offset = len(term.output)
        term.send(keys)
        return term.wait_for(shows, start=offset, timeout=30) is not None

    if how == "search":
        ready = (
            step(b"\x0f", b"earch conversations")  # Ctrl+O: the conversations; typing searches
            and step("⟦q1⟧", "turn 1 · you".encode())  # the first prompt's marker: its hit, under the conversation
            and step(DOWN, b"")  # onto the hit
        )
    else:
        ready = step("/tree", b"tree") and step(ENTER, b"Conversation tree") and step(HOME, "⟦q1⟧".encode())
    if not ready:
        return "timeout"
    term.wait_still(0.3, ignore_below=REPAINT_BYTES, timeout=5)  # that key's repaint is over
    offset = len(term.output)
    sent = term.send(ENTER)
    shown = term.wait_for(FIRST_REPLY_END, start=offset, timeout=timeout)
    return "timeout" if shown is None else round((shown - sent) * 1000, 1)


def measure(turns: int, pageups: int, opens: int, paint_timeout: float, scroll_timeout: float) -> dict:
    figures: dict = {}
    with fresh_home() as home:
        figures.update(asyncio.run(build_history(home / "history.db", turns)))
        loads, paints = [], []
        for run in range(opens):
            loads.append(os.getloadavg()[0])
            term, opened = open_once(home, turns, paint_timeout)
            with term:
                paints.append(opened["first_paint_ms"])
                if run == 0:
                    figures.update(opened)
                    figures["rss_after_paint_mb"] = rss_mb(term)
                    if "problem" not in opened:
                        figures.update(scroll_to_top(term, "⟦q1⟧".encode(), scroll_timeout))
                        figures.update(page_through(term, PAGE_DOWN, "pagedown_from_top", pageups))
                        react(term, CTRL_END, timeout=10)
                        figures.update(page_through(term, PAGE_UP, "pageup", pageups))
                    figures["peak_rss_mb"] = rss_mb(term)
                elif "problem" not in opened and run in (1, 2):  # a fresh chat each: turn 1 not rendered yet
                    how = "search" if run == 1 else "tree"
                    figures[f"{how}_to_turn_1_ms"] = jump_to_turn_1(term, how, scroll_timeout)
        shown = [paint for paint in paints if paint != "timeout"]
        figures["first_paint_runs_ms"] = paints
        figures["first_paint_median_ms"] = round(statistics.median(shown), 1) if shown else "timeout"
        figures["first_paint_max_ms"] = max(shown) if len(shown) == len(paints) else "timeout"
        figures["load_average_during_opens"] = [round(load, 2) for load in loads]
    median = figures["first_paint_median_ms"]
    figures["target_first_paint_ms"] = TARGET_FIRST_PAINT_MS
    figures["target_rss_mb"] = TARGET_RSS_MB
    figures["target_jump_ms"] = TARGET_JUMP_MS
    figures["meets_first_paint"] = median != "timeout" and figures["first_paint_max_ms"] < TARGET_FIRST_PAINT_MS
    figures["meets_rss"] = figures.get("peak_rss_mb") is not None and figures["peak_rss_mb"] < TARGET_RSS_MB
    jumps = [figures.get(key) for key in ("top_ms", "search_to_turn_1_ms", "tree_to_turn_1_ms")]
    figures["meets_jump"] = all(isinstance(value, float) and value < TARGET_JUMP_MS for value in jumps)
    return figures


def compare_opens(turns: int, opens: int, against: Path, paint_timeout: float) -> dict:
    """A/B: the same history opened `opens` times from the checkout at `against` (an older one) and from this one,
    in turn (which goes first alternates): the first paint's median and the app's CPU by then, with the load."""
    checkouts = {"before": against, "after": ROOT}
    runs: dict[str, list[dict]] = {name: [] for name in checkouts}
    figures: dict = {"against": str(against)}
    with fresh_home() as home:
        figures.update(asyncio.run(build_history(home / "history.db", turns)))
        for run in range(opens):
            for name in checkouts if run % 2 == 0 else reversed(checkouts):
                load = os.getloadavg()[0]
                term, opened = open_once(home, turns, paint_timeout, checkouts[name])
                with term:
                    runs[name].append({**opened, "loadavg": load})
    print(f"A/B against {against}: xsus -c on {turns} turns, {opens} opens each, start to the last turn on screen")
    for name, done in runs.items():
        paints = [run["first_paint_ms"] for run in done if run["first_paint_ms"] != "timeout"]
        cpus = [run["cpu_at_paint_ms"] for run in done if run["cpu_at_paint_ms"] is not None]
        loads = [run["loadavg"] for run in done]
        row = {
            "first_paint_median_ms": round(statistics.median(paints), 1) if paints else "timeout",
            "first_paint_max_ms": max(paints) if len(paints) == len(done) else "timeout",
            "cpu_median_ms": round(statistics.median(cpus), 1) if cpus else None,
            "load_average": [round(min(loads), 2), round(max(loads), 2)],
        }
        figures[name] = row
        print(
            f"  {name:<7} median {row['first_paint_median_ms']} ms (max {row['first_paint_max_ms']}), CPU "
            f"{row['cpu_median_ms']} ms, load average {row['load_average'][0]}-{row['load_average'][1]}"
        )
    return figures


def page_through(term: Terminal, key: bytes, name: str, presses: int) -> dict:
    """`presses` presses of `key`, each timed until the terminal has received a repaint of the chat."""
    delays = []
    for _ in range(presses):
        sent, repainted, _ = react(term, key, timeout=10)
        delays.append(None if repainted is None else (repainted - sent) * 1000)
    shown = [value for value in delays if value is not None]
    return {
        f"{name}_presses": presses,
        f"{name}_timeouts": len(delays) - len(shown),
        f"{name}_p50_ms": round(statistics.median(shown), 1) if shown else None,
        f"{name}_max_ms": round(max(shown), 1) if shown else None,
        f"{name}_p99_ms": round(percentile(shown, 0.99), 1) if shown else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="resuming a long stored conversation, and jumping back through it")
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--pageups", type=int, default=10)
    parser.add_argument("--opens", type=int, default=5, help="times the conversation is opened (at least 3)")
    parser.add_argument("--paint-timeout", type=float, default=300.0, help="seconds to wait for the first paint")
    parser.add_argument("--scroll-timeout", type=float, default=300.0, help="seconds to wait for the first turn")
    parser.add_argument("--quick", action="store_true", help="20 turns, 2 PgUps, 3 opens: to check the script runs")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/history.json"))
    parser.add_argument(
        "--against",
        type=Path,
        metavar="DIR",
        help="A/B of the opens only: an older checkout (e.g. from `git archive`), opened in turn with this one",
    )
    args = parser.parse_args()
    turns, pageups, opens = (20, 2, 3) if args.quick else (args.turns, args.pageups, max(3, args.opens))
    if args.against:
        figures = compare_opens(turns, opens, args.against.resolve(), args.paint_timeout)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
        return
    started = time.monotonic()
    figures = measure(turns, pageups, opens, args.paint_timeout, args.scroll_timeout)
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
        f"{'first paint (last turn), median':<34}{figures['first_paint_median_ms']!s:>12}  "
        f"< 1000 ms every time: {verdict(figures['meets_first_paint'])} (each: {figures['first_paint_runs_ms']},"
        f" load before each: {figures['load_average_during_opens']})"
    )
    print(f"{'prompt shown':<34}{figures['prompt_shown_ms']!s:>12}")
    print(f"{'peak RSS MB (VmHWM)':<34}{figures['peak_rss_mb']!s:>12}  < 300 MB: {verdict(figures['meets_rss'])}")
    print(f"{'RSS MB after first paint':<34}{figures['rss_after_paint_mb']!s:>12}")
    if "problem" in figures:
        print(f"problem: {figures['problem']}")
    if "top_ms" in figures:
        print(
            f"{'Ctrl+Home to turn 1 on screen ms':<34}{figures['top_ms']!s:>12}  < 1000 ms ({figures['top_presses']}"
            f" press{'es' if figures['top_presses'] != 1 else ''}, oldest turn shown:"
            f" {figures['top_oldest_turn_reached']})"
        )
        for how in ("search", "tree"):
            label = "search hit" if how == "search" else "/tree pick"
            print(f"{f'{label} to turn 1 on screen ms':<34}{figures.get(f'{how}_to_turn_1_ms')!s:>12}  < 1000 ms")
        print(f"{'jumps under 1 s':<34}{'':>12}  {verdict(figures['meets_jump'])}")
        for name, label in (("pagedown_from_top", "PgDn from turn 1"), ("pageup", "PgUp from the end")):
            print(
                f"{label + ' repaint ms p50 / max':<34}{figures[f'{name}_p50_ms']!s:>12} / {figures[f'{name}_max_ms']}"
                f"  ({figures[f'{name}_presses']} presses, {figures[f'{name}_timeouts']} timed out)"
            )
    print(f"wall {figures['wall_s']} s, load average {figures['load_average_1m']} (1 min, on {os.cpu_count()} CPUs)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
