"""Settings from config.toml (read with tomllib), overridden by command-line flags."""

from __future__ import annotations

import re
import tomllib
from dataclasses import KW_ONLY, dataclass
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


_FIELDS = {"model": str, "instructions": str}


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
    values: dict[str, str] = {}
    for key, value in data.items():
        expected = _FIELDS.get(key)
        line = _line_of(text, key)
        if expected is None:
            known = ", ".join(sorted(_FIELDS))
            raise ConfigError(f"{path}{line}: unknown setting {key!r} (known: {known})")
        if not isinstance(value, expected):
            raise ConfigError(f"{path}{line}: {key} must be a {expected.__name__}, not {type(value).__name__}")
        values[key] = value
    return Settings(**values)


def _line_of(text: str, key: str) -> str:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return f":{number}"
    return ""
