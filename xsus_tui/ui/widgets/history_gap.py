"""Stored turns not rendered yet: one line in the chat that stands for them, wherever they fall.

A resumed conversation shows its last page of turns with one gap above it holding every older
turn. Ctrl+Home, a search hit or a /tree pick jumps straight to a turn: the page that holds it is
taken out of its gap and rendered, and the gap is split around it, so turn 1 of 2,000 costs one page,
not 200. A gap that comes into view fills a page at a time from the side the user comes from
(ChatScreen._near_gap): scrolling up, its newest turns render below it and the view keeps its place;
scrolling down, its oldest render above it and nothing on screen moves.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from xsus_tui.core.replay import PastTurn


class TurnGap(Static):
    """A run of stored turns (oldest first) not rendered: one line saying how many, and which."""

    def __init__(self, turns: list[PastTurn]) -> None:
        super().__init__("", classes="notice -older")
        self.turns = turns
        """The turns it stands for, oldest first."""
        self.at_top = True
        """Whether no rendered turn is above it (its line then says "earlier turns")."""

    def on_mount(self) -> None:
        self.show_count()

    def show_count(self) -> None:
        count = len(self.turns)
        numbers = [turn.number for turn in (self.turns[0], self.turns[-1]) if turn.number is not None] if count else []
        span = f" ({numbers[0]}–{numbers[-1]})" if len(numbers) == 2 and numbers[0] != numbers[-1] else ""
        turns = "turn" if count == 1 else "turns"
        if self.at_top:
            text = f"↑ {count} earlier {turns}{span}: scroll up to see them, Ctrl+Home the first"
        else:
            text = f"⋯ {count} {turns}{span} not shown yet: scroll to see them"
        self.update(Text(text))

    def take(self, count: int, *, from_end: bool) -> list[PastTurn]:
        """Take `count` turns out: the newest (`from_end`) or the oldest."""
        if from_end:
            taken, self.turns = self.turns[-count:], self.turns[:-count]
        else:
            taken, self.turns = self.turns[:count], self.turns[count:]
        return taken

    def split_around(self, number: int, count: int) -> tuple[list[PastTurn], list[PastTurn]] | None:
        """Take out the page of `count` turns holding turn `number` (aligned on multiples of `count` from the
        gap's first turn, so the pages a later scroll renders line up); keep the turns before it. Returns the
        page and the turns after it, or None when the turn is not here."""
        index = next((i for i, turn in enumerate(self.turns) if turn.number == number), None)
        if index is None:
            return None
        start = index - index % count
        page, after = self.turns[start : start + count], self.turns[start + count :]
        self.turns = self.turns[:start]
        return page, after
