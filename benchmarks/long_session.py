"""A long live session: does one process stay flat over hundreds of turns and interrupts?

    .venv/bin/python -m benchmarks.long_session [--turns 300] [--interrupts 200] [--quick]

The real app runs headless (`App.run_test`, 100x30) on the demo model, in two phases, each in a
process of its own (so that memory one phase freed doesn't hide the other's growth):

  - turns: `--turns` turns in one chat, the prompts taking turns between the demo's scripts (text with
    thinking, four model requests with tool calls, structured output, help), streamed without pauses
    (XSUS_DEMO_DELAY=0). Each turn is timed from the prompt being typed to the turn having ended and the
    screen having refreshed. At turn N/10 (30) and at turn N the process's RSS (VmRSS), the asyncio task
    count, the live widgets (Widget objects not freed yet, garbage in reference cycles included: counted
    with weak references, without touching the collector) and the widgets mounted on the screen are
    taken; the time per turn is the median over 20 turns around each (21-40 and 281-300).
  - engine: the same turns through ChatSession and the store, with no UI, timed the same way: the part
    of the time per turn that grows with the conversation whatever the UI does.
  - interrupts: `--interrupts` times, send the demo's long reply (XSUS_DEMO_DELAY=0.001) and press Esc
    once a seeded random amount of it (20 to 1500 characters) is on screen, then wait for the turn to
    end. Task count, RSS and live widgets after a tenth of them (20) and after all (200), and on the way
    (after a quarter, a half, three quarters) so that the curve shows; with them the objects the
    collector tracks and the size of the data the chat keeps by design (the conversation's messages and
    the events of the turns paged out, `data_kb`): what RSS gains beyond that is overhead.

Targets: memory and time per turn at turn 300 within 1.25x of turn 30; after 200 interrupts, task
count and RSS where they were after 20 (tasks: no more; RSS: within 1.10x).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import types
import weakref
from pathlib import Path

TARGET_RATIO = 1.25
"""Turn N against turn N/10: RSS and time per turn."""
TARGET_INTERRUPT_RSS_RATIO = 1.10
"""RSS after all interrupts against after a tenth of them."""
PROMPTS = ("tell me about this app", "use the tools", "plan a trip", "help")
"""One of each of the demo's scripts that needs no decision from the user (see core/demo.py)."""
SIZE = (100, 30)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def track_widgets() -> weakref.WeakSet:
    """Every Widget built from now on, for as long as it is alive (a weak set: counting it frees nothing)."""
    from textual.widget import Widget

    alive: weakref.WeakSet = weakref.WeakSet()
    original = Widget.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        alive.add(self)

    Widget.__init__ = init
    return alive


def deep_size(roots: list, seen: set[int]) -> int:
    """Bytes of `roots` and everything they reach, classes, modules and functions left out (and whatever is
    in `seen`, which this fills)."""
    shared = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType)
    shared += (functools._lru_cache_wrapper,)
    size, stack = 0, list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, shared):
            continue
        seen.add(id(obj))
        size += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return size


def window(values: dict[int, float], around: int, width: int) -> list[float]:
    """The values of the `width` turns around `around` (21-40 around 30 for a width of 20), or fewer
    at the ends."""
    first = max(1, around - width // 2 + 1)
    return [values[turn] for turn in range(first, first + width) if turn in values]


class Chat:
    """The app on the demo model with a fresh store, and how to wait on it."""

    def __init__(self, home: Path) -> None:
        from xsus_tui.core.agents import build_chat_agent
        from xsus_tui.core.session import ChatSession
        from xsus_tui.core.store import SQLiteConversationStore
        from xsus_tui.ui.app import XsusApp

        self.store = SQLiteConversationStore.open(home / "history.db")
        self.app = XsusApp(ChatSession(build_chat_agent("demo"), self.store))

    async def idle(self, pilot) -> None:
        screen = self.app.chat_screen
        await asyncio.sleep(0)
        while screen.session.busy or (screen.turn_worker is not None and not screen.turn_worker.is_finished):
            await asyncio.sleep(0.001)
        await pilot.pause()

    def snapshot(self, alive: weakref.WeakSet) -> dict:
        return {
            "rss_mb": round(rss_mb(), 1),
            "tasks": len(asyncio.all_tasks()),
            "live_widgets": len(alive),
            "mounted_widgets": sum(1 for _ in self.app.chat_screen.walk_children()),
        }

    def kept_data_kb(self) -> float:
        """KB of what the chat keeps by design, growing with every turn: the conversation's messages and the
        events of the turns paged out (what they render again from)."""
        from xsus_tui.ui.widgets.history_page import HistoryPage, PageStack

        screen = self.app.chat_screen
        pages = [child.turns for child in screen.chat.children if isinstance(child, HistoryPage)]
        pages += [child.pages for child in screen.chat.children if isinstance(child, PageStack)]
        return round(deep_size([screen.session.conversation.messages, pages], set()) / 1024, 1)


async def run_turns(turns: int, width: int) -> dict:
    os.environ["XSUS_DEMO_DELAY"] = "0"
    alive = track_widgets()
    checkpoint = max(1, turns // 10)
    times: dict[int, float] = {}
    snapshots: dict[int, dict] = {}
    with tempfile.TemporaryDirectory() as home:
        chat = Chat(Path(home))
        async with chat.app.run_test(size=SIZE) as pilot:
            screen = chat.app.chat_screen
            for turn in range(1, turns + 1):
                started = time.perf_counter()
                screen.prompt.insert(PROMPTS[turn % len(PROMPTS)])
                await pilot.press("enter")
                await chat.idle(pilot)
                times[turn] = time.perf_counter() - started
                if screen.replies[-1].state != "done":
                    raise RuntimeError(f"turn {turn} ended {screen.replies[-1].state}")
                if turn in (checkpoint, turns):
                    snapshots[turn] = chat.snapshot(alive)
        chat.store.close()
    early, late = window(times, checkpoint, width), window(times, turns, width)
    return {
        "turns": turns,
        "early_turn": checkpoint,
        "early": {**snapshots[checkpoint], "ms_per_turn": round(statistics.median(early) * 1000, 1)},
        "late": {**snapshots[turns], "ms_per_turn": round(statistics.median(late) * 1000, 1)},
        "window": width,
        "ms_per_turn_each": [round(times[turn] * 1000, 1) for turn in sorted(times)],
    }


async def run_engine(turns: int, width: int) -> dict:
    """The same turns through ChatSession and the store with no UI: how much of the growth is the engine's
    (pydantic-ai processes the whole conversation on every request)."""
    os.environ["XSUS_DEMO_DELAY"] = "0"
    from xsus_tui.core.agents import build_chat_agent
    from xsus_tui.core.session import ChatSession
    from xsus_tui.core.store import SQLiteConversationStore

    checkpoint = max(1, turns // 10)
    times: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as home:
        store = SQLiteConversationStore.open(Path(home) / "history.db")
        session = ChatSession(build_chat_agent("demo"), store)
        for turn in range(1, turns + 1):
            started = time.perf_counter()
            async for _ in session.run_turn(PROMPTS[turn % len(PROMPTS)]):
                pass
            times[turn] = time.perf_counter() - started
        store.close()
    early, late = window(times, checkpoint, width), window(times, turns, width)
    return {
        "early": {"ms_per_turn": round(statistics.median(early) * 1000, 1)},
        "late": {"ms_per_turn": round(statistics.median(late) * 1000, 1)},
    }


async def run_interrupts(interrupts: int, seed: int) -> dict:
    from xsus_tui.ui.widgets.prompt import PromptInput

    os.environ["XSUS_DEMO_DELAY"] = "0.001"
    alive = track_widgets()
    rng = random.Random(seed)
    checkpoint = max(1, interrupts // 10)
    samples = sorted({checkpoint, *(interrupts * quarter // 4 for quarter in range(1, 5))} - {0})
    snapshots: dict[int, dict] = {}
    with tempfile.TemporaryDirectory() as home:
        chat = Chat(Path(home))
        async with chat.app.run_test(size=SIZE) as pilot:
            screen = chat.app.chat_screen
            for done in range(1, interrupts + 1):
                screen.prompt.insert("long")
                # Enter without waiting for the screen to settle (Pilot.press waits for that, which a reply streaming
                # as fast as this one may not do before it ends).
                previous = screen.turn_worker
                screen.prompt.post_message(PromptInput.Submitted(screen.prompt, "long"))
                target = rng.randint(20, 1500)
                while screen.turn_worker is previous:
                    await asyncio.sleep(0.001)
                while not screen.session.busy and not screen.turn_worker.is_finished:
                    await asyncio.sleep(0.001)
                while screen.session.busy and len(screen.replies[-1].text) < target:
                    await asyncio.sleep(0.002)
                await pilot.press("escape")
                await chat.idle(pilot)
                if screen.replies[-1].state != "interrupted":
                    raise RuntimeError(f"interrupt {done}: the reply ended {screen.replies[-1].state}")
                if done in samples:
                    snapshots[done] = chat.snapshot(alive)  # RSS first: counting allocates
                    snapshots[done]["objects"] = len(gc.get_objects())
                    snapshots[done]["data_kb"] = chat.kept_data_kb()
        chat.store.close()
    return {
        "interrupts": interrupts,
        "early_interrupt": checkpoint,
        "early": snapshots[checkpoint],
        "late": snapshots[interrupts],
        "curve": [{"interrupts": done, **snapshots[done]} for done in samples],
    }


def in_child(phase: str, args: argparse.Namespace) -> dict:
    """Run one phase in a fresh interpreter and return its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "phase.json"
        command = [sys.executable, "-m", "benchmarks.long_session", "--phase", phase, "--json", str(out)]
        command += ["--turns", str(args.turns), "--interrupts", str(args.interrupts), "--seed", str(args.seed)]
        command += ["--window", str(args.window)]
        subprocess.run(command, check=True, env={**os.environ, "PYDANTIC_AI_NO_BANNER": "1"})
        return json.loads(out.read_text())


def ratio(late: float, early: float) -> float | None:
    return round(late / early, 2) if early else None


def main() -> None:
    parser = argparse.ArgumentParser(description="memory, tasks and time per turn over a long live session")
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--interrupts", type=int, default=200)
    parser.add_argument("--window", type=int, default=20, help="turns in each median of the time per turn")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="20 turns and 10 interrupts, to check the script runs")
    parser.add_argument("--phase", choices=["turns", "engine", "interrupts"], help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/long_session.json"))
    args = parser.parse_args()
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
    os.environ.setdefault("XSUS_HOME", tempfile.mkdtemp(prefix="xsus-bench-"))
    if args.quick:
        args.turns, args.interrupts, args.window = 20, 10, 2
    args.json.parent.mkdir(parents=True, exist_ok=True)
    if args.phase == "turns":
        args.json.write_text(json.dumps(asyncio.run(run_turns(args.turns, args.window))))
        return
    if args.phase == "engine":
        args.json.write_text(json.dumps(asyncio.run(run_engine(args.turns, args.window))))
        return
    if args.phase == "interrupts":
        args.json.write_text(json.dumps(asyncio.run(run_interrupts(args.interrupts, args.seed))))
        return

    started = time.monotonic()
    turns, engine, interrupts = in_child("turns", args), in_child("engine", args), in_child("interrupts", args)
    early, late = turns["early"], turns["late"]
    a, b = interrupts["early"], interrupts["late"]
    figures = {
        "turns": turns,
        "engine": engine,
        "interrupts": interrupts,
        "rss_ratio": ratio(late["rss_mb"], early["rss_mb"]),
        "time_per_turn_ratio": ratio(late["ms_per_turn"], early["ms_per_turn"]),
        "interrupt_rss_ratio": ratio(b["rss_mb"], a["rss_mb"]),
        "interrupt_tasks_added": b["tasks"] - a["tasks"],
        "target_ratio": TARGET_RATIO,
        "target_interrupt_rss_ratio": TARGET_INTERRUPT_RSS_RATIO,
    }
    figures["meets_turns"] = (
        figures["rss_ratio"] is not None
        and figures["rss_ratio"] <= TARGET_RATIO
        and figures["time_per_turn_ratio"] is not None
        and figures["time_per_turn_ratio"] <= TARGET_RATIO
    )
    figures["meets_interrupts"] = (
        figures["interrupt_tasks_added"] <= 0
        and figures["interrupt_rss_ratio"] is not None
        and figures["interrupt_rss_ratio"] <= TARGET_INTERRUPT_RSS_RATIO
    )
    figures["wall_s"] = round(time.monotonic() - started, 1)
    figures["load_average_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine skews the figures

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    t_early, t_late = f"turn {turns['early_turn']}", f"turn {turns['turns']}"
    print(f"{'long session':<28}{t_early:>12}{t_late:>12}{'ratio':>8}  target")
    rows = [
        ("RSS MB", "rss_mb", f"<= {TARGET_RATIO}x: {verdict(figures['rss_ratio'] <= TARGET_RATIO)}"),
        (
            f"ms per turn (median of {turns['window']})",
            "ms_per_turn",
            f"<= {TARGET_RATIO}x: {verdict(figures['time_per_turn_ratio'] <= TARGET_RATIO)}",
        ),
        ("asyncio tasks", "tasks", ""),
        ("live widgets", "live_widgets", ""),
        ("widgets mounted", "mounted_widgets", ""),
    ]
    for label, key, target in rows:
        print(f"{label:<28}{early[key]!s:>12}{late[key]!s:>12}{ratio(late[key], early[key])!s:>8}  {target}")
    e_early, e_late = engine["early"]["ms_per_turn"], engine["late"]["ms_per_turn"]
    print(f"{'  engine alone, no UI':<28}{e_early!s:>12}{e_late!s:>12}{ratio(e_late, e_early)!s:>8}")
    i_early, i_late = f"after {interrupts['early_interrupt']}", f"after {interrupts['interrupts']}"
    print(f"\n{'send + Esc':<28}{i_early:>12}{i_late:>12}{'ratio':>8}  target")
    rows = [
        ("asyncio tasks", "tasks", f"no more: {verdict(figures['interrupt_tasks_added'] <= 0)}"),
        (
            "RSS MB",
            "rss_mb",
            f"<= {TARGET_INTERRUPT_RSS_RATIO}x: "
            f"{verdict(figures['interrupt_rss_ratio'] <= TARGET_INTERRUPT_RSS_RATIO)}",
        ),
        ("live widgets", "live_widgets", ""),
        ("widgets mounted", "mounted_widgets", ""),
    ]
    for label, key, target in rows:
        print(f"{label:<28}{a[key]!s:>12}{b[key]!s:>12}{ratio(b[key], a[key])!s:>8}  {target}")
    added = interrupts["interrupts"] - interrupts["early_interrupt"]
    if added > 0:
        rss_kb = (b["rss_mb"] - a["rss_mb"]) * 1024 / added
        data_kb = (b["data_kb"] - a["data_kb"]) / added
        print(
            f"per interrupt after {interrupts['early_interrupt']}: RSS +{rss_kb:.1f} KB, of which the data kept "
            f"(messages, paged-out events) +{data_kb:.1f} KB"
        )
    print(f"\n{'the curve: after':<18}{'RSS MB':>8}{'tasks':>7}{'widgets':>9}{'objects':>9}{'data KB':>9}")
    for row in interrupts["curve"]:
        print(
            f"{row['interrupts']:<18}{row['rss_mb']:>8}{row['tasks']:>7}{row['live_widgets']:>9}"
            f"{row['objects']:>9}{row['data_kb']:>9}"
        )
    print(f"wall {figures['wall_s']} s, load average {figures['load_average_1m']} (1 min, on {os.cpu_count()} CPUs)")
    args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
