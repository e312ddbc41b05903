"""The assistant's reply: markdown that grows delta by delta, with panels in the order they happened.

A reply keeps the events it rendered (joined up when asked for, see `compact`), so that a finished turn
far from the view can give up its widgets and render again from them (ChatLog pages it out into a
HistoryPage, like a stored turn).
"""

from __future__ import annotations

import dataclasses

from rich.text import Text
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from xsus_tui.core import events as ev
from xsus_tui.core.sanitize import inert

from .. import compat
from .output_panel import OutputPanel
from .reply_text import ReplyText
from .thinking import ThinkingBlock
from .tool_panel import ToolPanel


class AssistantReply(compat.SizedInOnePass, Vertical):
    """Renders one turn's TurnEvents. Text between panels goes into its own ReplyText, which streams
    markdown at a cost that does not grow with the reply (see reply_text.py)."""

    def __init__(self) -> None:
        super().__init__(classes="reply")
        self.state = "streaming"
        self._segment: ReplyText | None = None
        self._thinking: ThinkingBlock | None = None
        self._tools: dict[str, ToolPanel] = {}
        self._outputs: dict[str, OutputPanel] = {}
        self._text: list[str] = []
        self._events: list[ev.TurnEvent] = []
        self._compacted = 0
        """How many of `_events`, from the start, are joined up already."""

    @property
    def foldable(self) -> bool:
        """A finished reply may fold while it is far from the viewport (see folding.py)."""
        return self.state != "streaming"

    @property
    def events(self) -> list[ev.TurnEvent]:
        """What this reply rendered, joined up: applied to a new reply, they render the same."""
        if self._compacted < len(self._events):  # joined here, not as the turn ends: Esc waits for that
            self._events = compact(self._events)
            self._compacted = len(self._events)
        return self._events

    @property
    def text(self) -> str:
        """All reply text shown so far."""
        return "".join(self._text)

    async def _place(self, widget: Widget) -> None:
        await self._end_segment()
        await self.mount(widget)

    async def _end_segment(self) -> None:
        """Close the markdown segment or thinking block being written, before something else starts."""
        if self._segment is not None:
            segment, self._segment = self._segment, None
            await segment.finish()
        if self._thinking is not None:
            thinking, self._thinking = self._thinking, None
            await thinking.finish()

    async def apply(self, event: ev.TurnEvent) -> None:
        """Render one event of the turn. Status events and notices are not part of the reply: they are ignored
        (the screen shows them on the status line and in the chat) and not kept."""
        if isinstance(event, ev.SIDE_EVENTS):
            return
        self._events.append(event)
        match event:
            case ev.TextDelta(text=text):
                text = inert(text)
                if self._thinking is not None:
                    await self._end_segment()
                if self._segment is None:
                    self._segment = ReplyText()
                    await self.mount(self._segment)
                self._text.append(text)
                await self._segment.write(text)
            case ev.ResponseStarted(rejected_text=rejected):
                # Another response of the turn: its text is a block of its own, never run on from the last.
                segment = self._segment
                await self._end_segment()
                if rejected and segment is not None:
                    segment.add_class("-rejected")
                    note = "↺ not taken as the answer: the model was asked again"
                    await self.mount(Static(Text(note), classes="reply-note -rejected"))
            case ev.ThinkingDelta(text=text):
                if self._thinking is None:
                    thinking = ThinkingBlock()
                    await self._place(thinking)
                    self._thinking = thinking
                await self._thinking.append(inert(text))
            case ev.ToolCallStarted():
                panel = ToolPanel(event.call_id, inert(event.tool_name), inert(event.args))
                self._tools[event.call_id] = panel
                await self._place(panel)
            case ev.ToolArgsDelta(call_id=call_id, delta=delta):
                if (panel := self._tools.get(call_id)) is not None:
                    panel.append_args(inert(delta))
            case ev.ToolCallRunning(call_id=call_id, args=args):
                if (panel := self._tools.get(call_id)) is not None:
                    panel.running(args if isinstance(args, dict) else inert(args))
            case ev.ToolCallFinished():
                if (panel := self._tools.get(event.call_id)) is not None:
                    result = None if event.result is None else inert(event.result)
                    error = None if event.error is None else inert(event.error)
                    await panel.finish(result=result, error=error, duration=event.duration, outcome=event.outcome)
            case ev.ApprovalRequested(call_id=call_id):
                if (panel := self._tools.get(call_id)) is not None:
                    await panel.ask_approval()
            case ev.OutputStarted():
                output = OutputPanel(event.call_id, inert(event.tool_name), event.schema)
                self._outputs[event.call_id] = output
                await self._place(output)
            case ev.OutputPartial(call_id=call_id):
                if (output := self._outputs.get(call_id)) is not None:
                    output.show_partial(event)
            case ev.OutputValidated(call_id=call_id, value=value):
                output = self._outputs.get(call_id) if call_id else None
                if output is None:
                    output = OutputPanel(call_id or "text", "output", None)
                    await self._place(output)
                output.validated(value)
            case ev.OutputRejected(call_id=call_id, error=error):
                if (output := self._outputs.pop(call_id, None)) is not None:
                    await output.rejected(inert(error))
            case ev.TurnFinished():
                await self._finish("done")
            case ev.TurnCancelled():
                await self._finish("interrupted")
            case ev.TurnFailed(error=error):
                await self._finish("failed", inert(error))

    async def hand_over(self) -> None:
        """A message queued while this reply ran was delivered: the turn goes on in a new reply, under that message
        (the model's next response answers it). This one is complete as it is: it ends as a finished reply does, so
        it renders the same when it is paged out and back."""
        await self.apply(ev.TurnFinished(stats=ev.TurnStats()))

    async def _finish(self, state: str, error: str | None = None) -> None:
        await self._end_segment()
        for panel in self._tools.values():
            await panel.abandon()
        for output in self._outputs.values():
            output.abandon()
        self.state = state
        self.add_class(f"-{state}")
        if state == "interrupted":
            note = "■ interrupted" + ("" if self._text else " before any reply")
            await self.mount(Static(Text(note), classes="reply-note -interrupted"))
        elif state == "failed":
            await self.mount(Static(Text(f"✗ {error}"), classes="reply-error"))


def _run_key(event: ev.TurnEvent) -> tuple[str, str] | None:
    """Events with the same key in a row are joined into one (None: kept as it is)."""
    match event:
        case ev.TextDelta():
            return ("text", "")
        case ev.ThinkingDelta():
            return ("thinking", "")
        case ev.ToolArgsDelta(call_id=call_id):
            return ("args", call_id)
        case ev.OutputPartial(call_id=call_id):
            return ("output", call_id)
    return None


def _joined(run: list[ev.TurnEvent]) -> ev.TurnEvent:
    first, last = run[0], run[-1]
    match first:
        case ev.TextDelta():
            return ev.TextDelta("".join(event.text for event in run))  # type: ignore[union-attr]
        case ev.ThinkingDelta():
            return ev.ThinkingDelta("".join(event.text for event in run))  # type: ignore[union-attr]
        case ev.ToolArgsDelta(call_id=call_id):
            return ev.ToolArgsDelta(call_id=call_id, delta="".join(event.delta for event in run))  # type: ignore[union-attr]
    assert isinstance(last, ev.OutputPartial)
    return ev.OutputPartial.whole(last.call_id, last.raw, last.schema)  # the partial shown last


def compact(events: list[ev.TurnEvent]) -> list[ev.TurnEvent]:
    """The events of a finished reply, joined up: rendering them again shows the same reply.

    Runs of text, thinking and tool-argument deltas become one event each, a run of partial outputs its
    last one; approval requests are dropped (the call's end, or the turn's, closes the panel anyway). An
    interrupted or failed ending drops its `partial_text`: rendering never reads it, and it was a second
    copy of the reply's text kept for every paged-out turn (3 KB a turn in the interrupt benchmark).
    """
    out: list[ev.TurnEvent] = []
    run: list[ev.TurnEvent] = []
    key: tuple[str, str] | None = None
    for event in events:
        if isinstance(event, ev.ApprovalRequested):
            continue
        if isinstance(event, ev.TurnCancelled | ev.TurnFailed) and event.partial_text:
            event = dataclasses.replace(event, partial_text="")
        this = _run_key(event)
        if run and this != key:
            out.append(_joined(run))
            run = []
        if this is None:
            out.append(event)
        else:
            run.append(event)
        key = this
    if run:
        out.append(_joined(run))
    return out
