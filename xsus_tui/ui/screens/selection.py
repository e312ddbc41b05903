"""Selecting a turn (Ctrl+Up from the prompt), and what can be done with the selected one.

A turn is a UserMessage and the AssistantReply after it. While one is selected, the chat (ChatLog) holds
the focus, the turn carries the `-selected` class on both widgets and is scrolled into view, and the
prompt keeps its text (and its cursor) for when the selection ends. The keys:

    Up / Down        the previous / next turn; turns in history pages and page stacks are rendered as the
                     selection reaches them (ChatLog.open_slot), older stored turns too; Down past the last
                     turn goes back to the prompt
    c                copy the reply (a picker first when it has two or more code blocks; see copying.py)
    Esc / Enter      back to the prompt; a printable key goes back to the prompt and is typed there
    a click          on a prompt in the chat selects its turn
    SELECTION_KEYS   more keys (edit, fork, branches...): a key -> SelectionKey(hint, method) entry and a
                     method taking the SelectedTurn; the hint line lists them while selecting

Esc while a turn is selected only goes back to the prompt, even while a reply streams (one step back at a
time, as an open help panel closes first); a second Esc, from the prompt, interrupts. Ctrl+C interrupts
a streaming reply at once, selected or not.

The selected turn's widgets stay: ChatLog never folds its page away nor pages the turn out while it is
selected, so the selection can't point at a removed widget.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, NamedTuple

from textual import events
from textual.screen import Screen

from ..copying import CopyPicker, block_label, code_blocks, reply_markdown, whole_reply_label
from ..widgets.history_gap import TurnGap
from ..widgets.history_page import HistoryPage
from ..widgets.reply import AssistantReply
from ..widgets.user_message import UserMessage

if TYPE_CHECKING:
    from ..widgets.prompt import PromptInput
    from .chat import ChatLog

SELECTED = "-selected"


class SelectedTurn(NamedTuple):
    """The selected turn: `user, reply = screen.selected_turn()`."""

    user: UserMessage
    reply: AssistantReply


@dataclass(frozen=True)
class SelectionKey:
    """A key that acts on the selected turn."""

    hint: str | None
    """Shown on the hint line while selecting (`e edit`); None: not shown (another key's hint covers it,
    as `←→ branches` covers both Left and Right)."""
    method: str
    """The name of a ChatScreen method called with the SelectedTurn (it may be async)."""


class TurnSelectionScreen(Screen):
    """ChatScreen's turn selection (ChatScreen's base: it uses the screen's chat, prompt and older-turn pages)."""

    SELECTION_KEYS: ClassVar[dict[str, SelectionKey]] = {
        "c": SelectionKey("c copy", "copy_turn"),
    }
    """The keys that act on the selected turn besides Up, Down and Esc (the extension point for e, f, ←→)."""

    IDLE_HINT = ""
    BUSY_HINT = ""

    if TYPE_CHECKING:

        @property
        def chat(self) -> ChatLog: ...

        @property
        def prompt(self) -> PromptInput: ...

        @property
        def turn_running(self) -> bool: ...

        async def _open_gap(self, gap: TurnGap, *, last: bool) -> list[UserMessage]: ...

    _follow_after_selection = False

    # -- the extension point ------------------------------------------------------------------------------

    def selected_turn(self) -> SelectedTurn | None:
        """The selected turn's UserMessage and AssistantReply, or None when no turn is selected."""
        return self.chat.selected

    @property
    def selecting(self) -> bool:
        return self.chat.selected is not None

    def selection_hint(self) -> str:
        hints = [key.hint for key in self.SELECTION_KEYS.values() if key.hint]
        return " · ".join(["↑↓ move", *hints, "Esc back"])

    def show_hint(self, *, busy: bool | None = None) -> None:
        """The hint under the prompt: the selection's keys, or those of a streaming (`busy`) or idle chat."""
        if busy is None:
            busy = self.turn_running
        if self.selecting:
            hint = self.selection_hint()
        else:
            hint = self.BUSY_HINT if busy else self.IDLE_HINT
        self.prompt.border_subtitle = hint

    # -- selecting ----------------------------------------------------------------------------------------

    async def action_select_turn(self) -> None:
        """Ctrl+Up: select the last turn (the previous one when a turn is selected already)."""
        if self.selecting:
            await self.move_selection(-1)
            return
        slots = self.chat.turn_slots()
        if not slots:
            self.app.bell()
            return
        last = slots[-1]
        if not isinstance(last, UserMessage):  # (never, as the last turns stay widgets; but to be sure)
            users = await self.chat.open_slot(last, last=True)
            if not users:
                return
            last = users[-1]
        self._follow_after_selection = self.chat.following
        self.select(last)

    def select(self, user: UserMessage) -> None:
        """Select the turn of `user` (a UserMessage in the chat, or in a rendered page), scroll it into
        view and give the chat the focus."""
        parent = user.parent
        siblings = list(parent.children) if parent is not None else []
        index = siblings.index(user) if user in siblings else -1
        reply = siblings[index + 1] if 0 <= index < len(siblings) - 1 else None
        if not isinstance(reply, AssistantReply):
            return
        previous = self.chat.selected
        if previous is not None:
            for widget in previous:
                widget.remove_class(SELECTED)
        self.chat.selected = SelectedTurn(user, reply)
        user.add_class(SELECTED)
        reply.add_class(SELECTED)
        if self.focused is not self.chat:
            # At once, not after a refresh as `focus()` does: the keys typed next go to the selection.
            self.set_focus(self.chat, scroll_visible=False)
        self.show_hint()
        self.chat.call_after_refresh(self._scroll_to_selected)

    def _scroll_to_selected(self) -> None:
        """The selected turn fully in view; one taller than the view shows its top (the prompt)."""
        selected = self.chat.selected
        if selected is None or not selected.user.is_attached:
            return
        chat = self.chat
        user, reply = selected
        region = user.virtual_region_with_margin.union(reply.virtual_region_with_margin)
        container = user.parent
        if isinstance(container, HistoryPage):  # its regions are the page's: into the chat's
            region = region.translate(container.virtual_region_with_margin.offset)
        window = chat.scrollable_content_region
        chat.scroll_to_region(region, animate=False, immediate=True, top=region.height > window.height)

    async def move_selection(self, step: int) -> None:
        """Select the previous (-1) or next (+1) turn; past the last turn, go back to the prompt."""
        selected = self.chat.selected
        if selected is None:
            return
        chat = self.chat
        slots = chat.turn_slots()
        if selected.user not in slots:  # (taken off the screen after all: regenerated, say)
            self.end_selection()
            return
        index = slots.index(selected.user) + step
        if index < 0:
            self.app.bell()
            return
        if index >= len(slots):
            self.end_selection()
            return
        target = slots[index]
        if isinstance(target, TurnGap):  # stored turns not rendered yet: the page of them next to this turn
            users = await self._open_gap(target, last=step < 0)
            if not users:
                return
            target = users[-1] if step < 0 else users[0]
        elif not isinstance(target, UserMessage):
            users = await chat.open_slot(target, last=step < 0)
            if not users:
                return
            target = users[-1] if step < 0 else users[0]
        self.select(target)

    def end_selection(self, *, to_prompt: bool = True) -> None:
        """Back to the prompt, with its text as it was; a chat that followed the stream follows again."""
        selected = self.chat.selected
        if selected is None:
            return
        for widget in selected:
            widget.remove_class(SELECTED)
        self.chat.selected = None
        self.show_hint()
        if to_prompt:
            self.set_focus(self.prompt)  # at once: the keys typed next go to the prompt
        if self._follow_after_selection:
            self.chat.anchor()
        self.chat.schedule_refold()  # what was kept for the selection may fold now

    # -- keys while selecting -----------------------------------------------------------------------------

    async def on_key(self, event: events.Key) -> None:
        selected = self.chat.selected
        if selected is None:
            if self.focused is self.prompt and event.is_printable and event.character:
                # Typed fast after a key that ended the selection: it was on its way to the chat then (the
                # prompt stops every printable key it gets). It is typed where typing goes now.
                event.stop()
                event.prevent_default()
                self.prompt.insert(event.character)
            return
        if self.focused is not self.chat:
            return
        key = event.key
        if key in ("up", "down"):
            event.stop()
            event.prevent_default()
            await self.move_selection(-1 if key == "up" else 1)
        elif (action := self.SELECTION_KEYS.get(key)) is not None:
            event.stop()
            event.prevent_default()
            result = getattr(self, action.method)(selected)
            if inspect.isawaitable(result):
                await result
        elif key == "enter":
            event.stop()
            event.prevent_default()
            self.end_selection()
        elif event.is_printable and event.character:
            event.stop()
            event.prevent_default()
            self.end_selection()
            self.prompt.insert(event.character)  # where the prompt's cursor was: typing goes on there

    def on_click(self, event: events.Click) -> None:
        """A click on a prompt in the chat selects its turn (a click in a reply is left to text selection)."""
        if isinstance(event.widget, UserMessage) and event.widget.display:
            if not self.selecting:
                self._follow_after_selection = self.chat.following
            self.select(event.widget)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Something else took the focus (Tab, a click on the prompt or a panel): the selection ends."""
        if self.selecting and event.widget is not self.chat:
            self.end_selection(to_prompt=False)

    # -- copying ------------------------------------------------------------------------------------------

    def copy_turn(self, turn: SelectedTurn) -> None:
        """`c`: copy the selected turn's reply."""
        self.copy_reply(turn.reply)

    def copy_reply(self, reply: AssistantReply) -> None:
        """Copy the reply's markdown to the clipboard; with two or more code blocks, ask which first."""
        markdown = reply_markdown(reply.events)
        if not markdown.strip():
            self.notify("This reply has no text to copy.")
            return
        blocks = code_blocks(markdown)
        if len(blocks) < 2:
            self._copy(markdown, whole_reply_label(markdown))
            return

        def chosen(choice: int | None) -> None:
            if choice is None:
                return
            if choice < 0:
                self._copy(markdown, whole_reply_label(markdown))
            else:
                self._copy(blocks[choice].code, block_label(choice, blocks[choice]))

        self.app.push_screen(CopyPicker(markdown, blocks), chosen)

    def _copy(self, text: str, what: str) -> None:
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {what}.")
