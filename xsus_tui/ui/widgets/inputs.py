"""Textual's one-line Input, with its own keys acted on in order with the characters typed around them."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from .. import compat


class OrderedInput(Input):
    """An Input whose own bindings (Backspace, the arrows, Ctrl+W...) run in its `_on_key`, before the characters
    typed after them: Textual runs them from the app once the key has bubbled up, so in a burst of keys `hex`,
    Backspace, `y` gave `hex` (see `compat.run_own_binding`)."""

    async def _on_key(self, event: events.Key) -> None:
        if await compat.run_own_binding(self, event):
            return
        await super()._on_key(event)
