"""Every private part of Textual that xsus touches, in one place (tests/ui/test_compat.py guards each).

Each is used through this module only, so a Textual upgrade that changes one fails a named test
rather than the app, strangely.
"""

from __future__ import annotations

import contextlib
from typing import Any


async def run_own_binding(widget: Any, event: Any) -> bool:
    """Act on `event` (a Key) with a binding of `widget` itself (not an ancestor's), at once; False if it has none.

    Textual acts on a focused widget's bindings from the app: a key the widget's `_on_key` leaves alone bubbles up
    through every ancestor's message queue to `App._on_key`, and only then runs the binding. The characters typed
    after it are inserted by the widget meanwhile, from its own queue: in a burst of keys (typing while a reply
    streams keeps the loop busy, so keys arrive together) `hex`, Backspace, `y` gave `hex`, not `hey`, and
    `lng`, Left, Left, `o` gave `lngo`. Priority bindings were already checked before the key reached the widget;
    a widget's own binding comes first among the others (`Screen._modal_binding_chain` starts at the focused
    widget), so running it here changes nothing but the order."""
    for binding in widget._bindings.key_to_bindings.get(event.key, ()):
        if not binding.priority and await widget.app.run_action(binding.action, widget):
            event.stop()
            event.prevent_default()
            return True
    return False


def take_typed_run(widget: Any) -> str:
    """The characters of the printable keys next in `widget`'s message queue, taken out of it ("" for none).

    A terminal that isn't in bracketed-paste mode (or `tmux send-keys`, or a fast typist while the loop is busy)
    delivers a paste as keys, one Key event each, and Textual's TextArea wraps its whole line again at every
    insert: 5,000 characters took 6 s to arrive, O(n^2). The prompt inserts a run of them at once instead, taken
    here from Textual's private queue (`_peek_message` puts the next message in `_pending_message`; the loop
    that dispatches messages calls `task_done` for the ones it takes itself, so this does for these)."""
    from textual import events
    from textual.message_pump import MessagePumpClosed

    characters: list[str] = []
    while True:
        try:
            pending = widget._peek_message()
        except MessagePumpClosed:
            break
        if not isinstance(pending, events.Key) or not pending.is_printable:
            break
        widget._pending_message = None
        widget._message_queue.task_done()
        characters.append(pending.character)
    return "".join(characters)


# -- the terminal driver's input (ui/driver.py) --------------------------------------------------------


def xterm_parser(driver: Any) -> Any:
    """Textual's parser of terminal input (private: `textual._xterm_parser.XTermParser`), as `driver` makes it."""
    from textual._xterm_parser import XTermParser

    return XTermParser(driver._debug)


def parse_errors() -> type[Exception]:
    """What Textual's parser raises when its input ends mid-sequence (`textual._parser.ParseError`)."""
    from textual._parser import ParseError

    return ParseError


def escape_due_in(parser: Any) -> float | None:
    """Seconds until the parser's pending escape (a lone ESC waiting for the rest of a sequence) times out and
    becomes the Esc key; None when nothing is pending. Textual keeps the deadline in `Parser._timeout_time`."""
    from textual._time import get_time

    due = parser._timeout_time
    return None if due is None else max(0.0, due - get_time())


def input_thread_alive(driver: Any) -> bool:
    """Whether the Linux driver's input thread (`_key_thread`) is running: application mode is on."""
    thread = getattr(driver, "_key_thread", None)
    return thread is not None and thread.is_alive()


def resume_on_sigcont(driver: Any) -> None:
    """What Textual's Linux driver does on SIGCONT (`_sigcont_application`): resume application mode, when it
    restarts automatically."""
    driver._sigcont_application()


def anchor_released(widget: Any) -> bool:
    """Whether the user scrolled an anchored container away from its end (Textual keeps this privately)."""
    return bool(getattr(widget, "_anchor_released", False))


def forget_arrangement(widget: Any) -> None:
    """Drop a container's cached arrangement, which would keep removed children alive until it next changes."""
    clear = getattr(widget, "_clear_arrangement_cache", None)
    if clear is not None:
        clear()


def clear_styles_cache() -> None:
    """Textual's `StylesCache.get_inner_outer` is an lru_cache on a method: it keeps up to 1,024 widgets'
    style caches (and their lines) after the widgets are gone (Textualize/textual#6665)."""
    with contextlib.suppress(ImportError, AttributeError):
        from textual._styles_cache import StylesCache

        StylesCache.get_inner_outer.cache_clear()


def clear_region_caches() -> None:
    """`Region`'s methods cache their results (lru_cache, 1,024 or 4,096 entries each). A chat that keeps
    growing keeps making new regions, so those fill with tens of thousands of objects that every full
    collection walks. Emptied at a turn's end, they refill with what a frame needs."""
    from textual.geometry import Region

    for method in vars(Region).values():
        if callable(clear := getattr(method, "cache_clear", None)):
            clear()


def forget_dirty_lines(widget: Any) -> None:
    """Drop the line numbers Textual keeps to repaint `widget` (its StylesCache's dirty set): for a widget
    that is never painted (a PageStack) that set only grows."""
    if (cache := getattr(widget, "_styles_cache", None)) is not None:
        cache.clear()


ALT_ENTER = "\x1b\r"
"""What Alt+Enter sends in tmux, xterm and most terminals without the kitty keyboard protocol: Esc, then Enter."""


class _KeyName(str):
    """Stands in for a `Keys` member in Textual's sequence table, which reads only its `.value`."""

    @property
    def value(self) -> str:
        return str(self)


def decode_alt_enter() -> None:
    """Decode Esc Enter as `alt+enter` (the follow-up key) rather than as a plain Enter.

    Textual 8.2 has no entry for it in its sequence table (`_ansi_sequences.ANSI_SEQUENCES_KEYS`, private): it
    waits out its escape delay, then reissues the Enter without the Alt, so the message would be queued as a
    steer. A terminal with the kitty protocol sends `CSI 13;3u`, which Textual already reads as `alt+enter`.
    """
    from textual import _ansi_sequences

    _ansi_sequences.ANSI_SEQUENCES_KEYS.setdefault(ALT_ENTER, (_KeyName("alt+enter"),))


class SizedInOnePass:
    """A mixin for the widgets that grow while a reply streams (the chat, a reply, its text).

    The layout pass that measures a widget gives it its new virtual size through `Widget._size_updated`, which
    assigns the `virtual_size` reactive; that reactive has `layout=True`, so the assignment asks for a second
    layout pass, and with it a second full frame, after every update of the reply (benchmarks/terminal_render:
    every update made two frames, each rewriting the chat). The pass has just laid the widget out: set the size
    without asking again (Textual's own `layout=False`, which it uses for scrolling), scrollbars still updated.
    """

    def _size_updated(self, size: Any, virtual_size: Any, container_size: Any, layout: bool = True) -> bool:
        return super()._size_updated(size, virtual_size, container_size, layout=False)  # type: ignore[misc]


class DrawsKeysAtOnce:
    """A Screen mixin: what typing changes is drawn as soon as it is handled, not on the next tick of the screen's
    update timer, and not held up by a reply's pending layout.

    Textual draws a screen from a timer on a fixed grid of 1/60 s (`Screen._update_timer`, resumed on idle when
    something is dirty). After a frame that overran its slot (a streaming reply's frame: 7-20 ms, more under
    load), its catch-up arithmetic skips to the grid point after the next, so a key typed then waited up to 33 ms
    for a frame that costs under a millisecond (benchmarks/responsiveness). When the focused widget (the prompt,
    where keys go) has changed, an idle screen draws at once, with `Screen._on_timer_update`, the timer's own
    callback. If a layout pass is pending that the focused widget did not ask for (a reply that grew), the focused
    widget is drawn alone, where it is, and the layout and the rest follow on the timer's next tick: the echo
    doesn't wait for a pass that costs 10-30 ms, and the reply is one frame later at most.
    """

    async def _on_idle(self, event: Any) -> None:
        # Textual calls `_on_idle` of every class in the MRO until one prevents the default: Screen's comes next.
        screen: Any = self
        focused = screen.focused
        dirty = screen._dirty_widgets
        if focused is None or focused not in dirty:
            return
        if screen.app._batch_count or not screen.is_current or screen._recompose_required:
            return
        event.prevent_default()
        pending = screen._layout_required or screen._scroll_required
        if not pending or any(focused in widgets for widgets in screen._layout_widgets.values()):
            screen._on_timer_update()
            return
        others = dirty - {focused}
        screen._compositor.update_widgets({focused})
        screen._compositor_refresh()  # draws what update_widgets marked; clears the dirty widgets
        dirty.update(others)
        screen._update_timer.resume()
