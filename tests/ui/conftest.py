"""UI tests: the prompt's cursor does not blink, so what the screen shows never depends on when it is read."""

from __future__ import annotations

import pytest

from xsus_tui.ui.widgets.prompt import PromptInput


@pytest.fixture(autouse=True)
def steady_cursor(monkeypatch):
    monkeypatch.setattr(PromptInput, "BLINK", False)
