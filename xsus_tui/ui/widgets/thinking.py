"""The model's thinking: dimmed, collapsible, folded away once the answer starts."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Collapsible, Static


class ThinkingBlock(Collapsible):
    """Thinking text that grows with each delta."""

    def __init__(self) -> None:
        self._body = Static("", classes="thinking-text")
        self._parts: list[str] = []
        super().__init__(self._body, title="thinking…", collapsed=False, classes="thinking")

    def append(self, text: str) -> None:
        self._parts.append(text)
        self._body.update(Text("".join(self._parts)))

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def finish(self) -> None:
        words = len(self.text.split())
        self.title = f"thinking · {words} words"
        self.collapsed = True
