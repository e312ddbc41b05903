from __future__ import annotations

import pytest

from xsus_tui.config import ConfigError, Settings, load_settings


def test_missing_file_gives_defaults(tmp_path):
    assert load_settings(tmp_path / "config.toml") == Settings()


def test_valid_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('model = "openai-chat:gpt-4o-mini"\ninstructions = "Be brief."\nretries = 1\nidle_timeout = 5\n')
    assert load_settings(path) == Settings(
        model="openai-chat:gpt-4o-mini", instructions="Be brief.", retries=1, idle_timeout=5
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('model = "x"\nmodel = ', ":2: invalid TOML"),
        ('model = "x"\ncolour red\nother = 1\n', ":2: invalid TOML"),
        ('model = "x"\ncolour = "red"\n', ":2: unknown setting 'colour'"),
        ("\n\nmodel = 3\n", ":3: model must be a string, not an integer"),
        ("retries = -1\n", ":1: retries must be between 0 and 10, not -1"),
        ('idle_timeout = "soon"\n', ":1: idle_timeout must be a number, not a string"),
    ],
)
def test_invalid_file_names_file_line_and_reason(tmp_path, text, expected):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert str(error.value).startswith(str(path)) and expected in str(error.value)


def test_theme_and_model_settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('theme = "nord"\n[model_settings]\ntemperature = 0.2\nmax_tokens = 500\n')
    settings = load_settings(path)
    assert settings.theme == "nord" and settings.model_settings == {"temperature": 0.2, "max_tokens": 500}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('theme = "neon"\n', ":1: unknown theme 'neon'"),
        ("[model_settings]\ntemperature = 5\n", ":2: model_settings.temperature must be between 0 and 2, not 5"),
        ("[model_settings]\ncolour = 1\n", ":2: unknown model setting 'colour'"),
        ("model_settings = 3\n", ":1: model_settings must be a table, not an integer"),
        ('retries = "3"\n', ":1: retries must be an integer, not a string"),
        ("[model_settings]\ntemperature = true\n", ":2: model_settings.temperature must be a number, not a boolean"),
        ("[mcp_servers.web]\nargs = []\n", ":1: mcp_servers.web needs either command (stdio) or url (HTTP)"),
        ('[mcp_servers.web]\nurl = "http://x"\nport = 3\n', ":3: unknown MCP server setting 'port'"),
    ],
)
def test_invalid_theme_and_model_settings(tmp_path, text, expected):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert expected in str(error.value)


def test_config_show_prints_values_as_written(tmp_path):
    import tomllib

    from xsus_tui.config import to_toml

    path = tmp_path / "config.toml"
    path.write_text('instructions = "Réponds brièvement.\\nUne ligne\\tde plus"\nidle_timeout = 60\n')
    shown = to_toml(load_settings(path))
    assert 'instructions = "Réponds brièvement.\\nUne ligne\\tde plus"' in shown
    assert "idle_timeout = 60\n" in shown
    assert tomllib.loads(shown)["instructions"] == tomllib.loads(path.read_text())["instructions"]
