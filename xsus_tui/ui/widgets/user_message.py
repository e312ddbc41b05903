"""The user's prompt as it appears in the chat, with the files attached to it (after the summary of the earlier
conversation, when it was compacted just before this turn; marked when it was typed while the reply before ran)."""

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
        summary: str | None = None,
        summarized: int | None = None,
        steered: bool = False,
    ) -> None:
        self.prompt = prompt
        """What the user typed."""
        self.attachments = attachments
        """The files sent with it (shown as chips under the text)."""
        self.number = number
        """Its turn in the conversation (1 = the first prompt); None when it is not in it (not sent)."""
        self.versions = versions
        """Which version of its turn is shown, of how many, when there is more than one (`‹2/3›`)."""
        self.summary = summary
        """The summary of the earlier conversation the model gets before this prompt (a compaction), if any."""
        self.summarized = summarized
        """How many turns that summary replaced."""
        self.steered = steered
        """Typed while the reply before it ran, and delivered into that run (steering)."""
        super().__init__(self._shown(), classes="user-message -steered" if steered else "user-message")

    def show_versions(self, versions: tuple[int, int] | None) -> None:
        if versions != self.versions:
            self.versions = versions
            self.update(self._shown())

    def _shown(self) -> Text:
        text = Text()
        if (summary := self.summary) is not None:
            count = self.summarized
            what = f"{count} earlier turn{'s' if count != 1 else ''}" if count else "The earlier conversation"
            text.append(f"┄┄ {what} summarized: the model gets this summary instead ┄┄\n", style="bold")
            text.append(inert(summary.strip()) + "\n", style="dim italic")
            text.append("┄┄ the full conversation stays stored: /tree, or ←/→ on this turn ┄┄\n\n", style="dim")
        if self.versions is not None:
            text.append(f"‹{self.versions[0]}/{self.versions[1]}› ", style="bold")
        text.append(inert(self.prompt))
        if self.steered:
            text.append("  ↳ sent while the reply ran", style="dim")
        if self.attachments:
            if self.prompt:
                text.append("\n")
            for index, attachment in enumerate(self.attachments):
                if index:
                    text.append("  ")
                text.append(f" 📎 {inert(attachment.label)} ", style="reverse")
        return text
