"""The assistant's reply: markdown that grows delta by delta, with panels in the order they happened."""

from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from xsus_tui.core import events as ev
from xsus_tui.core.sanitize import inert

from .output_panel import OutputPanel
from .reply_text import ReplyText
from .thinking import ThinkingBlock
from .tool_panel import ToolPanel


class AssistantReply(Vertical):
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

    @property
    def foldable(self) -> bool:
        """A finished reply may fold while it is far from the viewport (see folding.py)."""
        return self.state != "streaming"

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
