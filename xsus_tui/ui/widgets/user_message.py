"""The user's prompt as it appears in the chat."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from xsus_tui.core.sanitize import inert


class UserMessage(Static):
    def __init__(
        self, prompt: str, *, number: int | None = None, versions: tuple[int, int] | None = None, steered: bool = False
    ) -> None:
        classes = "user-message -steered" if steered else "user-message"
        super().__init__(_shown(prompt, versions, steered), classes=classes)
        self.steered = steered
        """Typed while the reply before it ran, and delivered into that run (steering)."""
        self.prompt = prompt
        self.number = number
        """Its turn in the conversation (1 = the first prompt); None when it is not in it (not sent)."""
        self.versions = versions
        """Which version of its turn is shown, of how many, when there is more than one (`‹2/3›`)."""

    def show_versions(self, versions: tuple[int, int] | None) -> None:
        if versions != self.versions:
            self.versions = versions
            self.update(_shown(self.prompt, versions, self.steered))


def _shown(prompt: str, versions: tuple[int, int] | None, steered: bool = False) -> Text:
    text = Text()
    if versions is not None:
        text.append(f"‹{versions[0]}/{versions[1]}› ", style="bold")
    text.append(inert(prompt))
    if steered:
        text.append("  ↳ sent while the reply ran", style="dim")
    return text
