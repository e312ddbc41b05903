"""The user's prompt as it appears in the chat, with the files attached to it."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from xsus_tui.core.attachments import Attachment
from xsus_tui.core.sanitize import inert


class UserMessage(Static):
    def __init__(
        self,
        prompt: str,
        *,
        number: int | None = None,
        versions: tuple[int, int] | None = None,
        attachments: tuple[Attachment, ...] = (),
    ) -> None:
        super().__init__(_shown(prompt, versions, attachments), classes="user-message")
        self.prompt = prompt
        """What the user typed."""
        self.attachments = attachments
        """The files sent with it (shown as chips under the text)."""
        self.number = number
        """Its turn in the conversation (1 = the first prompt); None when it is not in it (not sent)."""
        self.versions = versions
        """Which version of its turn is shown, of how many, when there is more than one (`‹2/3›`)."""

    def show_versions(self, versions: tuple[int, int] | None) -> None:
        if versions != self.versions:
            self.versions = versions
            self.update(_shown(self.prompt, versions, self.attachments))


def _shown(prompt: str, versions: tuple[int, int] | None, attachments: tuple[Attachment, ...]) -> Text:
    text = Text()
    if versions is not None:
        text.append(f"‹{versions[0]}/{versions[1]}› ", style="bold")
    text.append(inert(prompt))
    if attachments:
        if prompt:
            text.append("\n")
        for index, attachment in enumerate(attachments):
            if index:
                text.append("  ")
            text.append(f" 📎 {inert(attachment.label)} ", style="reverse")
    return text
