"""Where a profile's time goes, by area: Textual's compositor, our widgets, Rich, pydantic-ai, the SDK...

    python -m benchmarks.profile_areas PROFILE.prof          # a cProfile dump (`python -m cProfile -o`)
    python -m benchmarks.profile_areas --collapsed STACKS    # py-spy's `--format raw` (collapsed stacks)

Self time is exact per area (each function's own time lands in one area). Inclusive time per area is
the time spent with at least one frame of the area on the stack, so it is given only for collapsed
stacks (a cProfile dump has no stacks). Waiting in epoll/select is "idle", kept apart from the rest.
"""

from __future__ import annotations

import argparse
import pstats
import re
from collections import Counter
from pathlib import Path

AREAS: list[tuple[str, tuple[str, ...]]] = [
    # (area, path fragments): the first that matches wins, so the specific ones come first
    ("textual compositor", ("textual/_compositor", "textual/strip", "textual/_segment_tools", "textual/_styles_cache")),
    ("textual layout", ("textual/_arrange", "textual/layouts/", "textual/_layout", "textual/box_model")),
    ("textual css/styles", ("textual/css/", "textual/dom", "textual/_node_list")),
    ("textual driver", ("textual/drivers/", "textual/_writer_thread", "textual/_xterm_parser", "xsus_tui/ui/driver")),
    ("textual messages", ("textual/message_pump", "textual/message", "textual/_callback", "textual/timer")),
    ("textual other", ("textual/",)),
    ("xsus widgets", ("xsus_tui/ui/",)),
    ("xsus core", ("xsus_tui/core/",)),
    ("xsus other", ("xsus_tui/",)),
    ("rich", ("rich/",)),
    ("markdown-it", ("markdown_it/", "mdit_py_plugins/")),
    ("pygments", ("pygments/",)),
    ("pydantic-ai", ("pydantic_ai/", "pydantic_graph/", "genai_prices/")),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("openai SDK", ("openai/",)),
    ("http (httpx, httpcore, h11, anyio)", ("httpx/", "httpcore/", "h11/", "anyio/", "sniffio/")),
    ("sqlite", ("sqlite3/",)),
    ("asyncio", ("asyncio/", "selectors.py", "contextvars")),
]
IDLE_LEAVES = ("_worker (concurrent/futures/thread.py", "DbThread._serve (", "Condition.wait (")
"""py-spy leaves that are a thread waiting for work (a C call below them blocks): pools, queues."""
IDLE = re.compile(r"\b(poll|select|epoll)\b|method 'poll'|method 'select'|Condition\.wait|\bwait\b.*lock")


def area(path: str, function: str = "") -> str:
    """The area a function belongs to, from its file path (builtins by their name)."""
    where = path.replace("\\", "/")
    if where in ("~", "") or where.startswith("<"):
        if IDLE.search(function):
            return "idle (epoll/select)"
        return "builtins (C)"
    leaf = function.rsplit(".", 1)[-1]  # py-spy names methods `Class.method`
    if (where.endswith("selectors.py") and leaf in ("select", "poll")) or (
        where.endswith("threading.py") and leaf in ("wait", "_wait_for_tstate_lock")
    ):
        return "idle (epoll/select)"  # py-spy's --idle samples: the Python frame that is blocked
    for name, fragments in AREAS:
        if any(fragment in where for fragment in fragments):
            return name
    return "stdlib/other"


def _short(path: str) -> str:
    for root in ("site-packages/", "python3.11/", "/wt-termbench/", "/work/main/"):
        if root in path:
            return path.split(root, 1)[1]
    return path


def cprofile_report(path: Path, top: int = 20) -> dict:
    """Self time by area, and the top functions by self and by cumulative time, from a cProfile dump."""
    stats = pstats.Stats(str(path))
    rows = []
    for (file, line, function), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{_short(file)}:{line}({function})" if file != "~" else function,
                "area": area(file, function),
                "calls": calls,
                "self_s": own,
                "cumulative_s": cumulative,
            }
        )
    total = sum(row["self_s"] for row in rows)
    busy = total - sum(row["self_s"] for row in rows if row["area"].startswith("idle"))
    by_area = Counter()
    for row in rows:
        by_area[row["area"]] += row["self_s"]
    # the run's outer frames (the event loop, the app's run) include everything: keep them out of the top
    interesting = [row for row in rows if row["cumulative_s"] < 0.6 * busy]
    return {
        "total_s": round(total, 3),
        "busy_s": round(busy, 3),
        "self_by_area": {name: round(seconds, 3) for name, seconds in by_area.most_common()},
        "top_self": [_rounded(row) for row in sorted(rows, key=lambda row: -row["self_s"])[:top]],
        "top_cumulative": [_rounded(row) for row in sorted(interesting, key=lambda row: -row["cumulative_s"])[:top]],
    }


def collapsed_report(path: Path, top: int = 20, thread_name: str = "MainThread") -> dict:
    """Self and inclusive shares by area from py-spy's collapsed stacks (`frame;frame;... COUNT` a line).

    Shares are of the busy samples (not waiting in epoll/select) of the thread `thread_name` (stacks
    recorded with `--threads` start with their thread; "" takes every thread). Every thread's busy and
    idle samples are counted too, idle being a leaf blocked in select/poll/wait (pools and queues
    that block in C show up as their Python caller: see `idle_leaves`).
    """
    own, inclusive, functions, threads = Counter(), Counter(), Counter(), Counter()
    busy = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples, frames = int(count), stack.split(";")
        thread = frames.pop(0) if frames and frames[0].startswith("thread ") else "all"
        thread = thread.split(": ", 1)[-1] if ": " in thread else thread
        parsed = [_frame(frame) for frame in frames]
        blocked = not parsed or parsed[-1][1].startswith("idle") or any(key in frames[-1] for key in IDLE_LEAVES)
        threads[thread + (" idle" if blocked else " busy")] += samples
        if thread_name not in thread:
            continue
        if blocked:
            idle += samples
            continue
        busy += samples
        own[parsed[-1][1]] += samples
        functions[parsed[-1][0]] += samples
        for name in {area_name for _, area_name in parsed}:
            inclusive[name] += samples

    def shares(counter: Counter, limit: int | None = None) -> list[list]:
        return [[name, round(100 * n / busy, 1)] for name, n in counter.most_common(limit)] if busy else []

    return {
        "busy_samples": busy,
        "idle_samples": idle,
        "thread": thread_name or "every thread",
        "samples_by_thread": dict(sorted(threads.items())),
        "self_by_area_pct": shares(own),
        "inclusive_by_area_pct": shares(inclusive),
        "top_self_pct": shares(functions, top),
    }


def _frame(frame: str) -> tuple[str, str]:
    """py-spy's `function (path/file.py:LINE)` -> (a short name, its area)."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame.strip())
    if not match:
        return frame, area("", frame)
    function, file = match.groups()
    return f"{_short(file)}({function})", area(file, function)


def _rounded(row: dict) -> dict:
    return row | {"self_s": round(row["self_s"], 4), "cumulative_s": round(row["cumulative_s"], 4)}


def print_cprofile(report: dict, top: int = 15) -> None:
    busy = report["busy_s"] or 1
    print(f"profile: {report['total_s']} s of samples, {report['busy_s']} s busy (not waiting in epoll)")
    print(f"  {'self time by area':<40}{'s':>8}{'% busy':>8}")
    for name, seconds in report["self_by_area"].items():
        share = "" if name.startswith("idle") else f"{100 * seconds / busy:.1f}"
        print(f"  {name:<40}{seconds:>8.2f}{share:>8}")
    print(f"  {'top self':<86}{'calls':>9}{'self s':>8}")
    for row in report["top_self"][:top]:
        print(f"  {row['function'][:84]:<86}{row['calls']:>9}{row['self_s']:>8.2f}")
    print(f"  {'top cumulative':<86}{'calls':>9}{'cum s':>8}")
    for row in report["top_cumulative"][:top]:
        print(f"  {row['function'][:84]:<86}{row['calls']:>9}{row['cumulative_s']:>8.2f}")


def print_collapsed(report: dict, top: int = 15) -> None:
    print(
        f"py-spy, thread {report['thread']}: {report['busy_samples']} busy samples, {report['idle_samples']} idle"
        f" ({report['samples_by_thread']})"
    )
    inclusive = dict(report["inclusive_by_area_pct"])
    print(f"  {'area':<40}{'self %':>8}{'incl. %':>9}")
    for name, share in report["self_by_area_pct"]:
        print(f"  {name:<40}{share:>8}{inclusive.get(name, 0.0):>9}")
    print(f"  {'top self':<86}{'%':>8}")
    for name, share in report["top_self_pct"][:top]:
        print(f"  {name[:84]:<86}{share:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description="a profile's time by area")
    parser.add_argument("profile", type=Path)
    parser.add_argument("--collapsed", action="store_true", help="py-spy collapsed stacks, not a cProfile dump")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    if args.collapsed:
        print_collapsed(collapsed_report(args.profile, args.top), args.top)
    else:
        print_cprofile(cprofile_report(args.profile, args.top), args.top)


if __name__ == "__main__":
    main()
