"""The prompt input: Enter sends, Shift+Enter or Ctrl+J inserts a newline, Up and Down in an empty prompt
recall the prompts sent before. While a reply runs, Enter queues the message into it and Alt+Enter as a follow-up
(the screen decides); Up in an empty prompt then takes the last queued message back first, to edit. While a
command's name is typed (`/in`), the matching commands are listed above it (CommandCompletions): Up/Down move in
the list, Tab or Enter on a highlighted entry completes, Esc closes it."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.message import Message
from textual.widgets import TextArea

from .. import commands

if TYPE_CHECKING:
    from .completions import CommandCompletions


class PromptInput(TextArea):
    """A multi-line prompt. Sending does not clear it: the screen clears it once the turn starts."""

    BLINK: ClassVar[bool] = True
    """Whether the cursor blinks (tests turn it off, so a screenshot never depends on the blink's phase)."""

    @dataclass
    class Submitted(Message):
        """The user pressed Enter with this text."""

        prompt: PromptInput
        text: str
        follow_up: bool = False
        """Alt+Enter: while a reply runs, queue it to run as the next turn rather than into the running one."""

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
        self.recall_source: Callable[[], list[str]] | None = None
        """The prompts that Up recalls, oldest first (the screen gives this conversation's)."""
        self._recalled: list[str] = []
        self._recall_index = -1
        """Which of `_recalled` (counted from the newest, 0) the prompt shows; -1: none."""
        self.take_back_source: Callable[[], str | None] | None = None
        """Up in an empty prompt asks it first: the last queued message, taken out of the queue to edit (the screen
        gives it); None when nothing is queued, and Up recalls as usual."""
        self.completions: CommandCompletions | None = None
        """The list of matching commands the screen shows above the prompt (None: no completion)."""
        self._dismissed: str | None = None
        """The text the list was closed on with Esc: it stays closed until the text changes."""

    # -- completing commands --------------------------------------------------------------------------

    @property
    def completing(self) -> bool:
        """The list of matching commands is open."""
        return self.completions is not None and self.completions.is_open

    def update_completions(self, *, focused: bool | None = None) -> None:
        """Open, narrow or close the list for the text as it is now (closed while the prompt has no focus)."""
        completions = self.completions
        if completions is None:
            return
        if focused is None:
            focused = self.has_focus
        partial = commands.completing(self.text) if focused else None
        if self._dismissed is not None and self._dismissed != self.text:
            self._dismissed = None
        if partial is None or self._dismissed is not None:
            completions.close()
        else:
            completions.show(partial)

    def dismiss_completions(self) -> bool:
        """Esc: close the list, keeping the text. False when it was not open."""
        if not self.completing:
            return False
        self._dismissed = self.text
        self.update_completions()
        return True

    def _catch_up(self) -> None:
        """Keys typed in a burst come before the Changed messages of the text they typed: bring the list up to date
        now, so `/sy` then Tab (or Down) acts on the list however fast the keys came."""
        if not self.completing and commands.completing(self.text) is not None:
            self.update_completions()

    def complete(self, command: commands.SlashCommand | None = None) -> None:
        """Put `command`'s name (by default the highlighted entry's, else the first's) in the prompt, followed by a
        space for its argument; the list closes."""
        completions = self.completions
        if command is None and completions is not None:
            command = completions.chosen or completions.first
        if command is None:
            return
        self.text = f"/{command.name} "
        self.move_cursor(self.document.end)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.update_completions()

    def on_focus(self, event: events.Focus) -> None:
        self.update_completions(focused=True)

    def on_blur(self, event: events.Blur) -> None:
        self.update_completions(focused=False)  # (a turn selected, the approval bar, a modal: the list goes)

    # -- recall ---------------------------------------------------------------------------------------

    @property
    def recalling(self) -> bool:
        """The prompt shows a recalled prompt, not edited since."""
        recalled = self._recalled
        return 0 <= self._recall_index < len(recalled) and self.text == recalled[-1 - self._recall_index]

    def action_cursor_up(self, select: bool = False) -> None:
        """Up in an empty prompt recalls the last prompt sent, and from a recalled one the one before (like a
        shell); anywhere else it moves the cursor. With the commands listed, it moves in the list."""
        if not select:
            self._catch_up()
        if not select and self.completing:
            assert self.completions is not None
            self.completions.move(-1)
            return
        if not select and not self.text and self.take_back_source is not None:
            if (queued := self.take_back_source()) is not None:
                self.text = queued
                self.move_cursor(self.document.end)
                return
        if not select and self.recall_source is not None and (self.recalling or not self.text):
            if not self.recalling:
                self._recalled = [prompt for prompt in self.recall_source() if prompt.strip()]
                self._recall_index = -1
            if self._recall_index + 1 < len(self._recalled):
                self._show_recalled(self._recall_index + 1)
            return
        super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        """Down from a recalled prompt goes forward again, and past the newest back to an empty prompt. With the
        commands listed, it moves in the list."""
        if not select:
            self._catch_up()
        if not select and self.completing:
            assert self.completions is not None
            self.completions.move(1)
            return
        if not select and self.recalling:
            if self._recall_index > 0:
                self._show_recalled(self._recall_index - 1)
            else:
                self._recall_index = -1
                self.clear()
            return
        super().action_cursor_down(select)

    def _show_recalled(self, index: int) -> None:
        self._recall_index = index
        self.text = self._recalled[-1 - index]
        self.move_cursor(self.document.end)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "tab":
            self._catch_up()
        if event.key == "tab" and self.completing:
            event.stop()
            event.prevent_default()
            self.complete()
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            if self.completing and self.completions is not None and self.completions.chosen is not None:
                self.complete()
                return
            self.post_message(self.Submitted(self, self.text))
            return
        if event.key == "alt+enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text, follow_up=True))
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
