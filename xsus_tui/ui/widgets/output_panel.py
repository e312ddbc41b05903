"""Structured output as a live panel: fields appear as they stream, then the validated value."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static

from xsus_tui.core.events import OutputPartial
from xsus_tui.core.sanitize import inert

from .value_tree import value_tree


class OutputPanel(Vertical):
    """The agent's `output_type` value, filling in."""

    def __init__(self, call_id: str, tool_name: str, schema: dict[str, Any] | None) -> None:
        super().__init__(classes="output-panel -running")
        self.call_id = call_id
        self.schema = schema
        self.type_name = (schema or {}).get("title") or tool_name
        self.state = "streaming"
        self.value: Any = None
        self._latest: OutputPartial | None = None
        self._body = Static("", classes="output-value")
        self.border_title = f"◆ structured output · {self.type_name}"
        self.border_subtitle = "streaming"

    def compose(self):
        yield self._body

    def show_partial(self, partial: OutputPartial) -> None:
        """Show the output as streamed so far; many deltas within one frame cost one parse."""
        pending, self._latest = self._latest, partial
        if pending is None:
            self.call_after_refresh(self._render_partial)

    def _render_partial(self) -> None:
        partial, self._latest = self._latest, None
        if partial is None or self.state != "streaming":
            return
        value, missing = partial.value, partial.missing
        self.value = value
        if value is not None or self.schema:
            self._body.update(value_tree(value, self.schema, self.type_name))
        elif partial.raw.strip():
            self._body.update(Text(inert(partial.raw[-2000:])))  # not JSON (yet): show what came
        self.border_subtitle = "streaming" + (
            f" · missing: {', '.join(missing)}" if missing else " · all fields present"
        )

    def validated(self, value: Any) -> None:
        self.value = value
        self.state = "valid"
        self._body.update(value_tree(value, self.schema, self.type_name))
        self.border_subtitle = "✓ valid"
        self.remove_class("-running")
        self.add_class("-done")

    async def rejected(self, error: str) -> None:
        self.state = "rejected"
        self.border_subtitle = "✗ rejected · the model is asked to retry"
        self.remove_class("-running")
        self.add_class("-failed")
        await self.mount(Static(Text(error), classes="tool-error"))

    def abandon(self) -> None:
        if self.state == "streaming":
            self.state = "interrupted"
            self.border_subtitle = "interrupted"
            self.remove_class("-running")
            self.add_class("-failed")
