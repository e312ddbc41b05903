"""A page of stored turns: rendered while near the viewport, unloaded to its height when far away.

A resumed conversation can hold thousands of turns. Rendering them all would take minutes and
gigabytes; keeping every page rendered once scrolled past makes each later page slower to add and
memory grow with the history. A `HistoryPage` keeps its turns as replay data and holds widgets only
while it is within a screen of the viewport (see folding.py): when folded it removes its children and
keeps its height, so the chat's layout stays the same and memory stays flat.
"""

from __future__ import annotations

from textual.containers import Vertical
from textual.widget import Widget

from xsus_tui.core.replay import PastTurn

from .reply import AssistantReply
from .user_message import UserMessage


class HistoryPage(Vertical):
    DEFAULT_CSS = """
    HistoryPage {
        height: auto;
    }
    """

    foldable = True

    def __init__(self, turns: list[PastTurn]) -> None:
        super().__init__(classes="history-page")
        self.turns = turns
        self.loaded = False
        self._loading = False

    @property
    def prompts(self) -> list[str]:
        return [turn.prompt for turn in self.turns]

    async def load(self) -> None:
        """Render the page's turns (again), from the stored messages."""
        if self.loaded or self._loading:
            return
        self._loading = True
        chat = self.parent
        before = self.outer_size.height
        above = chat is not None and self.region.bottom <= chat.content_region.y
        try:
            widgets, replies = [], []
            for turn in self.turns:
                reply = AssistantReply()
                widgets += [UserMessage(turn.prompt), reply]
                replies.append((reply, turn.events))
            with self.app.batch_update():
                await self.mount_all(widgets)
                for reply, events in replies:
                    for event in events:
                        await reply.apply(event)
                self.styles.height = None
            self.loaded = True
        finally:
            self._loading = False
        if above and before and isinstance(chat, Widget):
            # Rendered at another width than its kept height: content above the view changed
            # height, so move the view with it.
            def keep_place() -> None:
                if (grown := self.outer_size.height - before) != 0:
                    chat.scroll_to(y=chat.scroll_y + grown, animate=False, immediate=True)

            self.call_after_refresh(keep_place)

    def fold_away(self) -> None:
        """Folded (its height fixed, see folding.fold): drop the widgets too."""
        if not self.loaded or self._loading:
            return
        self.loaded = False
        self.call_later(self._unload)

    async def _unload(self) -> None:
        await self.remove_children()
        # Textual caches the last arrangements and displayed children of a container; left alone,
        # those would keep the removed widgets alive until the page next changes.
        self._clear_arrangement_cache()
        self.displayed_children  # noqa: B018 - refreshes the displayed-children cache

    def unfold_back(self) -> None:
        self.call_later(self.load)
