"""A tool call as a live panel: name, arguments as they stream, state, result or error, duration."""

from __future__ import annotations

from typing import Any

from rich.json import JSON
from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Collapsible, Static

from xsus_tui.core.partial import parse_partial

RESULT_INLINE_LINES = 8
RESULT_INLINE_CHARS = 600
RESULT_PREVIEW_CHARS = 20_000
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


class ApprovalBar(Vertical):
    """Approve / Deny for a tool call that requires approval: a click, or y / n once it has the focus (Tab from
    the prompt). It never takes the focus itself, so a word being typed into the prompt can't decide anything."""

    BINDINGS = [Binding("y", "decide(True)", "Approve"), Binding("n", "decide(False)", "Deny")]

    class Decided(Message):
        """The user approved or denied the call."""

        def __init__(self, call_id: str, approved: bool) -> None:
            super().__init__()
            self.call_id = call_id
            self.approved = approved

    def __init__(self, call_id: str) -> None:
        super().__init__(classes="approval")
        self.call_id = call_id

    def compose(self):
        # The question above the buttons, each as wide as its words: in one row the buttons were cut off (or the
        # question squeezed out) in a narrow window.
        yield Static(Text("Run this tool?  Tab here, then y or n · or click"), classes="approval-label")
        with Horizontal(classes="approval-buttons"):
            yield Button("Approve (y)", id="approve", variant="success", compact=True)
            yield Button("Deny (n)", id="deny", variant="error", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_decide(event.button.id == "approve")

    def action_decide(self, approved: bool) -> None:
        self.post_message(self.Decided(self.call_id, approved))
        for button in self.query(Button):
            button.disabled = True


class ToolPanel(Vertical):
    """One function tool call."""

    def __init__(self, call_id: str, tool_name: str, args: str = "") -> None:
        super().__init__(classes="tool-panel -running")
        self.call_id = call_id
        self.tool_name = tool_name
        self.state = "calling"
        self._raw_args: list[str] = [args] if args else []
        self._args = Static("", classes="tool-args")
        self._frame = 0
        self._render_pending = False
        self._timer = None
        self.border_title = f"⚙ {tool_name}"

    def compose(self):
        yield self._args

    def on_mount(self) -> None:
        self._render_args()
        self._set_state("calling")
        self._timer = self.set_interval(0.1, self._spin)

    def _spin(self) -> None:
        self._frame += 1
        if self.state in ("calling", "running"):
            self.border_subtitle = f"{SPINNER[self._frame % len(SPINNER)]} {self.state}"

    def _set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        self.border_subtitle = f"{state}{' · ' + detail if detail else ''}"
        for name in ("-running", "-done", "-failed"):
            self.remove_class(name)
        classes = {"done": "-done", "failed": "-failed", "interrupted": "-failed", "denied": "-failed"}
        self.add_class(classes.get(state, "-running"))

    def _render_args(self, value: Any = None) -> None:
        raw = "".join(self._raw_args)
        if value is None:
            value = parse_partial(raw) if raw else {}
        if value is None or isinstance(value, str):
            self._args.update(Text(raw if value is None else value))
        else:
            rendered = JSON.from_data(value, indent=2, ensure_ascii=False)
            # Rich's JSON doesn't wrap: a long argument was cut at the panel's edge, so a call waiting for approval
            # could be approved with part of what it would do out of sight.
            rendered.text.no_wrap, rendered.text.overflow = False, "fold"
            self._args.update(rendered)

    def append_args(self, delta: str) -> None:
        """Add streamed argument text; many deltas within one frame cost one parse."""
        self._raw_args.append(delta)
        if not self._render_pending:
            self._render_pending = True
            self.call_after_refresh(self._render_streamed_args)

    def _render_streamed_args(self) -> None:
        self._render_pending = False
        if self.state == "calling":
            self._render_args()

    def running(self, args: dict[str, Any] | str) -> None:
        self._render_args(args)
        self._set_state("running")

    async def ask_approval(self) -> None:
        """The tool needs the user's go-ahead: show Approve / Deny (the focus stays where it is)."""
        self._set_state("needs approval")
        await self.mount(ApprovalBar(self.call_id))

    async def finish(
        self, *, result: str | None, error: str | None, duration: float | None, outcome: str = "success"
    ) -> None:
        if self._timer is not None:
            self._timer.stop()
        for bar in self.query(ApprovalBar):
            await bar.remove()
        took = format_duration(duration)
        if error is not None:
            state = "interrupted" if error == "interrupted" or outcome == "interrupted" else "failed"
            state = "denied" if outcome == "denied" else state
            self._set_state(state, took)
            if state != "interrupted":
                await self.mount(Static(Text(("⊘ " if state == "denied" else "✗ ") + error), classes="tool-error"))
            return
        self._set_state("done", took)
        await self.mount(result_widget(result or ""))

    async def abandon(self) -> None:
        """The turn ended before this call finished."""
        if self.state in ("calling", "running", "needs approval"):
            await self.finish(result=None, error="interrupted", duration=None)


def result_widget(result: str) -> Static | Collapsible:
    """Short results inline; long ones in a collapsed section showing their size."""
    lines = result.count("\n") + 1
    if lines <= RESULT_INLINE_LINES and len(result) <= RESULT_INLINE_CHARS:
        return Static(Text("→ " + result), classes="tool-result")
    shown = result if len(result) <= RESULT_PREVIEW_CHARS else result[:RESULT_PREVIEW_CHARS] + "\n…"
    title = f"result · {lines:,} lines · {len(result):,} chars"
    return Collapsible(Static(Text(shown), classes="tool-result"), title=title, collapsed=True)
