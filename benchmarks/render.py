"""Render throughput: a FunctionModel streams a markdown reply as fast as it can.

    .venv/bin/python -m benchmarks.render [--sizes 10 30 100] [--quick]

For each size (KB) it times, from the first delta to the end:
  - no UI: consuming the same turn's events with no rendering at all (the floor);
  - stock: one Textual Markdown widget fed by MarkdownStream (what most clients would do);
  - update: `Markdown.update(whole_text)` per delta, as several chat clients do: so slow that it is
    timed over the first UPDATE_DELTAS deltas only, and reported per delta;
  - xsus: the real app, headless, until the reply is rendered and the turn is idle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from xsus_tui.core.demo_text import long_reply

DELTA = 6
"""Characters per delta, about a token and a half."""


def markdown(size_kb: int) -> str:
    block = long_reply(2) + "\n```python\n" + "\n".join(f"value_{i} = {i} * 2" for i in range(30)) + "\n```\n"
    block += "\n| a | b | c |\n|---|---|---|\n" + "\n".join(f"| {i} | {i * i} | x |" for i in range(10)) + "\n"
    text = ""
    while len(text) < size_kb * 1024:
        text += block
    return text[: size_kb * 1024]


def chat_agent(text: str):
    from pydantic_ai import Agent
    from pydantic_ai.models.function import FunctionModel

    from xsus_tui.core.agents import ChatAgent

    async def stream(messages, info):
        for start in range(0, len(text), DELTA):
            yield text[start : start + DELTA]

    return ChatAgent(agent=Agent(FunctionModel(stream_function=stream)), label="bench")


async def no_ui(text: str) -> float:
    from xsus_tui.core.session import ChatSession

    session = ChatSession(chat_agent(text), None)
    first = None
    async for event in session.run_turn("go"):
        if first is None and type(event).__name__ == "TextDelta":
            first = time.perf_counter()
    return time.perf_counter() - (first or time.perf_counter())


async def stock(text: str) -> float:
    from textual.app import App
    from textual.containers import VerticalScroll
    from textual.widgets import Markdown

    from xsus_tui.core.session import ChatSession

    class Stock(App):
        def compose(self):
            with VerticalScroll():
                yield Markdown()

    app = Stock()
    async with app.run_test(size=(100, 30)) as pilot:
        widget = app.query_one(Markdown)
        stream = Markdown.get_stream(widget)
        first = None
        async for event in ChatSession(chat_agent(text), None).run_turn("go"):
            if type(event).__name__ == "TextDelta":
                first = first or time.perf_counter()
                await stream.write(event.text)
        await stream.stop()
        await pilot.pause()
        return time.perf_counter() - (first or time.perf_counter())


UPDATE_DELTAS = 300


async def update_per_delta(text: str) -> float:
    """Seconds per delta when every delta re-renders the whole text with `Markdown.update`."""
    from textual.app import App
    from textual.containers import VerticalScroll
    from textual.widgets import Markdown

    class Stock(App):
        def compose(self):
            with VerticalScroll():
                yield Markdown()

    deltas = [text[start : start + DELTA] for start in range(0, len(text), DELTA)][:UPDATE_DELTAS]
    app = Stock()
    async with app.run_test(size=(100, 30)) as pilot:
        widget = app.query_one(Markdown)
        started, shown = time.perf_counter(), ""
        for delta in deltas:
            shown += delta
            await widget.update(shown)
        await pilot.pause()
        return (time.perf_counter() - started) / len(deltas)


async def xsus(text: str, session=None) -> float:
    """The real app headless, first delta to the turn idle; on `session` (a ChatSession) if given."""
    from xsus_tui.core.session import ChatSession
    from xsus_tui.ui.app import XsusApp
    from xsus_tui.ui.widgets.reply import AssistantReply

    first: list[float] = []
    original = AssistantReply.apply

    async def timed(self, event):
        if not first and type(event).__name__ == "TextDelta":
            first.append(time.perf_counter())
        await original(self, event)

    AssistantReply.apply = timed
    try:
        app = XsusApp(session if session is not None else ChatSession(chat_agent(text), None))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.chat_screen
            screen.prompt.insert("go")
            await pilot.press("enter")
            while screen.turn_worker is None or not screen.turn_worker.is_finished:
                await asyncio.sleep(0.005)
            await pilot.pause()
            return time.perf_counter() - first[0]
    finally:
        AssistantReply.apply = original


async def measure(sizes: list[int], *, skip_stock_above: int = 30) -> list[dict]:
    rows = []
    for size in sizes:
        text = markdown(size)
        deltas = -(-len(text) // DELTA)
        floor = await no_ui(text)
        ours = await xsus(text)
        theirs = await stock(text) if size <= skip_stock_above else None
        update = await update_per_delta(text)
        rows.append(
            {
                "size_kb": size,
                "deltas": deltas,
                "no_ui_s": round(floor, 3),
                "stock_markdownstream_s": None if theirs is None else round(theirs, 3),
                "markdown_update_ms_per_delta": round(update * 1000, 2),
                "xsus_s": round(ours, 3),
                "xsus_us_per_delta": round(ours / deltas * 1e6, 1),
                "xsus_vs_no_ui": round(ours / floor, 2) if floor else None,
                "stock_us_per_delta": None if theirs is None else round(theirs / deltas * 1e6, 1),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="render throughput of the real app against its baselines")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script runs")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/render.json"))
    args = parser.parse_args()
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
    os.environ.setdefault("XSUS_HOME", tempfile.mkdtemp(prefix="xsus-bench-"))
    sizes = [1, 2] if args.quick else args.sizes
    rows = asyncio.run(measure(sizes))
    header = (
        f"{'KB':>5}{'deltas':>8}{'no UI s':>10}{'stock s':>10}{'update ms/delta':>17}"
        f"{'xsus s':>9}{'us/delta':>10}{'x no-UI':>9}"
    )
    print(header)
    for row in rows:
        stock_s = "-" if row["stock_markdownstream_s"] is None else f"{row['stock_markdownstream_s']:.2f}"
        print(
            f"{row['size_kb']:>5}{row['deltas']:>8}{row['no_ui_s']:>10.2f}{stock_s:>10}"
            f"{row['markdown_update_ms_per_delta']:>17.2f}"
            f"{row['xsus_s']:>9.2f}{row['xsus_us_per_delta']:>10.1f}{row['xsus_vs_no_ui'] or 0:>9.2f}"
        )
    if len(rows) > 1:
        flat = rows[-1]["xsus_us_per_delta"] / rows[0]["xsus_us_per_delta"]
        print(
            f"targets: {rows[-1]['size_kb']} KB in <= 1.5x no UI: {rows[-1]['xsus_vs_no_ui']}x; "
            f"per-delta cost {rows[-1]['size_kb']} KB vs {rows[0]['size_kb']} KB <= 1.5x: {flat:.2f}x"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
