"""The benchmark scripts still run (tiny sizes, no timing assertions: the figures live in their output)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_benchmark(module: str, out: Path, *args: str) -> tuple[str, object]:
    """Run `python -m benchmarks.MODULE ... --json OUT`; return its printed table and its JSON."""
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args, "--json", str(out)],
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
    _, figures = run_benchmark("startup", tmp_path / "startup.json", "--runs", "1")
    assert figures["runs"] == 1 and figures["first_paint_p50_ms"] > 0
