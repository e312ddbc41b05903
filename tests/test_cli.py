"""The `xsus` command from outside: exit codes, one-line errors, history list and export."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic_ai.conversation import Conversation
from pydantic_ai.messages import ModelMessagesTypeAdapter, ModelRequest, ModelResponse, TextPart, UserPromptPart

from xsus_tui import __version__
from xsus_tui.core.store import SQLiteConversationStore

from .terminal_helpers import after_the_screen, spawn, wait_exit


def xsus(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xsus_tui", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def xsus_chat(*args: str) -> subprocess.CompletedProcess[str]:
    """The chat command, in a pseudo-terminal (it needs one); `stderr` is what it printed once it gave
    the terminal back (or all it printed, if it never took the screen)."""
    with spawn(Path(os.environ["XSUS_HOME"]), *args) as term:
        status, _ = wait_exit(term, timeout=60)
        assert "Traceback" not in term.text(), term.text()[-3000:]
        lines = after_the_screen(term)
    return subprocess.CompletedProcess(["xsus", *args], -1 if status is None else status, "", "\n".join(lines))


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xsus: error: ")
    return lines[0]


def test_version():
    result = xsus("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"xsus {__version__}"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("nonsense:model", "unknown model provider 'nonsense'"),
        ("gpt-4o", "unknown model 'gpt-4o'"),
        ("openai-chat:gpt-4o-mini", "OPENAI_API_KEY"),
        ("anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
    ],
)
def test_unusable_model_is_one_clear_line(model, expected):
    assert expected in one_line_error(xsus_chat("--model", model))


def test_invalid_config_names_the_file_and_line(xsus_home):
    xsus_home.mkdir(parents=True)
    (xsus_home / "config.toml").write_text('model = "demo"\nmodel_settings = 1\n')
    line = one_line_error(xsus_chat())
    assert f"{xsus_home / 'config.toml'}:2" in line and "model_settings" in line


def seed(home, prompts: list[str]) -> list[str]:
    async def run() -> list[str]:
        home.mkdir(parents=True, exist_ok=True)
        store = SQLiteConversationStore.open(home / "history.db")
        ids = []
        for prompt in prompts:
            conversation = Conversation(
                messages=[
                    ModelRequest(parts=[UserPromptPart(prompt)]),
                    ModelResponse(parts=[TextPart(f"re: {prompt}")]),
                ]
            )
            await store.save(conversation)
            ids.append(conversation.conversation_id)
        store.close()
        return ids

    return asyncio.run(run())


def test_history_list_and_json(xsus_home):
    assert "No conversations yet" in xsus("history", "list").stdout
    ids = seed(xsus_home, ["first", "second"])
    table = xsus("history", "list").stdout
    assert table.index("second") < table.index("first") and ids[0][:13] in table
    rows = json.loads(xsus("history", "list", "--json").stdout)
    assert [r["id"] for r in rows] == ids[::-1] and rows[0]["title"] == "second" and rows[0]["messages"] == 2


def test_history_export_latest_by_id_and_to_a_private_file(xsus_home, tmp_path):
    ids = seed(xsus_home, ["alpha", "beta"])
    markdown = xsus("history", "export", "--latest", "--format", "md").stdout
    assert "**You**\n\nbeta" in markdown and "re: beta" in markdown
    exported = xsus("history", "export", ids[0][:32], "--format", "json").stdout
    messages = ModelMessagesTypeAdapter.validate_json(exported)
    assert messages[1].parts[0].content == "re: alpha"
    out = tmp_path / "out.json"
    assert xsus("history", "export", ids[1], "-f", "json", "-o", str(out)).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "no conversation with id 'zzz'" in one_line_error(xsus("history", "export", "zzz"))


def test_export_latest_with_no_history_is_a_clear_error():
    assert "no conversations" in one_line_error(xsus("history", "export", "--latest"))


def test_an_unusable_history_database_names_the_file(xsus_home):
    (xsus_home / "history.db").mkdir(parents=True)
    line = one_line_error(xsus("history", "list"))
    assert str(xsus_home / "history.db") in line
    assert str(xsus_home / "history.db") in one_line_error(xsus_chat())


def test_a_corrupt_database_is_named_by_reading_commands_and_left_for_the_chat(xsus_home):
    xsus_home.mkdir(parents=True)
    (xsus_home / "history.db").write_bytes(b"garbage" * 1000)
    line = one_line_error(xsus("history", "list"))
    assert "not a usable SQLite database" in line and "moves it aside" in line
    assert sorted(p.name for p in xsus_home.iterdir()) == ["history.db"]  # reading changes nothing


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("missing.py:agent", "no such file"),
        ("{broken}:agent", "syntax error"),
        ("{good}:typo", "has no 'typo'"),
    ],
)
def test_bad_agent_targets_are_one_line_and_exit_2(tmp_path, target, expected):
    broken = tmp_path / "broken.py"
    broken.write_text("agent = (\n")
    good = tmp_path / "good.py"
    good.write_text("from pydantic_ai import Agent\nagent = Agent('test')\n")
    line = one_line_error(xsus_chat("--agent", target.format(broken=broken, good=good)))
    assert expected in line


def test_config_path_and_show(xsus_home):
    assert xsus("config", "path").stdout.strip() == str(xsus_home / "config.toml")
    shown = xsus("config", "show").stdout
    assert "does not exist" in shown and "retries = 3" in shown
    xsus_home.mkdir(parents=True)
    (xsus_home / "config.toml").write_text(
        'model = "demo"\n[model_settings]\ntemperature = 0.3\n[mcp_servers.calc]\ncommand = "python"\nargs = ["s.py"]\n'
    )
    shown = xsus("config", "show").stdout
    assert 'model = "demo"' in shown and "temperature = 0.3" in shown
    assert '[mcp_servers.calc]\ncommand = "python"\nargs = ["s.py"]' in shown


def test_an_unknown_model_from_the_config_names_the_file(xsus_home):
    xsus_home.mkdir(parents=True)
    (xsus_home / "config.toml").write_text('model = "nonsense:model"\n')
    line = one_line_error(xsus_chat())
    assert f"{xsus_home / 'config.toml'}: model = 'nonsense:model': unknown model provider 'nonsense'" in line
