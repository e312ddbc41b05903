"""Where xsus keeps its files: platformdirs locations, or everything under $XSUS_HOME."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "xsus"


def xsus_home() -> Path | None:
    """$XSUS_HOME, when set: config.toml and the data files all live there (tests use this)."""
    value = os.environ.get("XSUS_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = xsus_home()
    if home is not None:
        return home
    import platformdirs

    return platformdirs.user_config_path(APP_NAME)


def data_dir() -> Path:
    home = xsus_home()
    if home is not None:
        return home
    import platformdirs

    return platformdirs.user_data_path(APP_NAME)


def config_file() -> Path:
    return config_dir() / "config.toml"


def history_db() -> Path:
    return data_dir() / "history.db"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` accessible to its owner only (0700) if it is missing.

    A folder that exists keeps its mode: XSUS_HOME may point at a folder that is not ours to change.
    Missing parents are created 0700 too.
    """
    if not path.is_dir():
        missing = [path, *(parent for parent in path.parents if not parent.exists())]
        for folder in reversed(missing):  # each folder made here is ours: 0700, whatever the umask
            folder.mkdir(exist_ok=True, mode=0o700)
    return path
