"""The slash commands matching what is typed, listed above the prompt while a command's name is typed; and the
files and directories matching an `@path` being typed (PathEntry options, their ids starting with `@`).

The list never takes the focus: typing goes on in the prompt, which moves the highlight (Up/Down), completes
(Tab, Enter on a highlighted entry) and closes it (Esc). See PromptInput.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from xsus_tui.core.attachments import PathEntry, human_size
from xsus_tui.core.sanitize import inert

from .. import commands


class CommandCompletions(OptionList, can_focus=False):
    """The commands whose names start with what follows the prompt's `/`, each with its usage and help."""

    DEFAULT_CSS = """
    CommandCompletions {
        display: none;
        height: auto;
        max-height: 14;
        scrollbar-size-vertical: 1;
        margin: 0 1;
        padding: 0 1;
        border: round $primary 40%;
        background: $surface;
        &.-open {
            display: block;
        }
        & > .option-list--option-highlighted {
            color: $block-cursor-foreground;
            background: $block-cursor-background;
            text-style: $block-cursor-text-style;
        }
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.partial: str | None = None
        """The start of a name the list shows the commands for (for paths: `@` and the path); None: closed."""
        self.paths: dict[str, PathEntry] = {}
        """The listed paths by option id, when the list shows paths."""

    @property
    def is_open(self) -> bool:
        return self.partial is not None

    def show(self, partial: str) -> bool:
        """Open (or narrow) the list on the commands starting with `partial`; closed when none does."""
        if partial == self.partial:
            return True
        found = commands.matching(partial)
        if not found:
            self.close()
            return False
        width = max(len(command.usage) for command in commands.COMMANDS)
        options = []
        for command in found:
            line = Text(command.usage.ljust(width), style="bold")
            line.append("  ")
            line.append(command.help, style="dim")
            line.no_wrap = True
            line.overflow = "ellipsis"
            options.append(Option(line, id=command.name))
        self.partial = partial
        self.set_options(options)  # (no entry highlighted: Enter on a whole name still runs it)
        self.add_class("-open")
        return True

    def show_paths(self, partial: str, entries: list[PathEntry]) -> bool:
        """Open (or narrow) the list on the files and directories `entries` (those starting with `partial`)."""
        key = "@" + partial
        if key == self.partial:
            return True
        if not entries:
            self.close()
            return False
        options = []
        self.paths = {}
        for entry in entries:
            line = Text(inert(entry.path), style="bold" if entry.is_dir else "")
            if entry.size is not None:
                line.append(f"  {human_size(entry.size)}", style="dim")
            line.no_wrap = True
            line.overflow = "ellipsis"
            option_id = f"@{len(self.paths)}"
            self.paths[option_id] = entry
            options.append(Option(line, id=option_id))
        self.partial = key
        self.set_options(options)
        self.add_class("-open")
        return True

    @property
    def showing_paths(self) -> bool:
        return self.partial is not None and self.partial.startswith("@")

    @property
    def chosen_path(self) -> PathEntry | None:
        """The highlighted path, else the first listed (Tab completes to it)."""
        if not self.showing_paths or not self.option_count:
            return None
        option = self.highlighted_option or self.options[0]
        return self.paths.get(option.id or "")

    def close(self) -> None:
        if self.partial is None:
            return
        self.partial = None
        self.paths = {}
        self.remove_class("-open")
        self.clear_options()

    def move(self, step: int) -> None:
        """Highlight the next (1) or previous (-1) entry, round the ends; from none, the first or the last."""
        count = self.option_count
        if not count:
            return
        current = self.highlighted
        if current is None:
            self.highlighted = 0 if step > 0 else count - 1
        else:
            self.highlighted = (current + step) % count

    @property
    def chosen(self) -> commands.SlashCommand | None:
        """The highlighted entry's command."""
        option = self.highlighted_option
        return None if option is None or option.id is None else commands.BY_NAME.get(option.id)

    @property
    def first(self) -> commands.SlashCommand | None:
        return commands.BY_NAME.get(self.options[0].id or "") if self.option_count else None
