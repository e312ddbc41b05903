"""The documented screenshot command still works (its output is the README's pictures)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_screenshot_script_writes_the_six_svgs(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshots.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYDANTIC_AI_NO_BANNER": "1"},
    )
    assert result.returncode == 0, result.stderr
    shots = {path.stem: path.read_text() for path in tmp_path.glob("*.svg")}
    assert set(shots) == {
        "streaming-reply",
        "tool-calls",
        "structured-output",
        "interrupted-reply",
        "conversations",
        "turn-versions",
    }
    assert "streaming" in shots["streaming-reply"]
    assert "calculator" in shots["tool-calls"]
    assert "TripPlan" in shots["structured-output"]
    assert "interrupted" in shots["interrupted-reply"]
    assert "3&#160;conversations,&#160;newest&#160;first" in shots["conversations"]
    assert "‹2/2›" in shots["turn-versions"]
