"""The messages queued while a reply runs, shown under it (above the prompt) until they are delivered."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

from xsus_tui.core.sanitize import inert

SHOWN_CHARS = 200
"""A queued message longer than this shows its start (the whole of it is kept and sent)."""


class QueuedMessages(Static):
    """One line per queued message, oldest first: `⧗ queued` goes into the running reply at its next model
    request, `↪ next` runs as a turn of its own after it. Hidden while nothing waits. A click on a line takes
    that message back into the prompt (as Up in an empty prompt does for the last one)."""

    @dataclass
    class TakeBack(Message):
        """The user clicked a queued message: take it back into the prompt."""

        queue: QueuedMessages
        queued_id: int

        @property
        def control(self) -> QueuedMessages:
            return self.queue

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.ids: list[int] = []
        """The queued messages shown, by line."""
        self.display = False

    def show(self, items: list) -> None:
        """Show `items` (the session's `Queued` messages), or hide when there are none."""
        self.ids = [item.id for item in items]
        self.display = bool(items)
        if not items:
            self.update("")
            return
        text = Text(no_wrap=True, overflow="ellipsis")  # a line per message, so a click finds its message
        for index, item in enumerate(items):
            if index:
                text.append("\n")
            label = "↪ next  " if item.follow_up else "⧗ queued "
            text.append(label, style="bold")
            shown = " ".join(inert(item.text).split())
            text.append(shown if len(shown) <= SHOWN_CHARS else shown[:SHOWN_CHARS] + "…")
        text.append("\n")
        text.append("↑ in an empty prompt takes the last one back to edit · clear it to drop it", style="dim")
        self.update(text)

    def on_click(self, event: events.Click) -> None:
        line = event.y
        if 0 <= line < len(self.ids):
            self.post_message(self.TakeBack(self, self.ids[line]))
