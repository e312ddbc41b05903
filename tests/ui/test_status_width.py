"""The status line fits the terminal without cutting a figure in half."""

from __future__ import annotations

import re

import pytest

from xsus_tui.core.events import TurnStats

from .helpers import make_app, screen_text, wait_for

STATS = TurnStats(input_tokens=123_456, output_tokens=98_765, requests=3, ttft=0.456, duration=12.5)
FIGURE = re.compile(r"(first token|ttft) \d+ ms|\d+ tok/s|tokens [\d,]+ in / [\d,]+ out|[\d,]+/[\d,]+ tok")


@pytest.mark.parametrize("width", [80, 60, 44])
async def test_figures_are_whole_or_left_out(xsus_home, width):
    app = make_app(xsus_home)
    async with app.run_test(size=(width, 20)) as pilot:
        status = app.chat_screen.status
        status.model_label = "openai-chat:Qwen/Qwen2.5-72B-Instruct-GPTQ-Int4-with-a-long-name"
        status.state = "interrupted"
        status.stats = STATS
        await wait_for(pilot, lambda: "interrupted" in screen_text(app).splitlines()[-1])
        line = screen_text(app).splitlines()[-1].rstrip()
        assert len(line) <= width
        assert "interrupted" in line
        figures = line.split("interrupted", 1)[1]
        pieces = [p.strip() for p in figures.split("·") if p.strip()]
        assert all(FIGURE.fullmatch(p) for p in pieces), line
        if width >= 80:
            assert pieces, line  # at 80 columns there is room for figures
