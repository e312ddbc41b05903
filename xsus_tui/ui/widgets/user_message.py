"""The user's prompt as it appears in the chat (after the summary of the earlier conversation, when it was
compacted just before this turn)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from xsus_tui.core.sanitize import inert


class UserMessage(Static):
    def __init__(
        self,
        prompt: str,
        *,
        number: int | None = None,
        versions: tuple[int, int] | None = None,
        summary: str | None = None,
        summarized: int | None = None,
    ) -> None:
        super().__init__(_shown(prompt, versions, summary, summarized), classes="user-message")
        self.prompt = prompt
        self.number = number
        """Its turn in the conversation (1 = the first prompt); None when it is not in it (not sent)."""
        self.versions = versions
        """Which version of its turn is shown, of how many, when there is more than one (`‹2/3›`)."""
        self.summary = summary
        """The summary of the earlier conversation the model gets before this prompt (a compaction), if any."""
        self.summarized = summarized
        """How many turns that summary replaced."""

    def show_versions(self, versions: tuple[int, int] | None) -> None:
        if versions != self.versions:
            self.versions = versions
            self.update(_shown(self.prompt, versions, self.summary, self.summarized))


def _shown(prompt: str, versions: tuple[int, int] | None, summary: str | None, summarized: int | None) -> Text:
    text = Text()
    if summary is not None:
        what = (
            f"{summarized} earlier turn{'s' if summarized != 1 else ''}" if summarized else "The earlier conversation"
        )
        text.append(f"┄┄ {what} summarized: the model gets this summary instead ┄┄\n", style="bold")
        text.append(inert(summary.strip()) + "\n", style="dim italic")
        text.append("┄┄ the full conversation stays stored: /tree, or ←/→ on this turn ┄┄\n\n", style="dim")
    if versions is not None:
        text.append(f"‹{versions[0]}/{versions[1]}› ", style="bold")
    text.append(inert(prompt))
    return text
