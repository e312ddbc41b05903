"""The turn inspector: F2 to its first frame, for a large turn.

    .venv/bin/python -m benchmarks.inspector [--events 17000] [--runs 5] [--quick]

The turn is built synthetically (fixed times, no model): a 20-message history, a failed attempt and its retry,
thinking, a tool call, a stall, a long markdown reply, and a structured output rejected once and then accepted,
about 17,000 events and 100 KB of streamed text in all. It is kept as the session's latest recording, as after a
real turn, with its widgets in the chat. The figures:

  - analysis: `core.inspect.inspect_turn` alone (the one pass over the events);
  - open: F2 pressed on the chat -> the inspector's first frame painted (the app headless, 110x36);
  - search: four keys typed into the Events tab's filter (the first one makes every event's line) -> the
    filtered list painted.

Target (issue 13): open < 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from textual import events

from xsus_tui.core import events as ev
from xsus_tui.core.demo_text import long_reply
from xsus_tui.core.recording import Recording, Timed

DELTA = 6
"""Characters per chunk."""


def synthetic(total: int = 17_000) -> Recording:
    """A turn of about `total` events (100 KB of streamed text at the default), at fixed times."""
    from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart

    history = []
    for turn in range(10):
        history += [
            ModelRequest(parts=[UserPromptPart(f"question {turn}")]),
            ModelResponse(parts=[TextPart(long_reply(1)[:400])]),
        ]
    history.append(ModelRequest(parts=[UserPromptPart("plan me a long trip")]))
    tools = (
        {"name": "lookup", "kind": "function", "description": "Facts about a city.", "parameters": {"type": "object"}},
        {"name": "final_result", "kind": "output", "description": "The plan.", "parameters": {"type": "object"}},
    )
    schema = {
        "type": "object",
        "properties": {"destination": {"type": "string"}, "days": {"type": "integer"}, "notes": {"type": "string"}},
        "required": ["destination", "days", "notes"],
    }
    out: list[Timed] = []
    t = 0.0

    def add(event, step: float = 0.002) -> None:
        nonlocal t
        t += step
        out.append(Timed(round(t, 6), event))

    add(ev.RequestSent(number=1, messages=tuple(history), tools=tools, model="bench", instructions="Plan trips."))
    add(ev.Retrying(attempt=1, retries=3, delay=0.5, reason="HTTP 503", detail="bench answered HTTP 503"))
    add(ev.RequestSent(number=1, attempt=2, messages=tuple(history), tools=tools, model="bench"), 0.5)
    thinking = total // 20
    output_chunks = total // 6
    text_chunks = total - thinking - output_chunks - 40
    for index in range(thinking):
        add(ev.ThinkingDelta(f"think{index % 10} "), 0.001)
    add(ev.ToolCallStarted(call_id="t1", tool_name="lookup", args='{"city": "Lisbon"}'))
    add(ev.ResponseUsage(number=1, input_tokens=2000, output_tokens=thinking * 2, model_name="bench"))
    add(ev.ToolCallRunning(call_id="t1", args={"city": "Lisbon"}))
    add(ev.ToolCallFinished(call_id="t1", tool_name="lookup", result="capital of Portugal"), 0.05)
    add(ev.RequestSent(number=2, messages=tuple(history), tools=tools, model="bench"))
    add(ev.ResponseStarted())
    text = long_reply(8)
    while len(text) < text_chunks * DELTA:
        text += long_reply(8)
    for index in range(text_chunks):
        add(ev.TextDelta(text[index * DELTA : (index + 1) * DELTA]), 0.001)
        if index == text_chunks // 2:
            add(ev.Stalled(seconds=5.2, limit=60.0), 5.2)
    add(ev.ResponseUsage(number=2, input_tokens=2100, output_tokens=text_chunks * 2, model_name="bench"))
    for attempt, number in ((1, 3), (2, 4)):
        add(ev.RequestSent(number=number, messages=tuple(history), tools=tools, model="bench"))
        add(ev.OutputStarted(call_id=f"o{attempt}", tool_name="final_result", schema=schema))
        chunks: list[str] = []
        days = '"four"' if attempt == 1 else "4"
        raw = f'{{"destination": "Lisbon", "days": {days}, "notes": "' + "x" * (output_chunks // 2 * DELTA) + '"}'
        for start in range(0, len(raw), DELTA):
            chunks.append(raw[start : start + DELTA])
            add(
                ev.OutputPartial(
                    call_id=f"o{attempt}", delta=chunks[-1], chunks=chunks, length=len(chunks), schema=schema
                ),
                0.001,
            )
        add(ev.ResponseUsage(number=number, input_tokens=2200, output_tokens=len(chunks) * 3, model_name="bench"))
        if attempt == 1:
            add(ev.OutputRejected(call_id="o1", error="days: Input should be a valid integer"))
        else:
            add(ev.OutputValidated(call_id="o2", value={"destination": "Lisbon", "days": 4}))
    stats = ev.TurnStats(input_tokens=8500, output_tokens=total * 2, requests=4, ttft=0.5, duration=t)
    add(ev.TurnFinished(stats=stats, output={"destination": "Lisbon", "days": 4}))
    return Recording(prompt="plan me a long trip", events=tuple(out), history=tuple(history), turn=11, model="bench")


def text_size(recording: Recording) -> int:
    size = 0
    for timed in recording.events:
        event = timed.event
        size += len(getattr(event, "text", "") or getattr(event, "delta", "") or "")
    return size


async def measure(total: int, runs: int) -> dict:
    from xsus_tui.core.inspect import inspect_turn
    from xsus_tui.core.recording import Recorder
    from xsus_tui.core.session import ChatSession
    from xsus_tui.core.store import SQLiteConversationStore
    from xsus_tui.ui.app import XsusApp
    from xsus_tui.ui.screens.inspector import EventList, InspectorScreen

    recording = synthetic(total)
    analysis = []
    for _ in range(runs):
        started = time.perf_counter()
        inspect_turn(recording)
        analysis.append(time.perf_counter() - started)

    from xsus_tui.core.agents import build_chat_agent

    home = Path(os.environ["XSUS_HOME"])
    store = SQLiteConversationStore.open(home / "bench-inspector.db")
    session = ChatSession(build_chat_agent("demo"), store)
    app = XsusApp(session)
    opens, searches = [], []
    async with app.run_test(size=(110, 36)) as pilot:
        screen = app.chat_screen
        while screen.turn_running or not screen.prompt.is_attached:
            await pilot.pause(0.02)
        await pilot.press(*"hello", "enter")
        await pilot.pause(0.05)
        while screen.turn_running:
            await pilot.pause(0.02)
        recorder = Recorder()
        recorder.events = list(recording.events)
        user = screen.recorded[0]
        screen.recorded = (user, recorder)  # as if the last turn had been this big one
        for _ in range(runs):
            started = time.perf_counter()
            app.post_message(
                events.Key("f2", None)
            )  # the key as the terminal sends it (Pilot.press also waits for idle)
            while not isinstance(app.screen, InspectorScreen) or not app.screen.first_frame.is_set():
                await asyncio.sleep(0.001)
            opens.append(time.perf_counter() - started)
            inspector = app.screen
            await pilot.press("slash")  # the Events tab, typing in its search box
            events_view = inspector.query_one(EventList)
            painted = asyncio.Event()
            started = time.perf_counter()
            for key in "stal":
                app.post_message(events.Key(key, key))
            while events_view.query != "stal":
                await asyncio.sleep(0.001)
            inspector.call_after_refresh(painted.set)
            await painted.wait()
            searches.append(time.perf_counter() - started)
            await pilot.press("escape")
            while isinstance(app.screen, InspectorScreen):
                await pilot.pause(0.01)
    store.close()
    return {
        "events": len(recording.events),
        "text_kb": round(text_size(recording) / 1024, 1),
        "analysis_ms": round(statistics.median(analysis) * 1000, 1),
        "open_ms": round(statistics.median(opens) * 1000, 1),
        "open_max_ms": round(max(opens) * 1000, 1),
        "search_ms": round(statistics.median(searches) * 1000, 1),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="F2 to the inspector's first frame for a large turn")
    parser.add_argument("--events", type=int, default=17_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a small turn, to check the script runs")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/inspector.json"))
    args = parser.parse_args()
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
    os.environ.setdefault("XSUS_HOME", tempfile.mkdtemp(prefix="xsus-bench-"))
    os.environ.setdefault("XSUS_DEMO_DELAY", "0")
    total, runs = (2000, 1) if args.quick else (args.events, args.runs)
    row = asyncio.run(measure(total, runs))
    print(f"{'events':>8}{'text KB':>9}{'analysis ms':>13}{'open ms':>9}{'max ms':>8}{'search ms':>11}")
    print(
        f"{row['events']:>8}{row['text_kb']:>9}{row['analysis_ms']:>13}{row['open_ms']:>9}"
        f"{row['open_max_ms']:>8}{row['search_ms']:>11}"
    )
    print(f"target: open < 300 ms: {'met' if row['open_ms'] < 300 else 'NOT met'} ({row['open_ms']} ms, median)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
