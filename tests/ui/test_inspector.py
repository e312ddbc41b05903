"""The turn inspector (F2): a recorded turn with a retry, a stall and a rejected output, tab by tab."""

from __future__ import annotations

from xsus_tui.core import events as ev
from xsus_tui.core.recording import Recording, Timed
from xsus_tui.ui.screens.chat import ChatScreen
from xsus_tui.ui.screens.inspector import InspectorScreen
from xsus_tui.ui.widgets.text_lines import EventList, TextLines

from ..core.helpers import chat_agent, text_stream
from ..core.test_inspect import troubled_turn
from .helpers import SIZE, make_app, screen_text, send, wait_for, wait_idle

FAULTS = {"backoff": 0.05, "stall_notice": 0.2, "idle_timeout": 5}


def lines_of(screen: InspectorScreen, selector: str) -> list[str]:
    view = screen.query_one(selector, TextLines)
    return [view.line_text(index).plain for index in range(view.line_count)]


async def open_inspector(pilot, key: str = "f2") -> InspectorScreen:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, InspectorScreen))
    screen = pilot.app.screen
    await wait_for(pilot, screen.first_frame.is_set)
    return screen


async def test_f2_shows_the_last_turn_tab_by_tab(xsus_home):
    app = make_app(xsus_home, troubled_turn(), **FAULTS)
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat_screen
        await send(pilot, "tell me about Oslo")
        await wait_idle(pilot)
        await pilot.press(*"a draft")
        inspector = await open_inspector(pilot)
        assert inspector.recording.turn == 1 and inspector.recording.prompt == "tell me about Oslo"

        # Timeline: the retry with its reason and wait, the stall, the rejected output, the end, in that order.
        timeline = lines_of(inspector, "#timeline-lines")
        retry = next(i for i, line in enumerate(timeline) if "retry 1/3 after" in line and "HTTP 503" in line)
        stall = next(i for i, line in enumerate(timeline) if "silent for" in line)
        rejected = next(i for i, line in enumerate(timeline) if "output rejected: population" in line)
        assert retry < stall < rejected and "finished" in timeline[-1]
        shown = screen_text(app)
        assert "retry 1/3 after" in shown and "Gaps between chunks" in shown and "1 rejected output" in shown
        assert "cost unknown" in shown

        # Output: every field's states, the errors, and the diff between the rejected and the accepted attempt.
        await pilot.press("2")
        await wait_for(pilot, lambda: lines_of(inspector, "#output-lines")[2].startswith("Attempt 1"))
        output = "\n".join(lines_of(inspector, "#output-lines"))
        assert "Attempt 1 · final_result · request 1 · rejected" in output
        assert "Attempt 2 · final_result · request 2 · validated" in output
        population = next(line for line in output.splitlines() if line.strip().startswith("population*"))
        assert "✗" in population and "invalid" in population and "partial" in population
        assert "Validation errors:" in output and "population: Input should be a valid integer" in output
        assert "Each field's state as the JSON streamed" in output
        assert '-  "population": "many",' in output and '+  "population": 709000,' in output
        assert "Diff: attempt 1 (rejected) → attempt 2 (accepted)" in output
        assert "population*" in screen_text(app)  # on screen, not only in the list

        # Usage: a row per request, the first sent twice.
        await pilot.press("3")
        usage = lines_of(inspector, "#usage-lines")
        assert usage[1].split()[:2] == ["1", "2"] and usage[2].split()[:2] == ["2", "1"]
        assert "cost unknown" in usage[1] and usage[3].split()[0] == "total"

        # Request: what was sent, readable.
        await pilot.press("4")
        request = "\n".join(lines_of(inspector, "#request-lines"))
        assert "Instructions:" in request and "Answer about cities." in request
        assert "final_result (output)" in request and "user: tell me about Oslo" in request
        assert "tool result: final_result (retried)" in request

        # Events: every event, and the search filters them as you type.
        await pilot.press("5")
        events = inspector.query_one(EventList)
        total = len(events.rows)
        assert total == len(inspector.recording.events)
        await pilot.press("slash", *"retrying")
        await wait_for(pilot, lambda: events.query == "retrying")
        assert len(events.rows) == 1 and "retrying" in events.line_text(0).plain
        await pilot.pause()
        assert f"1 of {total} events match" in screen_text(app)

        # Esc: back to the chat, the draft as it was.
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert chat.prompt.text == "a draft" and app.focused is chat.prompt


async def test_f2_on_a_selected_turn_inspects_that_turn_from_the_store(xsus_home):
    replies = iter(["The first answer.", "The second answer."])

    async def stream(messages, info):
        yield next(replies)

    app = make_app(xsus_home, chat_agent(stream))
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat_screen
        for prompt in ("first question", "second question"):
            await send(pilot, prompt)
            await wait_idle(pilot)
        await pilot.press("ctrl+up", "up")
        assert chat.selected_turn().user.prompt == "first question"
        inspector = await open_inspector(pilot)
        recording = inspector.recording
        assert (recording.turn, recording.prompt, recording.entry_id is not None) == (1, "first question", True)
        assert any("text ends · 1 chunk, 17 chars" in line for line in lines_of(inspector, "#timeline-lines"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert chat.selected_turn().user.prompt == "first question"  # still selected

        await pilot.press("escape")
        await send(pilot, "/inspect")  # the last turn, from memory
        await wait_for(pilot, lambda: isinstance(app.screen, InspectorScreen))
        inspector = app.screen
        assert inspector.recording.prompt == "second question" and inspector.recording.entry_id is None


async def test_a_turn_without_a_recording_says_so(xsus_home):
    app = make_app(xsus_home, chat_agent(text_stream(["An answer."])))
    app.session.record = False
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        chat = app.chat_screen
        await pilot.press("f2")
        await wait_for(pilot, lambda: "There is no turn to inspect yet." in screen_text(app))
        await send(pilot, "hello")
        await wait_idle(pilot)
        await pilot.press("f2")
        await wait_for(pilot, lambda: "Turn 1 has no recording" in screen_text(app))
        assert isinstance(app.screen, ChatScreen) and chat.prompt.text == ""


async def test_the_palette_lists_inspect(xsus_home):
    app = make_app(xsus_home, chat_agent(text_stream(["An answer."])))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hello")
        await wait_idle(pilot)
        await pilot.press("ctrl+p", *"inspect")
        await wait_for(pilot, lambda: "/inspect" in screen_text(app))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectorScreen))
        assert app.screen.recording.prompt == "hello"


def fixed_recording() -> Recording:
    """A turn like `troubled_turn`'s at fixed times (for the snapshots): a retry, a stall, a rejected output."""
    from pydantic_ai.messages import ModelRequest, UserPromptPart

    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "population": {"type": "integer"}, "note": {"type": "string"}},
        "required": ["name", "population", "note"],
    }
    tools = ({"name": "final_result", "kind": "output", "description": "The answer.", "parameters": schema},)
    messages = (ModelRequest(parts=[UserPromptPart("tell me about Oslo")]),)
    timed: list[Timed] = []

    def at(t: float, event) -> None:
        timed.append(Timed(t, event))

    def output(call_id: str, start: float, chunks: list[str]) -> None:
        at(start, ev.OutputStarted(call_id=call_id, tool_name="final_result", schema=schema))
        streamed: list[str] = []
        for index, chunk in enumerate(chunks):
            streamed.append(chunk)
            event = ev.OutputPartial(call_id=call_id, delta=chunk, chunks=streamed, length=len(streamed), schema=schema)
            at(start + 0.02 * (index + 1), event)

    at(0.010, ev.RequestSent(number=1, messages=messages, tools=tools, model="function:oslo"))
    at(0.012, ev.Retrying(attempt=1, retries=3, delay=0.5, reason="HTTP 503", detail="answered HTTP 503: overloaded"))
    at(0.515, ev.RequestSent(number=1, attempt=2, messages=messages, tools=tools, model="function:oslo"))
    for index, word in enumerate(["Let ", "me ", "see."]):
        at(0.600 + 0.03 * index, ev.TextDelta(word))
    at(1.900, ev.Stalled(seconds=1.24, limit=60.0))
    output("o1", 2.100, ['{"name": "Os', 'lo", "popu', 'lation": "ma', 'ny", "note": ', '"x"}'])
    at(2.250, ev.ResponseUsage(number=1, input_tokens=52, output_tokens=17, model_name="oslo"))
    at(2.260, ev.OutputRejected(call_id="o1", error="population: Input should be a valid integer"))
    at(2.300, ev.RequestSent(number=2, messages=messages, tools=tools, model="function:oslo"))
    at(2.310, ev.ResponseStarted())
    output("o2", 2.400, ['{"name": "Oslo", ', '"population": 709', '000, "note": "capital"}'])
    at(2.500, ev.ResponseUsage(number=2, input_tokens=95, output_tokens=12, model_name="oslo"))
    value = {"name": "Oslo", "population": 709000, "note": "capital"}
    at(2.510, ev.OutputValidated(call_id="o2", value=value))
    stats = ev.TurnStats(input_tokens=147, output_tokens=29, requests=2, ttft=0.6, duration=2.52)
    at(2.520, ev.TurnFinished(stats=stats, output=value))
    return Recording(prompt="tell me about Oslo", events=tuple(timed), turn=1, model="function")


def inspector_snapshot(snap_compare, xsus_home, keys: tuple[str, ...]) -> bool:
    async def run_before(pilot):
        await wait_idle(pilot)
        pilot.app.push_screen(InspectorScreen(fixed_recording()))
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, InspectorScreen))
        await wait_for(pilot, pilot.app.screen.first_frame.is_set)
        await pilot.press(*keys)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return snap_compare(make_app(xsus_home), terminal_size=SIZE, run_before=run_before)


def test_snapshot_timeline(snap_compare, xsus_home):
    assert inspector_snapshot(snap_compare, xsus_home, ())


def test_snapshot_output(snap_compare, xsus_home):
    assert inspector_snapshot(snap_compare, xsus_home, ("2",))
