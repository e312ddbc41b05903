"""The files attached to the prompt being written, shown as chips above it; and a pasted path's offer to attach it.

The prompt drives it (PromptInput.chips): Backspace at the very start of the prompt removes the last chip, a click
on a chip removes that one. A pasted path of an existing file shows `Attach NAME? y/n` here until answered.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.message import Message
from textual.widgets import Static

from xsus_tui.core.attachments import Attachment, human_size
from xsus_tui.core.sanitize import inert


class AttachmentChips(Static):
    """One chip per attached file (name and size), wrapped over as many lines as they need."""

    DEFAULT_CSS = """
    AttachmentChips {
        display: none;
        height: auto;
        max-height: 4;
        margin: 0 1;
        &.-shown {
            display: block;
        }
    }
    """

    class Changed(Message):
        """Files were attached or removed."""

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.files: list[Attachment] = []
        """The attached files, in the order they were attached."""
        self.offer: tuple[Path, str] | None = None
        """A pasted path of an existing file waiting for y/n, with the text that was pasted (inserted on n)."""
        self._spans: list[tuple[int, int]] = []
        """Each chip's cells on the line (start, end), to tell which one a click hits."""

    def add(self, attachment: Attachment) -> bool:
        """Attach a file; False (and nothing changes) when the same file is already attached."""
        for present in self.files:
            if present.name == attachment.name or (
                present.source is not None
                and attachment.source is not None
                and _same(present.source, attachment.source)
            ):
                return False
        self.files.append(attachment)
        self._changed()
        return True

    def remove(self, index: int = -1) -> Attachment | None:
        if not self.files:
            return None
        try:
            removed = self.files.pop(index)
        except IndexError:
            return None
        self._changed()
        return removed

    def set_files(self, files: tuple[Attachment, ...] | list[Attachment]) -> None:
        self.files = list(files)
        self._changed()

    def clear(self) -> None:
        if self.files:
            self.files.clear()
            self._changed()

    def offer_path(self, path: Path, pasted: str) -> None:
        self.offer = (path, pasted)
        self._show()

    def close_offer(self) -> tuple[Path, str] | None:
        offer, self.offer = self.offer, None
        self._show()
        return offer

    def _changed(self) -> None:
        self._show()
        self.post_message(self.Changed())

    def _show(self) -> None:
        text = Text()
        self._spans = []
        for index, attachment in enumerate(self.files):
            if index:
                text.append(" ")
            start = text.cell_len
            text.append(f" 📎 {inert(attachment.name)} · {human_size(attachment.size)} ✕ ", style="reverse")
            self._spans.append((start, text.cell_len))
        if self.files:
            text.append("  ⌫ at the prompt's start removes the last file", style="dim")
        if self.offer is not None:
            path, _ = self.offer
            if self.files:
                text.append("\n")
            text.append(f"Attach {inert(str(path))}?", style="bold")
            text.append("  y attach · n paste the text", style="dim")
        self.set_class(bool(self.files or self.offer), "-shown")
        self.update(text)

    def on_click(self, event) -> None:
        """A click on a chip removes it (only on the first line, where the spans were measured)."""
        if event.y != 0:
            return
        for index, (start, end) in enumerate(self._spans):
            if start <= event.x < end:
                self.remove(index)
                return


def _same(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return a == b
