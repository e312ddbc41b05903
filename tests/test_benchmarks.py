"""The benchmark scripts still run (tiny sizes, no timing assertions: the figures live in their output)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_benchmark(module: str, out: Path, *args: str) -> tuple[str, object]:
    """Run `python -m benchmarks.MODULE ... --json OUT` (MODULE "": the runner); return its printed table
    and its JSON."""
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}" if module else "benchmarks", *args, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYDANTIC_AI_NO_BANNER": "1"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, json.loads(out.read_text())


def test_render_benchmark_runs_and_writes_its_figures(tmp_path):
    table, rows = run_benchmark("render", tmp_path / "render.json", "--quick")
    assert [row["size_kb"] for row in rows] == [1, 2] and all(row["xsus_s"] > 0 for row in rows)
    assert "us/delta" in table


def test_interrupt_benchmark_runs(tmp_path):
    _, figures = run_benchmark("interrupt", tmp_path / "interrupt.json", "--runs", "3")
    assert figures["runs"] == 3


def test_startup_benchmark_runs_in_a_real_pseudo_terminal(tmp_path):
    _, figures = run_benchmark("startup", tmp_path / "startup.json", "--runs", "1", "--load", "0")
    assert figures["runs"] == 1 and figures["first_paint_p50_ms"] > 0
    quiet = figures["quiet"]
    for name in ("demo", "openai", "agent"):  # the message typed at the first frame was sent, after it was shown
        assert quiet[f"{name}_ready_p50_ms"] > quiet[f"{name}_typing_p50_ms"] >= quiet[f"{name}_first_frame_p50_ms"]
    assert "loaded" not in figures


def test_responsiveness_benchmark_types_while_a_reply_streams(tmp_path):
    table, figures = run_benchmark("responsiveness", tmp_path / "responsiveness.json", "--quick")
    assert figures["presses"] == 5 and figures["echoed"] + figures["missed"] == 5 and figures["echoed"] > 0
    assert figures["p50_ms"] > 0 and "key echo while streaming" in table


def test_ttft_benchmark_runs_turns_in_one_session(tmp_path):
    table, figures = run_benchmark("ttft", tmp_path / "ttft.json", "--quick")
    assert figures["turns"] == figures["measured"] == 3 and figures["problems"] == []
    assert all(value > 0 for value in figures["ttft_ms"]) and "first delta to screen" in table


def test_history_benchmark_resumes_a_stored_conversation(tmp_path):
    table, figures = run_benchmark("history", tmp_path / "history.json", "--quick")
    assert figures["turns"] == 20 and figures["messages"] > 40
    assert figures["first_paint_ms"] != "timeout" and figures["top_ms"] != "timeout" and figures["peak_rss_mb"] > 0
    assert figures["pageup_presses"] == 2 and "first paint" in table
    assert figures["top_presses"] == 1 and figures["top_oldest_turn_reached"] == 1  # Ctrl+Home jumps to turn 1
    assert all(isinstance(figures[f"{how}_to_turn_1_ms"], float) for how in ("search", "tree"))
    assert len(figures["first_paint_runs_ms"]) == len(figures["load_average_during_opens"]) == 3


def test_store_benchmark_runs_and_writes_its_figures(tmp_path):
    table, figures = run_benchmark("store", tmp_path / "store.json", "--quick")
    rows = figures["rows"]
    assert [row["turns_stored"] for row in rows] == [10, 1000]
    assert all(row["p50_ms"] > 0 and row["in_turn"]["runs"] == 3 and row["db_bytes"] > 0 for row in rows)
    assert all(row["store_calls_per_turn"] == ["save save"] for row in rows)  # the prompt, then the reply
    assert "turns stored" in table


def test_long_session_benchmark_runs_turns_and_interrupts(tmp_path):
    table, figures = run_benchmark("long_session", tmp_path / "long_session.json", "--quick")
    turns, interrupts = figures["turns"], figures["interrupts"]
    assert turns["turns"] == 20 and len(turns["ms_per_turn_each"]) == 20 and interrupts["interrupts"] == 10
    assert all(turns[at]["rss_mb"] > 0 and turns[at]["tasks"] > 0 for at in ("early", "late"))
    assert figures["rss_ratio"] and figures["time_per_turn_ratio"] and "send + Esc" in table
    assert figures["engine"]["late"]["ms_per_turn"] > 0 and "engine alone" in table


def test_the_runner_runs_the_benchmarks_it_is_given_and_collects_their_figures(tmp_path):
    table, report = run_benchmark("", tmp_path / "all.json", "--quick", "--only", "store")
    assert list(report["results"]) == ["store"] and report["machine"]["textual"]
    assert (tmp_path / "store.json").exists() and "g. store save cost" in table
    load = report["load"]["store"]  # the load average while the script ran, sampled beside it
    assert 0 <= load["min"] <= load["mean"] <= load["max"] and load["seconds"] > 0
    assert f"load average {load['min']}-{load['max']}" in table


def test_the_readme_table_is_written_from_one_run_with_its_load(tmp_path):
    from benchmarks.report import BEGIN, END, put_in_readme, table

    report = {
        "machine": {"cpus": "2", "cpu": "Xeon", "python": "3.11.7", "textual": "8.2.8", "pydantic-ai": "2.68.0"},
        "quick": False,
        "results": {
            "responsiveness": {
                "presses": 100,
                "rate_deltas_per_s": 300.0,
                "p50_ms": 9.0,
                "p99_ms": 61.5,
                "busy": {"p50_ms": 8.8, "p99_ms": 40.6, "load_average_1m": 3.1},
            },
            "interrupt": {"runs": 50, "p50_ms": 6.4, "p99_ms": 16.0},
        },
        "load": {"responsiveness": {"min": 1.04, "mean": 1.5, "max": 2.26, "seconds": 30.0}},
    }
    text = table(report)
    [keys] = [line for line in text.splitlines() if line.startswith("| b.")]
    assert "**p99 61.5 ms**" in keys and "50 ms: missed" in keys and keys.endswith("| 1.0-2.3 |")
    [busy] = [line for line in text.splitlines() if "CPU-bound process beside" in line]
    assert "**p99 40.6 ms**" in busy and "50 ms: met" in busy and "load 3.1" in busy
    [esc] = [line for line in text.splitlines() if line.startswith("| d.")]
    assert "50 ms: met" in esc and esc.endswith("| – |")  # no load recorded for it: said so, not invented
    assert not any(line.startswith("| e.") for line in text.splitlines())  # a script that did not run: no row
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{BEGIN}\nold figures\n{END}\n\nafter\n")
    put_in_readme(readme, text)
    written = readme.read_text()
    assert "old figures" not in written and "**p99 61.5 ms**" in written and written.endswith(f"{END}\n\nafter\n")


def test_crash_benchmark_runs(tmp_path):
    table, figures = run_benchmark("crash", tmp_path / "crash.json", "--runs", "1")
    assert figures["runs"] == 1 and "lost" in table


def test_conversations_benchmark_lists_searches_and_migrates_a_generated_history(tmp_path):
    table, figures = run_benchmark("conversations", tmp_path / "c.json", "--quick", "--cache", str(tmp_path / "cache"))
    assert figures["conversations"] == 200 and figures["messages"] > 2000
    assert figures["migration_s"] > 0 and figures["migration_progress_calls"] > 0
    assert figures["page"]["median_ms"] > 0 and figures["open"]["median_ms"] > 0
    assert all(row["hits"] > 0 for row in figures["search"].values()), figures["search"]
    assert figures["cli_list"]["bytes"] > 0 and figures["save_ratio"] > 0 and figures["sizes"]["search_share"] > 0
    assert "store.search()" in table and "migration from schema 1" in table


def test_recording_benchmark_runs(tmp_path):
    table, figures = run_benchmark("recording", tmp_path / "recording.json", "--quick")
    assert figures["render"][0]["stored_bytes"] > 0 and [row["prompt"] for row in figures["demo"]] == ["hello", "long"]
    assert "recording costs" in table


def test_inspector_benchmark_opens_the_inspector_on_a_large_turn(tmp_path):
    table, figures = run_benchmark("inspector", tmp_path / "inspector.json", "--quick")
    assert figures["events"] > 1500 and figures["runs"] == 1
    assert figures["open_ms"] > 0 and figures["search_ms"] > 0 and "open ms" in table


def test_terminal_render_benchmark_draws_a_reply_in_a_pty_beside_the_no_ui_paths(tmp_path):
    table, figures = run_benchmark("terminal_render", tmp_path / "terminal_render.json", "--quick")
    [row] = figures["render"]
    assert row["xsus_s"] > 0 and row["no_ui_s"] > 0 and row["sdk_s"] > 0 and row["xsus_idle_s"] is not None
    assert row["synchronized"] and row["frames"] > 0 and row["bytes_per_kb"] > 0  # frames were counted
    paths = figures["paths"]["paths"]
    assert set(paths) == {"sdk", "model", "events", "iter", "handler", "session"}
    assert all(path["s"] > 0 and path["events"] >= figures["paths"]["chunks"] for path in paths.values())
    assert "render in a real terminal" in table and "paths through pydantic-ai" in table


def test_profile_areas_sorts_py_spy_stacks_by_area_and_keeps_idle_apart(tmp_path):
    from benchmarks.profile_areas import collapsed_report

    stacks = tmp_path / "stacks.txt"
    stacks.write_text(
        "thread (1): MainThread;_run_once (asyncio/base_events.py:1900);"
        "ReplyText._update (xsus_tui/ui/widgets/reply_text.py:260);Console.render_lines (rich/console.py:1350) 30\n"
        "thread (1): MainThread;_run_once (asyncio/base_events.py:1900);"
        "Compositor.render_update (textual/_compositor.py:1096) 10\n"
        "thread (1): MainThread;_run_once (asyncio/base_events.py:1900);EpollSelector.select (selectors.py:468) 50\n"
        "thread (2): textual-output;Condition.wait (threading.py:327) 100\n"
    )
    report = collapsed_report(stacks)
    assert (report["busy_samples"], report["idle_samples"]) == (40, 50)
    assert report["self_by_area_pct"] == [["rich", 75.0], ["textual compositor", 25.0]]
    inclusive = dict(report["inclusive_by_area_pct"])
    assert inclusive["xsus widgets"] == 75.0 and inclusive["asyncio"] == 100.0
    assert report["samples_by_thread"]["textual-output idle"] == 100


def test_profile_areas_reads_a_cprofile_dump(tmp_path):
    import cProfile
    import json as json_module

    from benchmarks.profile_areas import cprofile_report

    dump = tmp_path / "run.prof"
    cProfile.runctx("json_module.dumps([list(range(50))] * 2000)", {"json_module": json_module}, {}, str(dump))
    report = cprofile_report(dump)
    assert report["busy_s"] > 0 and sum(report["self_by_area"].values()) > 0
    assert any("dumps" in row["function"] for row in report["top_cumulative"] + report["top_self"])


def test_the_readme_table_is_the_one_written_from_the_run_kept_in_docs():
    """README's Performance table is not edited by hand: it is what `benchmarks.report` writes from the kept run."""
    from pathlib import Path

    from benchmarks.report import BEGIN, END, table

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    shown = readme[readme.index(BEGIN) + len(BEGIN) : readme.index(END)].strip()
    assert shown == table(json.loads((root / "docs" / "benchmarks-all.json").read_text())).strip()
