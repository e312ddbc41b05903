"""Slash commands: what `/name` typed in the prompt does, answered by xsus itself, never sent to the model.

One table (`COMMANDS`) serves the prompt, `/help` and the command palette (`SlashCommands`, a Textual
`Provider`). A line that looks like a command but names none gets a local one-line answer with the
list: a typo such as `/retyr` must not cost tokens. Text that merely starts with a slash (`/etc/hosts
is missing`) is a prompt; `//text` sends `/text` as it is.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import KW_ONLY, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from .screens.chat import ChatScreen


@dataclass(frozen=True)
class SlashCommand:
    """One command of the prompt."""

    _: KW_ONLY
    name: str
    """Typed as `/name`."""
    usage: str
    """How to type it, with its argument."""
    help: str
    """What it does, one line."""
    needs_idle: bool = False
    """Only when no reply is streaming."""


COMMANDS = (
    SlashCommand(name="help", usage="/help", help="the keys and commands (this list)"),
    SlashCommand(name="retry", usage="/retry", help="regenerate the last reply (Ctrl+G)", needs_idle=True),
    SlashCommand(name="model", usage="/model [NAME]", help="show the model, or go on with another", needs_idle=True),
    SlashCommand(name="history", usage="/history", help="browse and search conversations (Ctrl+O)", needs_idle=True),
    SlashCommand(name="new", usage="/new", help="start a new conversation (Ctrl+N)", needs_idle=True),
    SlashCommand(
        name="tree", usage="/tree", help="every version of every turn; pick one to show its branch", needs_idle=True
    ),
    SlashCommand(name="copy", usage="/copy", help="copy the last reply's markdown, or one of its code blocks"),
    SlashCommand(name="inspect", usage="/inspect", help="inspect the last turn: timeline, output, usage, request (F2)"),
    SlashCommand(
        name="export",
        usage="/export [PATH] [md|json]",
        help="write the conversation to a new private file (markdown by default)",
        needs_idle=True,
    ),
    SlashCommand(name="system", usage="/system", help="show the instructions (system prompt) the model gets"),
    SlashCommand(
        name="compact",
        usage="/compact [FOCUS]",
        help="replace older turns by a summary the model writes (the full conversation stays as a branch)",
        needs_idle=True,
    ),
)
BY_NAME = {command.name: command for command in COMMANDS}

KEYS = (
    ("Enter", "send the prompt; while a reply runs, queue it into the reply (delivered at its next request)"),
    ("Alt+Enter", "while a reply runs: queue the message to run after it"),
    ("Up (empty prompt, messages queued)", "take the last queued message back to edit"),
    ("@path", "attach a file (Tab completes; Backspace at the prompt's start removes the last file)"),
    ("Tab, then y / n", "approve or deny a tool call that asks for approval"),
    ("Ctrl+J (or Shift+Enter)", "new line in the prompt"),
    ("Esc / Ctrl+C", "interrupt the reply (kept and saved); close a panel"),
    ("Up / Down (empty prompt)", "recall the prompts sent before"),
    ("/ (empty prompt)", "list the commands as you type: Up/Down pick, Tab or Enter completes, Esc closes"),
    ("Ctrl+Up", "select a turn: Up/Down move, c copies, e edits, f forks, ←/→ versions, F2 inspects, Esc back"),
    ("F2", "inspect the last turn (or the selected one): timeline, output, usage, request, events"),
    ("Ctrl+G", "regenerate the last reply"),
    ("Ctrl+R", "reload the --agent file"),
    ("Ctrl+O", "conversations: browse, search, open, rename, delete"),
    ("Ctrl+N", "new conversation"),
    ("PgUp / PgDn, Ctrl+Home / Ctrl+End", "scroll the chat"),
    ("Ctrl+P", "command palette"),
    ("Ctrl+Q", "quit (a streaming reply is saved first)"),
)

_COMMAND = re.compile(r"/([A-Za-z][\w-]*)(?:\s+(.*))?", re.DOTALL)


_PARTIAL = re.compile(r"/([A-Za-z][\w-]*)?")


def completing(text: str) -> str | None:
    """The start of a command name that `text` is while it is being typed (`/` and nothing else gives ""), or
    None: nothing but a slash and letters of a name on one line (`/etc/hosts`, `/model x` and `//` are not)."""
    match = _PARTIAL.fullmatch(text)
    return None if match is None else match.group(1) or ""


def matching(partial: str) -> list[SlashCommand]:
    """The commands whose names start with `partial`, in the table's order."""
    start = partial.lower()
    return [command for command in COMMANDS if command.name.startswith(start)]


@dataclass(frozen=True)
class Parsed:
    """A prompt line read as a command."""

    command: SlashCommand | None
    """None: it looked like a command, but there is none by that name."""
    name: str
    """The name as typed."""
    argument: str = ""
    """What follows the name, stripped."""


def parse(text: str) -> Parsed | None:
    """The command `text` (already stripped) asks for, or None when it is a prompt for the model."""
    match = _COMMAND.fullmatch(text)
    if match is None:
        return None
    name = match.group(1)
    return Parsed(BY_NAME.get(name.lower()), name, (match.group(2) or "").strip())


def unescape(text: str) -> str:
    """`//text` is sent as `/text`."""
    return text[1:] if text.startswith("//") else text


def escape(prompt: str) -> str:
    """How to type `prompt` (as sent to the model) so that it is sent as it is: `unescape`'s inverse."""
    stripped = prompt.strip()
    return f"/{prompt}" if stripped.startswith("//") or parse(stripped) is not None else prompt


def export_target(argument: str, conversation_id: str) -> tuple[Path, str]:
    """Where `/export [PATH] [md|json]` writes, and in which form ("md" or "json"). Without a form, a PATH ending in
    .json asks for JSON; a PATH that is a directory (by default the current one) gets `xsus-<id>.md` in it."""
    path_text, form = argument.strip(), None
    if len(path_text) > 1 and path_text[0] == path_text[-1] and path_text[0] in "\"'":
        path_text = path_text[1:-1]  # a quoted PATH (it may hold spaces)
    elif path_text:
        *rest, last = path_text.rsplit(None, 1)
        if last.lower() in ("md", "markdown", "json"):
            path_text, form = (rest[0] if rest else ""), ("json" if last.lower() == "json" else "md")
    path = Path(path_text).expanduser() if path_text else Path.cwd()
    if form is None:
        form = "json" if path.suffix.lower() == ".json" else "md"
    if path.is_dir():
        path = path / f"xsus-{conversation_id[:8]}.{form}"
    return path, form


def unknown(name: str) -> str:
    """The one-line answer to `/name` when there is no such command."""
    close = difflib.get_close_matches(name.lower(), BY_NAME, n=1)
    guess = f" Did you mean /{close[0]}?" if close else ""
    listed = ", ".join(command.usage for command in COMMANDS)
    return f"There is no command /{name}.{guess} Commands: {listed}. To send text that starts with /, type //."


def help_text() -> str:
    """/help as plain text (one line each)."""
    width = max(len(key) for key, _ in KEYS)
    lines = ["Keys"]
    lines += [f"  {key.ljust(width)}  {what}" for key, what in KEYS]
    lines += ["", "Commands (answered by xsus, never sent to the model)"]
    width = max(len(command.usage) for command in COMMANDS)
    lines += [f"  {command.usage.ljust(width)}  {command.help}" for command in COMMANDS]
    lines += ["", "Text that starts with // is sent with one slash."]
    return "\n".join(lines)


def help_renderable() -> Any:
    """/help as the chat shows it: two columns, a description that wraps staying in its own (as plain text, a
    long one went back to the screen's edge, under the keys)."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    def table(rows: list[tuple[str, str]]) -> Table:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column(ratio=1)
        for name, what in rows:
            grid.add_row(Text(name), Text(what))
        return grid

    return Group(
        Text("Keys"),
        Padding(table(KEYS), (0, 0, 0, 2)),
        Text(""),
        Text("Commands (answered by xsus, never sent to the model)"),
        Padding(table([(command.usage, command.help) for command in COMMANDS]), (0, 0, 0, 2)),
        Text(""),
        Text("Text that starts with // is sent with one slash."),
    )


class SlashCommands(Provider):
    """The slash commands in the command palette (Ctrl+P)."""

    def _chat(self) -> ChatScreen | None:
        screen = self.screen
        return screen if hasattr(screen, "run_command") else None  # type: ignore[return-value]

    async def discover(self) -> Hits:
        if (chat := self._chat()) is None:
            return
        for command in COMMANDS:
            yield DiscoveryHit(command.usage, partial(chat.run_command, command, ""), help=command.help)

    async def search(self, query: str) -> Hits:
        if (chat := self._chat()) is None:
            return
        matcher = self.matcher(query)
        for command in COMMANDS:
            if (score := matcher.match(command.usage)) > 0:
                yield Hit(
                    score, matcher.highlight(command.usage), partial(chat.run_command, command, ""), help=command.help
                )
