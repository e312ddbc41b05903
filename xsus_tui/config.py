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
    agent: str | None = None
    """Default agent target (`path/to/file.py:name` or `package.module:name`), as `--agent` takes."""
    retries: int = 3
    """How often a request that fails before its first event is retried (0 turns retrying off)."""
    idle_timeout: float = 60.0
    """Seconds of silence from the model after which a reply is given up."""


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "model": str,
    "instructions": str,
    "agent": str,
    "retries": int,
    "idle_timeout": (int, float),
}
_LIMITS = {"retries": (0, 10), "idle_timeout": (1, 3600)}


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
            wanted = "a number" if isinstance(expected, tuple) else f"a {expected.__name__}"
            raise ConfigError(f"{path}{line}: {key} must be {wanted}, not {type(value).__name__}")
        if key in _LIMITS and not _LIMITS[key][0] <= value <= _LIMITS[key][1]:
            low, high = _LIMITS[key]
            raise ConfigError(f"{path}{line}: {key} must be between {low} and {high}, not {value}")
        values[key] = value
    return Settings(**values)


def _line_of(text: str, key: str) -> str:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return f":{number}"
    return ""
