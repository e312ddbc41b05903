"""The prompt input: Enter sends, Shift+Enter or Ctrl+J inserts a newline."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import ClassVar

from textual import events
from textual.message import Message
from textual.widgets import TextArea


class PromptInput(TextArea):
    """A multi-line prompt. Sending does not clear it: the screen clears it once the turn starts."""

    BLINK: ClassVar[bool] = True
    """Whether the cursor blinks (tests turn it off, so a screenshot never depends on the blink's phase)."""

    @dataclass
    class Submitted(Message):
        """The user pressed Enter with this text."""

        prompt: PromptInput
        text: str

    def __init__(self, **kwargs) -> None:
        super().__init__(
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            compact=True,
            highlight_cursor_line=False,
            placeholder="Type a message · Enter sends · Shift+Enter or Ctrl+J for a new line",
            **kwargs,
        )
        self.cursor_blink = self.BLINK

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))
            return
        if event.key in ("shift+enter", "ctrl+j"):
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        character = event.character or _FORMAT_KEYS().get(event.key)
        if character and len(character) == 1 and unicodedata.category(character) == "Cf":
            # A format character (a zero-width joiner in an emoji or a Persian word, a bidi mark) is not
            # "printable" to Textual, which would drop it: keep what the user typed.
            event.stop()
            event.prevent_default()
            self.insert(character)
            return
        await super()._on_key(event)


@cache
def _FORMAT_KEYS() -> dict[str, str]:  # noqa: N802 - a constant, built on first use
    """Textual's key names of the format characters (`zero_width_non_joiner`), for keys that come without
    their character."""
    keys = {}
    for code in range(0x80, 0x10000):
        character = chr(code)
        if unicodedata.category(character) == "Cf" and (name := unicodedata.name(character, "")):
            keys[name.lower().replace("-", "_").replace(" ", "_")] = character
    return keys
