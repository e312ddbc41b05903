"""Folding: finished turns far from the viewport keep their height but leave the layout.

Every Textual layout pass walks every widget on the screen, visible or not, so frames get slower as
a chat grows: a turn with tool and output panels is dozens of widgets. A finished reply more than a
screen away from the viewport is folded: it gets its current height as a fixed height and its
children are hidden (`display: none`, through the `-folded` class), so the layout walks one widget
instead of dozens. It unfolds, as it was, before it scrolls into view. Widths change heights, so a
resize unfolds everything first.
"""

from __future__ import annotations

from collections.abc import Container

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
    if hasattr(widget, "fold_away"):  # a widget that also lets go of its children (HistoryPage)
        widget.fold_away()


def unfold(widget: Widget) -> None:
    widget.remove_class(FOLDED)
    if hasattr(widget, "unfold_back"):
        widget.unfold_back()
        return
    widget.styles.height = None


def near_band(container: Widget) -> Region | None:
    """The part of the screen within MARGIN_SCREENS of `container`'s viewport (None: not laid out)."""
    viewport = container.content_region
    if not viewport.height:
        return None
    return viewport.grow((viewport.height * MARGIN_SCREENS, 0, viewport.height * MARGIN_SCREENS, 0))


def refold(container: Widget, keep: Container[Widget] = ()) -> dict[Widget, Region]:
    """Fold the children of `container` that are far from its viewport, unfold those that are near;
    those in `keep` are never folded (the page of a selected turn must keep its widgets).

    Returns the children that are far away, with their regions on the screen."""
    far: dict[Widget, Region] = {}
    band = near_band(container)
    if band is None:
        return far
    screen = container.screen
    for widget in container.children:
        try:
            region = screen.find_widget(widget).region
        except NoWidget:
            continue
        near = region.overlaps(band) or not region.height
        folded = is_folded(widget)
        if not near:
            far[widget] = region
            if not folded and getattr(widget, "foldable", False) and widget not in keep:
                fold(widget)
            continue
        if folded:
            unfold(widget)
    return far


def unfold_all(container: Widget) -> None:
    """After a width change: unfold what keeps its widgets. Unloaded history pages keep their old
    height until they come near and render again (see HistoryPage.load)."""
    for widget in container.query(f".{FOLDED}"):
        if not hasattr(widget, "unfold_back"):
            unfold(widget)
