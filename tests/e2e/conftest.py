"""Fixtures for the end-to-end tier: the real `openai` client against a loopback server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pydantic_ai.models
import pytest

from xsus_tui.core.store import SQLiteConversationStore

from .loopback import OpenAICompatServer


@pytest.fixture(autouse=True)
def xsus_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Keep every e2e test's config and history in its own temporary directory."""
    monkeypatch.setenv("XSUS_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OpenAICompatServer]:
    """A started loopback server (set `server.script` in the test) that `openai-chat:` models use.

    Model requests are allowed for the test's duration: they only ever reach 127.0.0.1.
    """
    async with OpenAICompatServer() as started:
        monkeypatch.setenv("OPENAI_BASE_URL", started.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", True)
        yield started


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteConversationStore]:
    """A fresh history database."""
    opened = SQLiteConversationStore.open(tmp_path / "history.db")
    yield opened
    opened.close()
