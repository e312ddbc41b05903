"""The conversation browser (Ctrl+O): every stored conversation, newest first, and search over everything said.

An empty query lists conversations a page at a time (title, agent or model, last update, turns, the start of the
last reply). Typing searches at once: titles that contain the words, then the messages that match (FTS5, see
`core/index.py`), each with its snippet and the matches highlighted. Enter opens the choice in the chat (at the
matching turn for a message), F2 renames, Delete (at the end of the search text) deletes after a confirmation that
names what goes, Ctrl+Z brings
the last deleted conversation back while the app runs, Ctrl+N starts a new conversation, Esc goes back.

Every store call runs on the store's thread: the screen stays responsive on a store of any size or under a lock.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from xsus_tui.core.index import MARK_END, MARK_START, ConversationSummary, SearchHit
from xsus_tui.core.sanitize import inert
from xsus_tui.core.store import StoreError
from xsus_tui.core.usage import format_brief
from xsus_tui.ui.widgets.inputs import OrderedInput

if TYPE_CHECKING:
    from xsus_tui.core.store import SQLiteConversationStore

PAGE = 50
"""Conversations fetched at a time; the next page is fetched when the highlight nears the end."""
TITLE_HITS = 20


@dataclass(frozen=True)
class Opened:
    """What the browser was closed with: open this conversation (at this entry, for a search hit)."""

    conversation_id: str | None
    """None: a new conversation."""
    entry_id: str | None = None


def when(moment: datetime) -> str:
    """A last update, short: the time today, the date otherwise."""
    local = moment.astimezone()
    now = datetime.now().astimezone()
    if local.date() == now.date():
        return local.strftime("%H:%M")
    if local.year == now.year:
        return local.strftime("%b %d")
    return local.strftime("%Y-%m-%d")


def marked(snippet: str, style: str = "bold reverse") -> Text:
    """A search snippet with its matches (between MARK_START and MARK_END) highlighted."""
    text = Text()
    rest = snippet
    while MARK_START in rest:
        before, rest = rest.split(MARK_START, 1)
        match, _, rest = rest.partition(MARK_END)
        text.append(inert(before))
        text.append(inert(match), style=style)
    text.append(inert(rest))
    return text


def conversation_row(row: ConversationSummary, *, current: bool = False, title: Text | None = None) -> Text:
    who = row.agent or row.model or ""
    turns = f"{row.turns} turn" + ("" if row.turns == 1 else "s")
    head = Text()
    head.append("● " if current else "  ", style="bold")
    head.append_text(title or Text(inert(row.title), style="bold"))
    usage = f" · {brief}" if (brief := format_brief(row.usage)) else ""
    head.append(f"  {turns} · {when(row.updated_at)}{usage}" + (f" · {inert(who)}" if who else ""), style="dim")
    head.append("\n    ")
    head.append(inert(row.preview) or "(no reply yet)", style="dim italic")
    head.no_wrap, head.overflow = True, "ellipsis"  # each line one line, cut to the width
    return head


def hit_row(hit: SearchHit) -> Text:
    head = Text()
    head.append("  ")
    head.append(inert(hit.conversation.title), style="bold")
    head.append(f"  turn {hit.turn} · {hit.role} · {when(hit.said_at or hit.conversation.updated_at)}", style="dim")
    head.append("\n    ")
    head.append_text(marked(hit.snippet))
    head.no_wrap, head.overflow = True, "ellipsis"
    return head


class BrowserScreen(Screen[Opened | None]):
    """Find, open, rename and delete conversations."""

    DEFAULT_CSS = """
    BrowserScreen { layout: vertical; }
    BrowserScreen #browse-query { margin: 0 1; }
    BrowserScreen #browse-list { height: 1fr; border: none; text-wrap: nowrap; text-overflow: ellipsis; }
    BrowserScreen #browse-status { height: 1; padding: 0 2; color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open", "Open", show=True, priority=True),
        Binding("ctrl+n", "new", "New"),
        Binding("f2", "rename", "Rename"),
        Binding("delete", "delete", "Delete", priority=True),
        Binding("ctrl+z", "undo", "Undo delete"),
        Binding("down", "move(1)", show=False, priority=True),
        Binding("up", "move(-1)", show=False, priority=True),
        Binding("pagedown", "move(10)", show=False, priority=True),
        Binding("pageup", "move(-10)", show=False, priority=True),
    ]

    def __init__(self, store: SQLiteConversationStore, current: str | None, deleted: list[ConversationSummary]) -> None:
        super().__init__()
        self.store = store
        self.current = current
        """The conversation open in the chat (marked in the list)."""
        self.deleted = deleted
        """The conversations deleted while the app runs, last one last (the app keeps the list: undo)."""
        self.rows: list[ConversationSummary | SearchHit] = []
        self._exhausted = False
        self._query = ""

    def compose(self) -> ComposeResult:
        # Not Textual's Header: it queries itself after mounting, and fails when the screen is already gone (a quick
        # Ctrl+O, Esc).
        yield Static("Conversations", classes="screen-title")
        yield OrderedInput(placeholder="Search conversations: titles and everything said", id="browse-query")
        yield OptionList(id="browse-list")
        yield Static("", id="browse-status")
        yield Footer()

    @property
    def options(self) -> OptionList:
        return self.query_one("#browse-list", OptionList)

    def on_mount(self) -> None:
        self.title = "Conversations"
        self.query_one(Input).focus()
        self.refresh_rows()

    # -- filling the list ---------------------------------------------------------------------------------

    @on(Input.Changed, "#browse-query")
    def _typed(self, event: Input.Changed) -> None:
        self._query = event.value.strip()
        self.refresh_rows()

    def refresh_rows(self, keep: str | None = None) -> None:
        """Fill the list again for the query (keeping `keep`'s row highlighted when it is still there)."""
        self._fill(self._query, keep)

    @work(exclusive=True, group="browse")
    async def _fill(self, query: str, keep: str | None) -> None:
        try:
            await self._fill_rows(query, keep)
        except NoMatches:  # closed (Esc) while the store was answering
            return

    async def _fill_rows(self, query: str, keep: str | None) -> None:
        status = self.query_one("#browse-status", Static)
        try:
            if query:
                titles = await self.store.page(limit=TITLE_HITS, title=query)
                hits = await self.store.search(query, limit=PAGE)
                rows: list[ConversationSummary | SearchHit] = [*titles, *hits]
                self._exhausted = True
            else:
                rows = list(await self.store.page(limit=PAGE))
                self._exhausted = len(rows) < PAGE
        except StoreError as error:
            status.update(Text(str(error), style="bold $error"))
            return
        if query != self._query or not self.is_attached:
            return  # typed on meanwhile (the newer search fills the list), or closed
        self.rows = rows
        options = self.options
        options.clear_options()
        options.add_options(self._option(row, query) for row in rows)
        if rows:
            index = next((i for i, row in enumerate(rows) if keep and _id_of(row) == keep), 0)
            options.highlighted = index
        status.update(self._status_text(query, rows))

    def _option(self, row: ConversationSummary | SearchHit, query: str) -> Option:
        if isinstance(row, SearchHit):
            return Option(hit_row(row))
        title = None
        if query:
            title = Text(inert(row.title), style="bold")
            title.highlight_words([query], style="reverse", case_sensitive=False)
        return Option(conversation_row(row, current=row.conversation_id == self.current, title=title))

    def _status_text(self, query: str, rows: list) -> Text:
        if not query:
            if not rows:
                return Text("No conversations yet. Ctrl+N or Esc, then type a prompt.")
            more = "+" if not self._exhausted else ""
            return Text(f"{len(rows)}{more} conversation{'' if len(rows) == 1 and not more else 's'}, newest first")
        titles = sum(isinstance(row, ConversationSummary) for row in self.rows)
        hits = len(self.rows) - titles
        short = len(query) < 3
        if not rows:
            return Text("Type at least 3 characters to search what was said." if short else "Nothing found.")
        found = f"{titles} title{'' if titles == 1 else 's'}"
        if short:
            return Text(f"{found} · messages are searched from 3 characters on")
        return Text(f"{found}, {hits}{'+' if hits == PAGE else ''} message{'' if hits == 1 else 's'}")

    async def _more(self) -> None:
        """The next page of conversations (no query)."""
        if self._query or self._exhausted:
            return
        try:
            rows = await self.store.page(limit=PAGE, offset=len(self.rows))
        except StoreError:
            return
        if self._query or not self.is_attached:
            return
        self._exhausted = len(rows) < PAGE
        self.rows.extend(rows)
        with contextlib.suppress(NoMatches):
            self.options.add_options(self._option(row, "") for row in rows)
            self.query_one("#browse-status", Static).update(self._status_text("", self.rows))

    # -- acting on the highlighted row ----------------------------------------------------------------------

    def _selected(self) -> ConversationSummary | SearchHit | None:
        index = self.options.highlighted
        return self.rows[index] if index is not None and 0 <= index < len(self.rows) else None

    def action_move(self, step: int) -> None:
        options = self.options
        if not self.rows:
            return
        index = options.highlighted or 0
        options.highlighted = max(0, min(len(self.rows) - 1, index + step))
        if not self._exhausted and options.highlighted >= len(self.rows) - 10:
            self.run_worker(self._more(), group="more", exclusive=True)

    @on(OptionList.OptionSelected, "#browse-list")
    def _clicked(self, event: OptionList.OptionSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        row = self._selected()
        if row is None:
            return
        if isinstance(row, SearchHit):
            self.dismiss(Opened(row.conversation.conversation_id, row.entry_id))
        else:
            self.dismiss(Opened(row.conversation_id))

    def action_new(self) -> None:
        self.dismiss(Opened(None))

    def action_back(self) -> None:
        self.dismiss(None)

    def action_rename(self) -> None:
        row = self._selected()
        if row is None:
            return
        summary = row.conversation if isinstance(row, SearchHit) else row

        async def renamed(title: str | None) -> None:
            if title is None:
                return
            try:
                await self.store.rename(summary.conversation_id, title)
            except (StoreError, ValueError, KeyError) as error:
                self.notify(str(error) or "That conversation is gone.", severity="error")
                return
            self.refresh_rows(keep=summary.conversation_id)

        self.app.push_screen(RenameScreen(summary.title), renamed)

    def action_delete(self) -> None:
        query = self.query_one("#browse-query", Input)
        if query.has_focus and query.cursor_position < len(query.value):
            query.action_delete_right()  # Delete inside the search text deletes a character, as it would there
            return
        row = self._selected()
        if row is None:
            return
        summary = row.conversation if isinstance(row, SearchHit) else row

        async def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            try:
                gone = await self.store.delete_soft(summary.conversation_id)
            except (StoreError, KeyError) as error:
                self.notify(str(error) or "That conversation is gone already.", severity="error")
                return
            self.deleted.append(gone)
            self.notify(f"Deleted “{inert(gone.title)}”. Ctrl+Z in this list brings it back until you quit.")
            self.refresh_rows()

        self.app.push_screen(ConfirmDelete(summary), confirmed)

    async def action_undo(self) -> None:
        if not self.deleted:
            self.notify("Nothing deleted to bring back.")
            return
        last = self.deleted.pop()
        try:
            await self.store.undelete(last.conversation_id)
        except (StoreError, KeyError) as error:
            self.notify(str(error) or "It can't be brought back any more.", severity="error")
            return
        self.notify(f"Brought back “{inert(last.title)}”.")
        self.refresh_rows(keep=last.conversation_id)


def _id_of(row: ConversationSummary | SearchHit) -> str:
    return row.conversation.conversation_id if isinstance(row, SearchHit) else row.conversation_id


class ConfirmDelete(ModalScreen[bool]):
    """Delete this conversation? Names what goes."""

    DEFAULT_CSS = """
    ConfirmDelete { align: center middle; }
    ConfirmDelete > Vertical { width: 70; height: auto; border: thick $error; background: $surface; padding: 1 2; }
    ConfirmDelete Horizontal { height: auto; margin-top: 1; }
    ConfirmDelete Button { margin-right: 2; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("y", "delete", "Delete", show=False),
        Binding("left", "app.focus_previous", show=False),
        Binding("right", "app.focus_next", show=False),
    ]

    def __init__(self, summary: ConversationSummary) -> None:
        super().__init__()
        self.summary = summary

    def compose(self) -> ComposeResult:
        row = self.summary
        what = Text()
        what.append("Delete “")
        what.append(inert(row.title), style="bold")
        turns = f"{row.turns} turn" + ("" if row.turns == 1 else "s")
        what.append(f"”?\n{turns}, {row.messages} messages, last updated {when(row.updated_at)}, and every branch.")
        what.append("\nCtrl+Z in the list brings it back until you quit.", style="dim")
        with Vertical():
            yield Label(what)
            with Horizontal():
                yield Button("Delete", variant="error", id="delete")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "delete")

    def action_delete(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class RenameScreen(ModalScreen[str | None]):
    """A new title for a conversation."""

    DEFAULT_CSS = """
    RenameScreen { align: center middle; }
    RenameScreen > Vertical { width: 70; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.current = title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Rename the conversation (Enter saves, Esc cancels)")
            yield OrderedInput(value=self.current, id="rename")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        title = event.value.strip()
        self.dismiss(title or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
