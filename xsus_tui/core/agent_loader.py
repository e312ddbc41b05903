"""`--agent TARGET`: importing the user's own pydantic-ai agent from a file or a module.

TARGET is `path/to/file.py:name` or `package.module:name`, where `name` is an `Agent` or a callable
returning one. Every way this can go wrong ends in an `AgentLoadError` whose message is one line
(with the file and line for a syntax error), never a traceback.

pydantic-ai is imported only when an agent is loaded, so the CLI can parse a target before the first
frame. `xsus` loads the agent in a daemon thread after the first frame (cli.ChatLoader), so an
import that takes long, or never ends, doesn't hold the screen or the exit.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic_ai.agent import AbstractAgent


class AgentLoadError(Exception):
    """The agent target cannot be loaded; the message is one line for the user."""


@dataclass(frozen=True)
class AgentTarget:
    """A parsed `--agent` value."""

    _: KW_ONLY
    source: str
    """The file path or module name before the colon."""
    name: str
    """The attribute after the colon."""

    @property
    def is_file(self) -> bool:
        return self.source.endswith(".py") or "/" in self.source or "\\" in self.source

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"

    @property
    def short(self) -> str:
        """`app.py:support` for `path/to/app.py:support` (a module target as it is), for the status line."""
        return f"{Path(self.source).name}:{self.name}" if self.is_file else str(self)


def parse_target(text: str) -> AgentTarget:
    source, colon, name = text.strip().rpartition(":")
    if not colon or not source or not name.isidentifier():
        raise AgentLoadError(f"agent target {text!r} must be FILE.py:NAME or package.module:NAME")
    return AgentTarget(source=source, name=name)


def load_agent(text: str) -> tuple[AbstractAgent[Any, Any], AgentTarget]:
    """Import the target afresh (so a reload sees edits) and return the agent it names."""
    from pydantic_ai.agent import AbstractAgent

    target = parse_target(text)
    module = _import_file(target) if target.is_file else _import_module(target)
    if not hasattr(module, target.name):
        names = sorted(n for n, v in vars(module).items() if isinstance(v, AbstractAgent))
        hint = f" (agents it defines: {', '.join(names)})" if names else " (it defines no pydantic-ai Agent)"
        raise AgentLoadError(f"{target.source} has no {target.name!r}{hint}")
    value = getattr(module, target.name)
    if not isinstance(value, AbstractAgent) and callable(value):
        try:
            value = value()
        except (Exception, SystemExit) as error:
            raise AgentLoadError(f"{target}: calling it raised {_one_line(error)}{_where(error)}") from error
    if not isinstance(value, AbstractAgent):
        raise AgentLoadError(f"{target} is a {type(value).__name__}, not a pydantic-ai Agent")
    return value, target


def _import_file(target: AgentTarget) -> ModuleType:
    path = Path(target.source).expanduser()
    if not path.is_file():
        raise AgentLoadError(f"no such file: {path}")
    path = path.resolve()
    module_name = f"xsus_user_agent_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise AgentLoadError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    # The file's own folder is importable, as when running `python file.py`, so its sibling modules load.
    folder = str(path.parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        sys.modules.pop(module_name, None)
        raise AgentLoadError(f"{error.filename or path}:{error.lineno}: syntax error: {error.msg}") from error
    except (Exception, SystemExit) as error:  # SystemExit: the file called sys.exit() (it is a script)
        sys.modules.pop(module_name, None)
        raise AgentLoadError(f"{path}: importing it raised {_one_line(error)}{_where(error)}") from error
    finally:
        if added:
            sys.path.remove(folder)
    return module


def _import_module(target: AgentTarget) -> ModuleType:
    try:
        if target.source in sys.modules:
            return importlib.reload(sys.modules[target.source])
        return importlib.import_module(target.source)
    except ModuleNotFoundError as error:
        raise AgentLoadError(f"no module named {error.name!r} (importing {target.source})") from error
    except SyntaxError as error:
        raise AgentLoadError(f"{error.filename}:{error.lineno}: syntax error: {error.msg}") from error
    except (Exception, SystemExit) as error:
        raise AgentLoadError(f"{target.source}: importing it raised {_one_line(error)}{_where(error)}") from error


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _where(error: BaseException) -> str:
    """` (file:line)` of the innermost frame outside the standard library and site-packages."""
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        if "site-packages" not in frame.filename and "importlib" not in frame.filename:
            return f" (at {frame.filename}:{frame.lineno})"
    return ""
