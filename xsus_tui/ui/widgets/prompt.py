"""The prompt input: Enter sends, Shift+Enter or Ctrl+J inserts a newline, Up and Down in an empty prompt
recall the prompts sent before. While a reply runs, Enter queues the message into it and Alt+Enter as a follow-up
(the screen decides); Up in an empty prompt then takes the last queued message back first, to edit. While a
command's name is typed (`/in`), the matching commands are listed above it (CommandCompletions): Up/Down move in
the list, Tab or Enter on a highlighted entry completes, Esc closes it. After `@` the files and directories
matching the path typed are listed the same way: completing a directory goes into it, completing a file attaches
it (a chip above the prompt, AttachmentChips; the `@path` leaves the text). Backspace at the very start of the
prompt removes the last chip. A paste that is exactly an existing file's path asks `Attach FILE? y/n` (any other
key: the text goes in as pasted)."""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.message import Message
from textual.widgets import TextArea

from xsus_tui.core import attachments

from .. import commands, compat

if TYPE_CHECKING:
    from .chips import AttachmentChips
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

    @dataclass
    class Problem(Message):
        """A file could not be attached (or was already): one line for the chat."""

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
        self.chips: AttachmentChips | None = None
        """The files attached to the prompt being written, shown above it (None: attaching is off)."""
        self._handed: list[str] = []
        """Texts posted with Submitted that the screen has not acted on yet, oldest first (see `acted_on`)."""
        self.cwd: Path | None = None
        """Where `@path` is relative to (None: the process's current directory)."""
        self.attachment_limit = attachments.DEFAULT_LIMIT
        """Bytes one attached file may have (the screen sets the session's)."""

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
        path = self._path_completing() if focused and partial is None else None
        if self._dismissed is not None and self._dismissed != self.text:
            self._dismissed = None
        if self._dismissed is not None:
            completions.close()
        elif partial is not None:
            completions.show(partial)
        elif path is not None:
            if completions.partial != "@" + path.partial:
                completions.show_paths(path.partial, attachments.path_entries(path.partial, self.cwd))
        else:
            completions.close()

    def _path_completing(self) -> attachments.Completing | None:
        """The `@path` being typed at the cursor, when attaching is on."""
        if self.chips is None or "@" not in self.text or self.selection.start != self.selection.end:
            return None
        return attachments.completing(self.text, self.document.get_index_from_location(self.cursor_location))

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
        if not self.completing and (commands.completing(self.text) is not None or "@" in self.text):
            self.update_completions()

    def complete(self, command: commands.SlashCommand | None = None) -> None:
        """Put `command`'s name (by default the highlighted entry's, else the first's) in the prompt, followed by a
        space for its argument; the list closes."""
        completions = self.completions
        if command is None and completions is not None and completions.showing_paths:
            if (entry := completions.chosen_path) is not None:
                self.complete_path(entry)
            return
        if command is None and completions is not None:
            command = completions.chosen or completions.first
        if command is None:
            return
        self.text = f"/{command.name} "
        self.move_cursor(self.document.end)

    def complete_path(self, entry: attachments.PathEntry) -> None:
        """A directory: its path after the `@`, listing what is in it. A file: attached, its `@path` left as its
        name."""
        typing = self._path_completing()
        if typing is None:
            return
        start = self.document.get_location_from_index(typing.start)
        if entry.is_dir:
            needs_quotes = typing.quoted or any(char.isspace() or char == '"' for char in entry.path)
            quoted = entry.path.replace("\\", "\\\\").replace('"', '\\"')
            self.replace(f'@"{quoted}' if needs_quotes else f"@{entry.path}", start, self.cursor_location)
            return
        if self.attach(attachments.expand(entry.path, self.cwd), name=entry.path):
            # The file's name stays where it was typed, as plain text (the chip holds the file): taken out, the
            # sentence read `compare with`, and the model couldn't tell which file was which.
            text = self.text
            end = self.document.get_index_from_location(self.cursor_location)
            after = "" if end < len(text) and text[end].isspace() else " "
            self.replace(f"{entry.path}{after}", start, self.cursor_location)

    def attach(self, path: Path, *, name: str | None = None) -> bool:
        """Read `path` into a chip; one line (a Problem message) when it can't be, or is attached already."""
        if self.chips is None:
            return False
        try:
            attachment = attachments.read_file(path, limit=self.attachment_limit, name=name, cwd=self.cwd)
        except attachments.AttachmentError as error:
            self.post_message(self.Problem(self, f"Not attached: {error}"))
            return False
        if not self.chips.add(attachment):
            self.post_message(self.Problem(self, f"{attachment.name} is attached already"))
        return True

    # -- sending ----------------------------------------------------------------------------------------

    def _submit(self, *, follow_up: bool = False) -> None:
        """Enter: post the text for the screen. Keys typed after an Enter the screen has not acted on yet (they come
        in the same burst while a reply streams) are the next message's: only they are sent with this one."""
        text = self.text
        for handed in self._handed:
            if text.startswith(handed):
                text = text[len(handed) :]
        self._handed.append(text)
        self.post_message(self.Submitted(self, text, follow_up=follow_up))

    def acted_on(self, message: Submitted, *, sent: bool) -> None:
        """The screen has acted on `message`. `sent` (sent, queued, or run as a command): its text leaves the prompt,
        and what was typed after it stays (it was cleared with it: `hello`, Enter, `world` in one burst lost
        `world`); else the text stays, to fix."""
        with contextlib.suppress(ValueError):
            self._handed.remove(message.text)
        if not sent:
            return
        current = self.text
        if current.startswith(message.text):
            rest = current[len(message.text) :]
        else:
            rest = ""  # edited meanwhile into the text it sent (Backspace after Enter): cleared, as it always was
        if rest == current:
            return
        if not rest:
            self.clear()
            return
        self.text = rest
        self.move_cursor(self.document.end)

    # -- a pasted path ----------------------------------------------------------------------------------

    async def _on_paste(self, event: events.Paste) -> None:
        """A paste that is exactly one existing file's path: ask whether to attach it (TextArea's own handler,
        which inserts the text, runs after this one unless the paste is held back here)."""
        if self.chips is None or self.read_only:
            return
        if (path := attachments.pasted_path(event.text, self.cwd)) is not None:
            event.stop()
            event.prevent_default()
            self.chips.offer_path(path, event.text)

    @property
    def offering(self) -> bool:
        return self.chips is not None and self.chips.offer is not None

    def answer_offer(self, attach: bool) -> bool:
        """y: attach the pasted path's file; n: put the pasted text in as it was. False when nothing was offered."""
        if self.chips is None or (offer := self.chips.close_offer()) is None:
            return False
        path, pasted = offer
        if not attach or not self.attach(path):
            self.insert(pasted)
        return True

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
        if self.offering:
            if event.key in ("y", "Y", "enter", "n", "N"):
                event.stop()
                event.prevent_default()
                self.answer_offer(event.key in ("y", "Y", "enter"))
                return
            self.answer_offer(False)  # any other key: the paste goes in as text, then the key
        if (
            event.key == "backspace"
            and self.chips is not None
            and self.chips.files
            and self.cursor_location == (0, 0)
            and self.selection.start == self.selection.end
        ):
            event.stop()
            event.prevent_default()
            self.chips.remove()
            return
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
            self._submit()
            return
        if event.key == "alt+enter":
            event.stop()
            event.prevent_default()
            self._submit(follow_up=True)
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
        if await compat.run_own_binding(self, event):  # Backspace, Left, Ctrl+W...: in order with what is typed
            return
        if event.is_printable and not self.read_only and (more := compat.take_typed_run(self)):
            # A run of keys already waiting (an unbracketed paste, keys read together): one edit, not one each.
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self.replace(f"{event.character}{more}", start, end, maintain_selection_offset=False)
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
