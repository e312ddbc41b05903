"""The benchmark scripts still run (tiny sizes, no timing assertions: the figures live in their output)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_render_benchmark_runs_and_writes_its_figures(tmp_path):
    out = tmp_path / "render.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.render", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYDANTIC_AI_NO_BANNER": "1"},
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())
    assert [row["size_kb"] for row in rows] == [1, 2] and all(row["xsus_s"] > 0 for row in rows)
    assert "us/delta" in result.stdout


def test_interrupt_benchmark_runs(tmp_path):
    out = tmp_path / "interrupt.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.interrupt", "--runs", "3", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYDANTIC_AI_NO_BANNER": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["runs"] == 3


def test_startup_benchmark_runs_in_a_real_pseudo_terminal(tmp_path):
    out = tmp_path / "startup.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.startup", "--runs", "1", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYDANTIC_AI_NO_BANNER": "1"},
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert figures["runs"] == 1 and figures["first_paint_p50_ms"] > 0
