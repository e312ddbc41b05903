"""Settings from config.toml (read with tomllib), overridden by command-line flags."""

from __future__ import annotations

import re
import tomllib
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path


class ConfigError(Exception):
    """The config file cannot be used; the message names the file, the line and the reason."""


@dataclass
class Settings:
    """What config.toml may set. Every field is optional."""

    _: KW_ONLY
    model: str | None = None
    """Default model id (`demo`, or any pydantic-ai id such as `openai-chat:gpt-4o-mini`)."""
    instructions: str | None = None
    """Instructions (system prompt) for the plain chat agent."""
    agent: str | None = None
    """Default agent target (`path/to/file.py:name` or `package.module:name`), as `--agent` takes."""
    retries: int = 3
    """How often a request that fails before its first event is retried (0 turns retrying off)."""
    idle_timeout: float = 60.0
    """Seconds of silence from the model after which a reply is given up."""
    max_attachment_mb: float = 5.0
    """The largest file `@path` attaches, in MB (it is stored, and sent again with every later request)."""
    compact_at: float = 0.8
    """How full the context window may get (0.5-1.0, a fraction) before xsus offers /compact after a turn."""
    theme: str | None = None
    """A Textual theme name (`textual-dark`, `nord`, `gruvbox`, `dracula`, `tokyo-night`, ...)."""
    model_settings: dict[str, float | int] = field(default_factory=dict)
    """Sent with every request: `temperature`, `max_tokens`, `top_p`, `seed` (table `[model_settings]`)."""
    mcp_servers: dict[str, dict] = field(default_factory=dict)
    """MCP servers by name (`[mcp_servers.NAME]`): `command` + `args`/`env`/`cwd` for stdio, or `url` + `headers`."""


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "model": str,
    "instructions": str,
    "agent": str,
    "retries": int,
    "idle_timeout": (int, float),
    "theme": str,
    "max_attachment_mb": (int, float),
    "compact_at": (int, float),
    "model_settings": dict,
    "mcp_servers": dict,
}
_LIMITS = {"retries": (0, 10), "idle_timeout": (1, 3600), "max_attachment_mb": (0.001, 100), "compact_at": (0.5, 1)}
_MODEL_SETTINGS: dict[str, tuple[type | tuple[type, ...], float, float]] = {
    "temperature": ((int, float), 0, 2),
    "top_p": ((int, float), 0, 1),
    "max_tokens": (int, 1, 10_000_000),
    "seed": (int, -(2**63), 2**63 - 1),
}


def load_settings(path: Path) -> Settings:
    """Read `path`; a missing file gives the defaults, an invalid one raises ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the config file: {error}") from error
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(error))
        reason = re.sub(r"\s*\(at (line|end of document).*\)", "", str(error))
        line = match.group(1) if match else str(max(1, len(text.splitlines())))
        where = f":{line}"
        raise ConfigError(f"{path}{where}: invalid TOML: {reason}") from error
    values: dict[str, object] = {}
    for key, value in data.items():
        expected = _FIELDS.get(key)
        line = _line_of(text, key)
        if expected is None:
            known = ", ".join(sorted(_FIELDS))
            raise ConfigError(f"{path}{line}: unknown setting {key!r} (known: {known})")
        if not isinstance(value, expected) or isinstance(value, bool):
            wanted = (
                "a number"
                if isinstance(expected, tuple)
                else "a table"
                if expected is dict
                else {"int": "an integer", "str": "a string"}.get(expected.__name__, f"a {expected.__name__}")
            )
            raise ConfigError(f"{path}{line}: {key} must be {wanted}, not {_kind(value)}")
        if expected is dict:
            values[key] = value
            continue
        if key in _LIMITS and not _LIMITS[key][0] <= value <= _LIMITS[key][1]:
            low, high = _LIMITS[key]
            raise ConfigError(f"{path}{line}: {key} must be between {low} and {high}, not {value}")
        values[key] = value
    if "theme" in values:
        _check_theme(path, text, str(values["theme"]))
    if "model_settings" in values:
        values["model_settings"] = _check_model_settings(path, text, values["model_settings"])
    if "mcp_servers" in values:
        _check_mcp_servers(path, text, values["mcp_servers"])
    return Settings(**values)


def _kind(value: object) -> str:
    """What a TOML value is, in words: `a string`, `an integer`, `a table`."""
    kinds = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    return next((words for kind, words in kinds.items() if isinstance(value, kind)), "a date or time")


def _check_theme(path: Path, text: str, theme: str) -> None:
    from textual.theme import BUILTIN_THEMES

    if theme not in BUILTIN_THEMES:
        names = ", ".join(sorted(BUILTIN_THEMES))
        raise ConfigError(f"{path}{_line_of(text, 'theme')}: unknown theme {theme!r} (themes: {names})")


def _check_model_settings(path: Path, text: str, table: dict) -> dict[str, float | int]:
    for key, value in table.items():
        line = _line_of(text, key)
        if key not in _MODEL_SETTINGS:
            known = ", ".join(sorted(_MODEL_SETTINGS))
            raise ConfigError(f"{path}{line}: unknown model setting {key!r} (known: {known})")
        kind, low, high = _MODEL_SETTINGS[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{path}{line}: model_settings.{key} must be a number, not {_kind(value)}")
        if not low <= value <= high:
            raise ConfigError(f"{path}{line}: model_settings.{key} must be between {low:g} and {high:g}, not {value}")
    return dict(table)


_MCP_KEYS = {"command": str, "args": list, "env": dict, "cwd": str, "url": str, "headers": dict}


def _check_mcp_servers(path: Path, text: str, servers: dict) -> None:
    for name, server in servers.items():
        line = _line_of(text, name) or _table_line(text, f"mcp_servers.{name}")
        if not isinstance(server, dict):
            raise ConfigError(f"{path}{line}: mcp_servers.{name} must be a table")
        for key, value in server.items():
            if key not in _MCP_KEYS:
                where = _line_of(text, key) or line
                raise ConfigError(f"{path}{where}: unknown MCP server setting {key!r} (known: {', '.join(_MCP_KEYS)})")
            if not isinstance(value, _MCP_KEYS[key]):
                raise ConfigError(f"{path}{_line_of(text, key) or line}: mcp_servers.{name}.{key} has the wrong type")
        if ("command" in server) == ("url" in server):
            raise ConfigError(f"{path}{line}: mcp_servers.{name} needs either command (stdio) or url (HTTP)")


def _table_line(text: str, table: str) -> str:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() == f"[{table}]":
            return f":{number}"
    return ""


def to_toml(settings: Settings) -> str:
    """The effective settings as a config file would say them (for `xsus config show`)."""
    lines = []
    for name in (
        "model",
        "agent",
        "instructions",
        "retries",
        "idle_timeout",
        "max_attachment_mb",
        "compact_at",
        "theme",
    ):
        value = getattr(settings, name)
        lines.append(f"{name} = {_toml_value(value)}" if value is not None else f"# {name} is not set")
    lines.append("")
    lines.append("[model_settings]")
    lines += [f"{key} = {_toml_value(value)}" for key, value in settings.model_settings.items()]
    for name, server in settings.mcp_servers.items():
        lines += ["", f"[mcp_servers.{name}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in server.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: object) -> str:
    import json

    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    # JSON's string escapes are TOML's; non-ASCII text stays as written.
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str | list) else str(value)


def _line_of(text: str, key: str) -> str:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return f":{number}"
    return ""
