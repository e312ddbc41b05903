"""The model's thinking: dimmed markdown, collapsible, folded away once the answer starts."""

from __future__ import annotations

from textual.widgets import Collapsible

from .reply_text import ReplyText


class ThinkingBlock(Collapsible):
    """Thinking text that grows with each delta (streamed like the reply, so long thinking stays cheap)."""

    def __init__(self) -> None:
        self._body = ReplyText(classes="thinking-text")
        self._parts: list[str] = []
        self._folding = False
        super().__init__(self._body, title="thinking…", collapsed=False, classes="thinking")

    @property
    def text(self) -> str:
        return "".join(self._parts)

    async def append(self, text: str) -> None:
        self._parts.append(text)
        await self._body.write(text)

    async def finish(self) -> None:
        await self._body.finish()
        self.title = f"thinking · {len(self.text.split())} words"
        self._folding = True
        self.collapsed = True

    def scroll_visible(self, *args, **kwargs) -> None:
        # Collapsible scrolls itself into view when toggled; folding it away on our own must not move
        # the chat (that would also stop it following the stream). A user's toggle still scrolls.
        if self._folding:
            self._folding = False
            return
        super().scroll_visible(*args, **kwargs)
