"""README's Performance table, written from one run of the whole suite (`benchmarks/results/all.json`).

    .venv/bin/python -m benchmarks                       # every script, then all.json
    .venv/bin/python -m benchmarks.report                # print the table
    .venv/bin/python -m benchmarks.report --readme README.md   # and put it in README between its markers

Every figure in the table comes from that one file, with the load average sampled while its script ran,
so the README cannot mix runs. A figure a script did not produce shows as "–".
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

BEGIN = "<!-- benchmarks:begin (written by `python -m benchmarks.report --readme README.md`) -->"
END = "<!-- benchmarks:end -->"

Row = tuple[str, str, str, str]  # (label, what is measured, xsus, target)


def get(data: Any, path: str) -> Any:
    """`data["a"]["b"]...` for "a.b...", or None where a key is missing."""
    for key in path.split("."):
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and key.lstrip("-").isdigit() and -len(data) <= int(key) < len(data):
            data = data[int(key)]
        else:
            return None
    return data


def num(value: Any, unit: str = "", digits: int = 0) -> str:
    """A figure with thousands separators, or "–" when absent."""
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{unit}"


def verdict(value: Any, target: float, unit: str, *, at_most: bool = False) -> str:
    """The target and whether the figure met it: under it (`at_most`: or at it)."""
    if value is None:
        return f"{num(target)}{unit}"
    met = value <= target if at_most else value < target
    shown = f"{target:g}{unit}"
    return f"{shown}: {'met' if met else 'missed'}"


def row_render(r: dict) -> list[Row]:
    sizes = r if isinstance(r, list) else []
    by = {row["size_kb"]: row for row in sizes}
    last = sizes[-1] if sizes else {}
    first = sizes[0] if sizes else {}
    xs = " / ".join(num(row.get("xsus_s"), " s", 2) for row in sizes)
    no = " / ".join(num(row.get("no_ui_s"), " s", 2) for row in sizes)
    kb = " / ".join(f"{k:g}" for k in by)
    per = (last.get("xsus_us_per_delta") or 0) / (first.get("xsus_us_per_delta") or 1) if sizes else None
    return [
        (
            "a. render, headless",
            f"a FunctionModel streams {kb} KB of markdown in 6-character deltas as fast as it can; first delta to last frame, no terminal (for profiling: m is what users see)",
            xs,
            "",
        ),
        ("", "the same events with no UI at all", no, ""),
        ("", f"xsus against no UI, {kb.split(' / ')[-1]} KB", f"**{num(last.get('xsus_vs_no_ui'), 'x', 2)}**", ""),
        (
            "",
            "cost per delta, largest against smallest",
            f"{num(last.get('xsus_us_per_delta'), ' µs')} vs {num(first.get('xsus_us_per_delta'), ' µs')} (**{num(per, 'x', 2)}**)",
            verdict(per, 1.5, "x"),
        ),
    ]


def row_keys(r: dict) -> list[Row]:
    rows = [
        (
            "b. keys while streaming",
            f"key press in a pty to the terminal showing it, reply at {num(r.get('rate_deltas_per_s'))} deltas/s, {num(r.get('presses'))} presses",
            f"p50 {num(r.get('p50_ms'), ' ms', 1)}, **p99 {num(r.get('p99_ms'), ' ms', 1)}**",
            verdict(r.get("p99_ms"), 50, " ms"),
        ),
    ]
    busy = r.get("busy")
    if isinstance(busy, dict):
        rows.append(
            (
                "",
                f"the same with a CPU-bound process beside the app (load {num(busy.get('load_average_1m'), '', 1)} after)",
                f"p50 {num(busy.get('p50_ms'), ' ms', 1)}, **p99 {num(busy.get('p99_ms'), ' ms', 1)}**",
                verdict(busy.get("p99_ms"), 50, " ms"),
            )
        )
    return rows


def row_ttft(r: dict) -> list[Row]:
    return [
        (
            "c. first token",
            f"the model's first delta to it reaching the terminal, {num(r.get('turns'))} turns",
            f"p50 {num(r.get('p50_ms'), ' ms')}, **p99 {num(r.get('p99_ms'), ' ms')}**",
            verdict(r.get("p99_ms"), 50, " ms"),
        )
    ]


def row_interrupt(r: dict) -> list[Row]:
    rows = [
        (
            "d. interrupt",
            f"Esc to the turn ended and saved, {num(r.get('runs'))} interrupts at random moments",
            f"p50 {num(r.get('p50_ms'), ' ms', 1)}, **p99 {num(r.get('p99_ms'), ' ms', 1)}**",
            verdict(r.get("p99_ms"), 50, " ms"),
        )
    ]
    if terminal := r.get("terminal"):
        rows.append(
            (
                "",
                f"in a real terminal: the Esc byte to `interrupted` received, {num(terminal.get('runs'))} interrupts"
                " (a lone Esc waits 50 ms for the rest of a key sequence)",
                f"p50 {num(terminal.get('p50_ms'), ' ms', 1)}, **p99 {num(terminal.get('p99_ms'), ' ms', 1)}**",
                verdict(terminal.get("p99_ms"), 100, " ms"),
            )
        )
    return rows


def row_startup(r: dict) -> list[Row]:
    quiet, loaded = r.get("quiet") or {}, r.get("loaded") or {}
    kinds = ("demo", "openai", "agent")

    def ready(d: dict) -> str:
        return " / ".join(num(d.get(f"{k}_ready_p50_ms"), " ms") for k in kinds)

    def met(kind: str) -> str:
        value, floor = quiet.get(f"{kind}_ready_p50_ms"), quiet.get(f"{kind}_libraries_p50_ms")
        if value is None:
            return "–"
        if value < 1000:
            return "met"
        return "out of reach (the libraries alone)" if floor is not None and floor >= 1000 else "missed"

    rows = [
        (
            "e. start-up",
            "`xsus --version`",
            f"**{num(r.get('version_p50_ms'), ' ms')}**",
            verdict(r.get("version_p50_ms"), 150, " ms"),
        ),
        (
            "",
            f"process start to the first painted frame, demo model, median of {num(r.get('runs'))}",
            f"**{num(r.get('first_paint_p50_ms'), ' ms')}**",
            verdict(r.get("first_paint_p50_ms"), 700, " ms"),
        ),
        (
            "",
            "to ready to send (a prompt and Enter typed at the first frame, to its turn starting): demo / `--model openai-chat:NAME` / `--agent FILE:NAME`",
            f"**{ready(quiet)}**",
            f"1,000 ms: {met('demo')} / {met('openai')} / {met('agent')}",
        ),
        ("", "the app's CPU time by then", " / ".join(num(quiet.get(f"{k}_cpu_p50_ms"), " ms") for k in kinds), ""),
    ]
    if any(quiet.get(f"{k}_libraries_p50_ms") is not None for k in kinds):
        rows.append(
            (
                "",
                "the floor under it: the CPU time of the libraries alone (Textual's app and pydantic-ai; for openai-chat its OpenAI model and the openai SDK too), imported by a fresh interpreter in the same runs",
                " / ".join(num(quiet.get(f"{k}_libraries_p50_ms"), " ms") for k in kinds),
                "",
            )
        )
    rows += [
        ("", "`--agent`: its loading state on screen", num(quiet.get("agent_loading_shown_p50_ms"), " ms"), "at once"),
    ]
    if loaded:
        rows.append(
            (
                "",
                f"with {loaded.get('cpu_hogs', 1)} CPU-bound process beside it: first frame; ready demo / openai / agent",
                f"{num(loaded.get('demo_first_frame_p50_ms'), ' ms')}; {ready(loaded)}",
                "",
            )
        )
    return rows


def row_history(r: dict) -> list[Row]:
    return [
        (
            "f. long history",
            f"`xsus -c` on {num(r.get('turns'))} stored turns ({num(r.get('text_kb'))} KB of text), start to the last turn on screen, {len(r.get('first_paint_runs_ms') or [])} opens: median / max",
            f"**{num(r.get('first_paint_median_ms'), ' ms')}** / {num(r.get('first_paint_max_ms'), ' ms')}",
            verdict(r.get("first_paint_max_ms"), 1000, " ms"),
        ),
        (
            "",
            "to turn 1 on screen: Ctrl+Home / a search hit (Ctrl+O, Enter) / a `/tree` pick",
            f"**{num(r.get('top_ms'), ' ms')}** / **{num(r.get('search_to_turn_1_ms'), ' ms')}** / **{num(r.get('tree_to_turn_1_ms'), ' ms')}**",
            verdict(
                max(r.get("top_ms") or 0, r.get("search_to_turn_1_ms") or 0, r.get("tree_to_turn_1_ms") or 0) or None,
                1000,
                " ms",
            ),
        ),
        (
            "",
            "peak memory (VmHWM) through the jump to turn 1 and paging both ways",
            f"**{num(r.get('peak_rss_mb'), ' MB')}**",
            verdict(r.get("peak_rss_mb"), 300, " MB"),
        ),
        (
            "",
            "repaint p50 / max: PgDn from turn 1 / PgUp from the end",
            f"{num(r.get('pagedown_from_top_p50_ms'), ' ms')} / {num(r.get('pagedown_from_top_max_ms'), ' ms')}, {num(r.get('pageup_p50_ms'), ' ms')} / {num(r.get('pageup_max_ms'), ' ms')}",
            "",
        ),
    ]


def row_store(r: dict) -> list[Row]:
    rows = r.get("rows") or [{}]
    first, last = rows[0], rows[-1]
    return [
        (
            "g. store",
            f"saving a turn, {num(first.get('turns_stored'))} vs {num(last.get('turns_stored'))} turns already stored (p50)",
            f"{num(first.get('p50_ms'), ' ms', 3)} vs {num(last.get('p50_ms'), ' ms', 3)} (**{num(r.get('p50_ratio'), 'x', 2)}**)",
            verdict(r.get("p50_ratio"), 1.5, "x"),
        )
    ]


def row_long_session(r: dict) -> list[Row]:
    t, i = r.get("turns") or {}, r.get("interrupts") or {}
    return [
        (
            "h. long session",
            f"{num(t.get('turns'))} demo turns in one process: RSS / time per turn, turn {num(t.get('turns'))} against turn {num(t.get('early_turn'))}",
            f"{num(get(t, 'early.rss_mb'), '', 0)} -> {num(get(t, 'late.rss_mb'), ' MB', 0)} (**{num(r.get('rss_ratio'), 'x', 2)}**) / {num(get(t, 'early.ms_per_turn'))} -> {num(get(t, 'late.ms_per_turn'), ' ms')} (**{num(r.get('time_per_turn_ratio'), 'x', 2)}**)",
            verdict(
                max(r.get("rss_ratio") or 0, r.get("time_per_turn_ratio") or 0) or None,
                r.get("target_ratio") or 1.25,
                "x",
            ),
        ),
        (
            "",
            f"{num(i.get('interrupts'))} send+Esc cycles, after {num(i.get('interrupts'))} against after {num(i.get('early_interrupt'))}: asyncio tasks / live widgets / RSS",
            f"{num(get(i, 'early.tasks'))} -> {num(get(i, 'late.tasks'))} / {num(get(i, 'early.live_widgets'))} -> {num(get(i, 'late.live_widgets'))} / {num(get(i, 'early.rss_mb'), '', 1)} -> {num(get(i, 'late.rss_mb'), ' MB', 1)} (**{num(r.get('interrupt_rss_ratio'), 'x', 2)}**)",
            verdict(r.get("interrupt_rss_ratio"), r.get("target_interrupt_rss_ratio") or 1.1, "x"),
        ),
    ]


def row_crash(r: dict) -> list[Row]:
    return [
        (
            "i. crash",
            f"`kill -9` at {num(r.get('runs'))} random moments of a streaming reply: streaming lost since the last checkpoint",
            f"p50 {num(r.get('lost_s_p50'), ' s', 2)}, **max {num(r.get('lost_s_max'), ' s', 2)}** ({num(r.get('lost_chars_max'))} characters)",
            verdict(r.get("lost_s_max"), 1, " s"),
        )
    ]


def row_conversations(r: dict) -> list[Row]:
    s = r.get("search") or {}
    searches = " / ".join(
        num(get(s, f"{k}.median_ms"), " ms", 1) for k in ("common word", "rare word", "two words", "code token")
    )
    return [
        (
            "j. large history",
            f"{num(r.get('conversations'))} conversations, {num(r.get('messages'))} messages, generated: `store.page()` first 50",
            f"**{num(get(r, 'page.median_ms'), ' ms', 1)}**",
            verdict(get(r, "page.median_ms"), 300, " ms"),
        ),
        ("", "`store.search()` first page: a common word / a rare word / two words / a code token", searches, "100 ms"),
        (
            "",
            "opening a conversation: `store.load` + `store.tree`",
            f"**{num(get(r, 'open.median_ms'), ' ms', 1)}**",
            verdict(get(r, "open.median_ms"), 500, " ms"),
        ),
        (
            "",
            "in the app: Ctrl+O to the browser's first page / a word typed to its hits / Enter to the chat showing it",
            f"**{num(get(r, 'ui.browser.median_ms'), ' ms')}** / {num(get(r, 'ui.search.median_ms'), ' ms')} / **{num(get(r, 'ui.open.median_ms'), ' ms')}**",
            "300 / - / 500 ms",
        ),
        (
            "",
            "`xsus history list -n 50`, process start to exit / all of them",
            f"**{num(get(r, 'cli_list.median_ms'), ' ms')}** / {num(get(r, 'cli_list_all.median_ms'), ' ms')}",
            verdict(get(r, "cli_list.median_ms"), 300, " ms"),
        ),
        (
            "",
            "saving a turn, few vs all conversations stored",
            f"{num(r.get('save_small_ms'), ' ms', 2)} vs {num(r.get('save_big_ms'), ' ms', 2)} (**{num(r.get('save_ratio'), 'x', 2)}**)",
            "flat",
        ),
        (
            "",
            "database / its search index (FTS5 trigram)",
            f"{num(get(r, 'sizes.db_mb'), ' MB')} / {num(get(r, 'sizes.search_index_mb'), ' MB')} ({num((get(r, 'sizes.search_share') or 0) * 100)}%)",
            "",
        ),
        ("", "indexing that history once from schema 1", num(r.get("migration_s"), " s", 1), ""),
    ]


def row_inspector(r: dict) -> list[Row]:
    return [
        (
            "k. inspector",
            f"a turn of {num(r.get('events'))} events: F2 to the inspector's first frame / the analysis alone / 4 keys typed into its search to the filtered list",
            f"**{num(r.get('open_ms'), ' ms')}** / {num(r.get('analysis_ms'), ' ms')} / {num(r.get('search_ms'), ' ms')}",
            verdict(r.get("open_ms"), 300, " ms"),
        )
    ]


def row_recording(r: dict) -> list[Row]:
    render = r.get("render") or []
    costs = " / ".join(f"{(row.get('app_cost') or 0) * 100:+.1f}%" for row in render)
    no_ui = " / ".join(f"{(row.get('no_ui_cost') or 0) * 100:+.1f}%" for row in render)
    kb = " / ".join(f"{row.get('size_kb')} KB" for row in render)
    demo = " / ".join(num(row.get("stored_vs_text"), "x", 2) for row in r.get("demo") or [])
    worst = max((row.get("app_cost") or 0 for row in render), default=None)
    return [
        (
            "l. recording",
            f"every turn recorded and stored, against recording off: render {kb} in the app, headless / with no UI",
            f"{costs}, no UI {no_ui}",
            verdict(worst * 100 if worst is not None else None, 5, "%"),
        ),
        ("", "what the store keeps per demo turn, against the reply's text", demo, "2x"),
    ]


def row_terminal(r: dict) -> list[Row]:
    render = r.get("render") or []
    kb = " / ".join(f"{row.get('size_kb'):g} KB" for row in render)

    def each(key: str, unit: str = " s", digits: int = 2) -> str:
        return " / ".join(num(row.get(key), unit, digits) for row in render)

    worst = max((row.get("xsus_vs_no_ui") or 0 for row in render), default=None) or None
    paths = get(r, "paths.paths") or {}
    order = [k for k in ("sdk", "model", "iter", "handler", "events", "session") if k in paths]
    return [
        (
            "m. render in a terminal",
            f"xsus in a 110x36 pty with the real openai client against a loopback server, server's first chunk to the reply's last line on the terminal, {kb} of varied markdown, median of {num(get(render, '0.runs'))}",
            each("xsus_s"),
            "",
        ),
        (
            "",
            "in the same run: the no-UI consumer (`run_stream_events`) / the openai SDK alone",
            "; ".join(
                f"{row.get('size_kb'):g} KB: {num(row.get('no_ui_s'), ' s', 2)} / {num(row.get('sdk_s'), ' s', 2)}"
                for row in render
            ),
            "",
        ),
        (
            "",
            "xsus against the no-UI consumer (median of the runs' ratios)",
            f"**{each('xsus_vs_no_ui', 'x')}** ({each('xsus_us_per_chunk', ' µs', 0)} a chunk)",
            verdict(worst, 1.5, "x", at_most=True),
        ),
        (
            "",
            "what the terminal receives: frames a second / rows rewritten a frame (median; mean) / bytes per KB of reply",
            "; ".join(
                f"{row.get('size_kb'):g} KB: {num(row.get('fps'), '', 1)} / {num(row.get('rows_per_frame_median'))}; {num(row.get('rows_per_frame_mean'), '', 1)} / {num(row.get('bytes_per_kb'))}"
                for row in render
            ),
            "",
        ),
        (
            "",
            f"the no-UI paths, {num(get(r, 'paths.size_kb'))} KB, µs a chunk: {' / '.join(order)}",
            " / ".join(num(get(paths, f"{k}.us_per_chunk")) for k in order),
            "",
        ),
    ]


ROWS: dict[str, Callable[[Any], list[Row]]] = {
    "render": row_render,
    "responsiveness": row_keys,
    "ttft": row_ttft,
    "interrupt": row_interrupt,
    "startup": row_startup,
    "history": row_history,
    "store": row_store,
    "long_session": row_long_session,
    "crash": row_crash,
    "conversations": row_conversations,
    "inspector": row_inspector,
    "recording": row_recording,
    "terminal_render": row_terminal,
}


def table(report: dict) -> str:
    """The Markdown table of every script in `report` (all.json), with its load average."""
    machine = report.get("machine") or {}
    lines = [
        f"One run of `.venv/bin/python -m benchmarks`: {machine.get('cpus', '?')} vCPUs ({machine.get('cpu', '?')}), "
        f"Python {machine.get('python', '?')}, textual {machine.get('textual', '?')}, pydantic-ai {machine.get('pydantic-ai', '?')}, "
        f"rich {machine.get('rich', '?')}{', quick sizes: not figures to quote' if report.get('quick') else ''}. "
        "The load column is the 1-minute load average sampled every second while that script ran "
        "(min-max): these machines are shared.",
        "",
        "| | what is measured | xsus | target | load |",
        "|---|---|---|---|---|",
    ]
    for name, rows_of in ROWS.items():
        result = get(report, f"results.{name}")
        if result is None:
            continue
        load = get(report, f"load.{name}")
        shown = f"{load['min']:.1f}-{load['max']:.1f}" if isinstance(load, dict) else "–"
        for index, (label, what, figure, target) in enumerate(rows_of(result)):
            lines.append(f"| {label} | {what} | {figure} | {target} | {shown if index == 0 else ''} |")
    return "\n".join(lines) + "\n"


def put_in_readme(readme: Path, text: str) -> None:
    """Replace what stands between the markers in `readme` with `text`."""
    source = readme.read_text()
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(source):
        raise SystemExit(f"{readme}: no {BEGIN!r} ... {END!r} block to replace")
    readme.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}{END}", source, count=1))


def main() -> None:
    parser = argparse.ArgumentParser(description="README's Performance table from one run of every benchmark")
    parser.add_argument("all_json", nargs="?", type=Path, default=Path("benchmarks/results/all.json"))
    parser.add_argument("--readme", type=Path, help="write the table into this README between its markers")
    args = parser.parse_args()
    text = table(json.loads(args.all_json.read_text()))
    if args.readme is not None:
        put_in_readme(args.readme, text)
    print(text, end="")


if __name__ == "__main__":
    main()
