"""The user's prompt as it appears in the chat."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from xsus_tui.core.sanitize import inert


class UserMessage(Static):
    def __init__(self, prompt: str) -> None:
        super().__init__(Text(inert(prompt)), classes="user-message")
        self.prompt = prompt
