"""Folding: widgets far from the viewport keep their height but leave the layout.

Every Textual layout pass walks every widget on the screen, visible or not, so a chat's frames get
slower as the chat grows: a 100 KB reply is thousands of markdown block widgets. A *foldable* widget
(a finished reply, a sealed chunk of reply text) that is more than a screen away from the viewport is
folded: it is given its current height as a fixed height and its children are hidden (`display: none`
through the `-folded` class), so the layout walks one widget instead of hundreds. It unfolds, as it
was, before it scrolls into view. Widths change heights, so a resize unfolds everything first.
"""

from __future__ import annotations

from textual.errors import NoWidget
from textual.geometry import Region
from textual.widget import Widget

FOLDED = "-folded"
MARGIN_SCREENS = 1
"""Widgets within this many viewport heights of the viewport stay unfolded."""


def is_folded(widget: Widget) -> bool:
    return widget.has_class(FOLDED)


def fold(widget: Widget) -> None:
    margin = widget.styles.margin
    widget.styles.height = widget.outer_size.height - margin.top - margin.bottom
    widget.add_class(FOLDED)


def unfold(widget: Widget) -> None:
    widget.remove_class(FOLDED)
    widget.styles.height = None


def refold(container: Widget) -> bool:
    """Fold what is far from `container`'s viewport, unfold what is near. Returns whether anything
    unfolded (its children get positions only with the next layout: call again after it)."""
    viewport = container.content_region
    if not viewport.height:
        return False
    band = viewport.grow((viewport.height * MARGIN_SCREENS, 0, viewport.height * MARGIN_SCREENS, 0))
    return _visit(container.children, container.screen, band)


def _visit(widgets, screen, band: Region) -> bool:
    unfolded = False
    for widget in widgets:
        try:
            region = screen.find_widget(widget).region
        except NoWidget:
            continue
        near = region.overlaps(band) or not region.height
        folded = is_folded(widget)
        if not near:
            if not folded and getattr(widget, "foldable", False):
                fold(widget)
            continue
        if folded:
            unfold(widget)
            unfolded = True
        elif getattr(widget, "holds_foldables", False):
            unfolded |= _visit(widget.children, screen, band)
    return unfolded


def unfold_all(container: Widget) -> None:
    for widget in container.query(f".{FOLDED}"):
        unfold(widget)
