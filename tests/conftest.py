"""Shared test setup: no real model requests, a private XSUS_HOME per test, an instant demo model."""

from __future__ import annotations

import pytest
from pydantic_ai import models

# Tests never call a real provider; the e2e tier re-allows requests to its own loopback server only.
models.ALLOW_MODEL_REQUESTS = False


@pytest.fixture(autouse=True)
def xsus_home(tmp_path, monkeypatch):
    home = tmp_path / "xsus-home"
    monkeypatch.setenv("XSUS_HOME", str(home))
    monkeypatch.setenv("XSUS_DEMO_DELAY", "0")
    for variable in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    return home
