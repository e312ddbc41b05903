"""A page of stored turns: rendered while near the viewport, unloaded to its height when far away.

A resumed conversation can hold thousands of turns. Rendering them all would take minutes and
gigabytes; keeping every page rendered once scrolled past makes each later page slower to add and
memory grow with the history. A `HistoryPage` keeps its turns as replay data and holds widgets only
while it is within a screen of the viewport (see folding.py): when folded it removes its children and
keeps its height, so the chat's layout stays the same and memory stays flat.

Live turns end up in pages too: once a finished turn is far from the view, the chat moves it into a
folded page (`HistoryPage.paged`, or `add` to the folded page just above it), with the events its
reply rendered, and removes its widgets (see ChatLog.page_out).
"""

from __future__ import annotations

from collections.abc import Callable

from textual.containers import Vertical
from textual.geometry import Region
from textual.widget import Widget

from xsus_tui.core.replay import PastTurn

from .. import compat
from ..folding import FOLDED
from .reply import AssistantReply
from .user_message import UserMessage

PAGE_TURNS = 10
"""Most live turns put into one page (stored turns come a page of HISTORY_PAGE at a time)."""


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
        self.paged_out = False
        """Holds live turns taken off the screen (not stored turns shown on resuming): may join a PageStack."""

    @classmethod
    def paged(cls, turns: list[PastTurn], height: int) -> HistoryPage:
        """A page for turns taken off the screen: folded, its widgets not built, `height` lines high."""
        page = cls(turns)
        page.paged_out = True
        page.styles.height = height
        page.add_class(FOLDED)
        return page

    @property
    def can_stack(self) -> bool:
        """A full page of live turns, folded with no widgets inside: it may join a PageStack."""
        folded = self.has_class(FOLDED) and not self.loaded and not self._loading and not self.children
        return folded and self.paged_out and len(self.turns) >= PAGE_TURNS

    @property
    def can_add(self) -> bool:
        """A page of live turns, folded and not full: turns taken off the screen just below may join it."""
        folded = self.has_class(FOLDED) and not self.loaded and not self._loading
        return folded and self.paged_out and len(self.turns) < PAGE_TURNS

    def add(self, turns: list[PastTurn], height: int) -> None:
        """Append turns taken off the screen just below this folded page, `height` lines more."""
        self.turns.extend(turns)
        self.styles.height = int(self.styles.height.value) + height  # folded: its height is fixed

    @property
    def prompts(self) -> list[str]:
        return [turn.prompt for turn in self.turns]

    async def load(self, *, last_first: int | None = None) -> None:
        """Render the page's turns (again), from the stored messages. With `last_first`, only that many of its
        last turns now, and the ones above them once those are on screen (a conversation opening: its first
        paint waits for the turns it shows, not for the whole page)."""
        if self.loaded or self._loading or self._pruning or not self.is_attached:
            return  # (removed meanwhile: taken into a PageStack)
        self._loading = True
        chat = self.parent
        before = self.outer_size.height
        above = chat is not None and self.region.bottom <= chat.content_region.y
        split = 0 if last_first is None else max(0, len(self.turns) - last_first)
        try:
            await self._mount_turns(self.turns[split:])
            self.styles.height = None
            self.loaded = True
        finally:
            self._loading = split > 0
        if split:
            self.call_after_refresh(self._render_above, self.turns[:split])
        if above and before and isinstance(chat, Widget):
            # Rendered at another width than its kept height: content above the view changed
            # height, so move the view with it.
            def keep_place() -> None:
                if (grown := self.outer_size.height - before) != 0:
                    chat.scroll_to(y=chat.scroll_y + grown, animate=False, immediate=True)

            self.call_after_refresh(keep_place)

    async def _mount_turns(self, turns: list[PastTurn], *, before: Widget | None = None) -> None:
        widgets, replies = [], []
        for turn in turns:
            reply = AssistantReply()
            user = UserMessage(
                turn.prompt,
                number=turn.number,
                versions=turn.versions,
                attachments=turn.attachments,
                summary=turn.summary,
                summarized=turn.summarized,
                steered=turn.steered,
            )
            widgets += [user, reply]
            replies.append((reply, turn.events))
        with self.app.batch_update():
            await self.mount_all(widgets, before=before)
            for reply, events in replies:
                for event in events:
                    await reply.apply(event)

    async def _render_above(self, turns: list[PastTurn]) -> None:
        """The rest of a page `load(last_first=...)` began: its turns above those already rendered."""
        try:
            if self.is_attached and self.loaded and self.children:
                await self._mount_turns(turns, before=self.children[0])
        finally:
            self._loading = False

    async def open(self) -> None:
        """Render the page now, unfolded (a turn selected in it): unlike `unfold_back`, done when this returns."""
        self.remove_class(FOLDED)
        if self.loaded:
            return
        if self.children:  # folded a moment ago: its unload is still to come
            await self.remove_children()
        await self.load()

    def fold_away(self) -> None:
        """Folded (its height fixed, see folding.fold): drop the widgets too."""
        if not self.loaded or self._loading:
            return
        self.loaded = False
        self.call_later(self._unload)

    async def _unload(self) -> None:
        if self.loaded:  # rendered again meanwhile (`open`)
            return
        await self.remove_children()
        # Textual caches the last arrangements and displayed children of a container; left alone,
        # those would keep the removed widgets alive until the page next changes.
        compat.forget_arrangement(self)
        self.displayed_children  # noqa: B018 - refreshes the displayed-children cache

    def unfold_back(self) -> None:
        self.call_later(self.load)


class PageStack(Widget):
    """Folded pages next to each other, far from the view, as one empty box of their height.

    A folded page is one widget with no children; a long chat would still gather one a page (and each
    widget has a task). The chat stacks runs of them (ChatLog.stack_pages) and takes back out, as folded
    pages, the ones that come near the view again (`split`).
    """

    DEFAULT_CSS = """
    PageStack {
        height: auto;
    }
    """

    def __init__(self) -> None:
        super().__init__(classes="page-stack")
        self.pages: list[tuple[list[PastTurn], int]] = []
        """Each page's turns and height, top to bottom."""

    def _set_dirty(self, *regions: Region) -> None:
        super()._set_dirty(*regions)
        # Textual keeps the lines to repaint as a set of line numbers: for a stack thousands of lines
        # tall, which is never painted (it is split when it comes near), that set grew with the chat.
        compat.forget_dirty_lines(self)

    def add(self, widget: HistoryPage | PageStack, height: int) -> None:
        """Take in a folded page (or another stack) of `height` lines, below what it holds."""
        if isinstance(widget, PageStack):
            self.pages += widget.pages
        else:
            self.pages.append((widget.turns, height))
        self.styles.height = sum(height for _, height in self.pages)

    def split_at(self, index: int) -> list[Widget]:
        """`split` with only the page at `index` (from the top) taken out."""
        order = iter(range(len(self.pages)))
        return self.split(0, lambda y, height: next(order) == index)

    def split(self, top: int, near: Callable[[int, int], bool]) -> list[Widget]:
        """What replaces this stack when part of it is near the view: the pages for which
        `near(y, height)` holds (y on the screen, from `top`), folded, and stacks for the others."""
        out: list[Widget] = []
        y = top
        for turns, height in self.pages:
            if near(y, height):
                out.append(HistoryPage.paged(turns, height))
            else:
                if not (out and isinstance(out[-1], PageStack)):
                    out.append(PageStack())
                stack = out[-1]
                assert isinstance(stack, PageStack)
                stack.pages.append((turns, height))
            y += height
        for widget in out:
            if isinstance(widget, PageStack):
                widget.styles.height = sum(height for _, height in widget.pages)
        return out
