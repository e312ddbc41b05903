"""`/tree`: the conversation's whole tree, one line per version of a turn; Enter shows that version in the chat.

Regenerating a reply (Ctrl+G, `/retry`) and sending an edited prompt keep the earlier versions in the store
(`ConversationStore.branch`); `core.index.ConversationTree` finds them again. Lines on the branch shown now are
marked ●, the others ○ and indented under the turn they branch from; `‹2/3›` is a version's place among its turn's.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from xsus_tui.core.index import ConversationTree, TreeLine
from xsus_tui.core.sanitize import inert


def tree_line(line: TreeLine, texts: dict[str, str], width: int = 200) -> Text:
    """One line of the tree, as `/tree` and `xsus history tree` show it."""
    version = line.version
    text = Text("  " * line.indent)
    text.append("● " if line.current else "○ ", style="bold" if line.current else "dim")
    text.append(f"{version.turn:>3} ", style="dim")
    if line.of > 1:
        text.append(f"‹{line.position}/{line.of}› ", style="bold" if line.current else "")
    text.append(inert(texts.get(version.prompt_id, "")), style="bold" if line.current else "")
    if version.reply_id is None:
        text.append("  (no reply)", style="dim italic")
    else:
        text.append("  → ", style="dim")
        text.append(inert(texts.get(version.reply_id, "")), style="dim")
    text.truncate(width, overflow="ellipsis")
    return text


class TreeScreen(Screen[TreeLine | None]):
    """Pick a version of any turn; the chat shows its branch."""

    DEFAULT_CSS = """
    TreeScreen #tree-list { height: 1fr; border: none; text-wrap: nowrap; text-overflow: ellipsis; }
    TreeScreen #tree-status { height: 1; padding: 0 2; color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "back", "Back"), Binding("enter", "pick", "Show this version", priority=True)]

    def __init__(self, tree: ConversationTree, texts: dict[str, str]) -> None:
        super().__init__()
        self.conversation_tree = tree
        self.texts = texts
        self.lines = tree.lines()

    def compose(self) -> ComposeResult:
        yield Static("Conversation tree", classes="screen-title")
        yield OptionList(*(Option(tree_line(line, self.texts)) for line in self.lines), id="tree-list")
        versions = sum(line.of > 1 for line in self.lines)
        turns = len({line.version.turn for line in self.lines})
        yield Static(
            f"{len(self.lines)} version{'' if len(self.lines) == 1 else 's'} of {turns} turn{'' if turns == 1 else 's'}"
            + (f" · {versions} on turns with more than one" if versions else " · no other versions yet"),
            id="tree-status",
        )
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Conversation tree"
        options = self.query_one(OptionList)
        options.focus()
        current = [index for index, line in enumerate(self.lines) if line.current]
        if current:
            options.highlighted = current[-1]

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.lines[event.option_index])

    def action_pick(self) -> None:
        index = self.query_one(OptionList).highlighted
        if index is not None:
            self.dismiss(self.lines[index])

    def action_back(self) -> None:
        self.dismiss(None)
