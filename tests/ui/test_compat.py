"""Canaries for the private parts of Textual that xsus touches through xsus_tui/ui/compat.py."""

from __future__ import annotations

import hashlib
import inspect
import types

from textual import constants
from textual._parser import Parser
from textual._xterm_parser import XTermParser
from textual.drivers import linux_driver
from textual.widget import Widget

from xsus_tui.ui import compat


def test_the_linux_driver_s_input_thread_is_still_the_one_ours_is_copied_from() -> None:
    """ui/driver.HangupSafeDriver.run_input_thread is Textual 8.2's, with `select` woken when a pending escape is
    due and a decoder that replaces invalid UTF-8: a change in Textual's must be looked at, and carried over."""
    source = inspect.getsource(linux_driver.LinuxDriver.run_input_thread)
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == "d796af6d69db337d", (
        "Textual's LinuxDriver.run_input_thread changed: compare it with ui/driver.HangupSafeDriver.run_input_thread"
    )
    assert "_timeout_time" in inspect.getsource(Parser.tick), "Textual's parser keeps its escape's due time elsewhere"
    assert isinstance(constants.ESCAPE_DELAY, float) and "constants.ESCAPE_DELAY" in inspect.getsource(XTermParser)


def test_our_rich_markdown_sets_what_rich_s_init_sets() -> None:
    """`reply_text._Markdown` skips Rich's `Markdown.__init__` (it builds a parser per instance): it must set
    the same attributes, or rendering breaks strangely after a Rich upgrade."""
    import re

    from rich.markdown import Markdown

    from xsus_tui.ui.widgets.reply_text import _Markdown

    rich_sets = set(re.findall(r"self\.(\w+)\s*(?::[^=]*)?=", inspect.getsource(Markdown.__init__)))
    ours = set(vars(_Markdown("text", "monokai")))
    assert rich_sets <= ours, (
        f"Rich's Markdown.__init__ now sets {rich_sets - ours}: update ui/rich_compat.init_markdown"
    )


def test_textarea_still_handles_keys_in_on_key() -> None:
    """PromptInput overrides TextArea's private `_on_key` to take Enter (send) before it becomes a newline."""
    from textual.widgets import TextArea

    handler = getattr(TextArea, "_on_key", None)
    assert handler is not None and inspect.iscoroutinefunction(handler), (
        "TextArea._on_key is gone or changed: update widgets/prompt.PromptInput._on_key"
    )
    assert "event.character" in inspect.getsource(handler) or "insert" in inspect.getsource(handler), (
        "TextArea._on_key no longer inserts typed text: update widgets/prompt.PromptInput._on_key"
    )


def test_the_private_widget_parts_are_still_there() -> None:
    """ChatLog.following reads `_anchor_released`, HistoryPage clears `_clear_arrangement_cache`, settle_garbage
    clears `StylesCache.get_inner_outer` (all through ui/compat.py)."""
    from textual._styles_cache import StylesCache
    from textual.containers import VerticalScroll
    from textual.widget import Widget

    assert "_anchor_released" in inspect.getsource(Widget.release_anchor), (
        "Textual no longer keeps `_anchor_released`: update ui/compat.anchor_released"
    )
    assert callable(getattr(VerticalScroll, "_clear_arrangement_cache", None)), (
        "Widget._clear_arrangement_cache is gone: update ui/compat.forget_arrangement"
    )
    assert hasattr(StylesCache.get_inner_outer, "cache_clear"), (
        "StylesCache.get_inner_outer is no longer an lru_cache: update ui/compat.clear_styles_cache"
    )
    from textual.geometry import Region

    assert any(hasattr(method, "cache_clear") for method in vars(Region).values()), (
        "Region's methods are no longer lru_caches: update ui/compat.clear_region_caches"
    )
    assert callable(getattr(Widget, "_set_dirty", None)), "Widget._set_dirty is gone: update PageStack"
    assert callable(getattr(StylesCache, "clear", None)) and "_styles_cache" in inspect.getsource(Widget.__init__), (
        "Widget._styles_cache / StylesCache.clear changed: update ui/compat.forget_dirty_lines"
    )


def test_esc_enter_is_decoded_as_alt_enter_once_taught() -> None:
    """tmux sends Alt+Enter as Esc Enter; Textual's sequence table (private) learns it in ui/compat."""
    from textual._xterm_parser import XTermParser

    def keys(data: str) -> list[str]:
        parser = XTermParser()
        return [event.key for event in [*parser.feed(data), *parser.feed("")] if hasattr(event, "key")]

    compat.decode_alt_enter()
    changed = "Textual's input decoding changed: update ui/compat.decode_alt_enter"
    assert keys(compat.ALT_ENTER) == ["alt+enter"], changed
    assert keys("\r") == ["enter"] and keys("\x1b[13;3u") == ["alt+enter"] and keys("\x1bs") == ["alt+s"]


async def test_a_growing_reply_is_laid_out_in_one_pass_per_update() -> None:
    """Textual's `Widget._size_updated(..., layout=)` (private): ui/compat.SizedInOnePass sets the virtual size it
    measured without asking for a second layout pass, and the chat still follows the text to its end."""
    from textual.app import App
    from textual.screen import Screen

    from xsus_tui.ui.screens.chat import ChatLog
    from xsus_tui.ui.widgets.reply_text import ReplyText

    changed = "Widget._size_updated changed: update ui/compat.SizedInOnePass"
    assert "layout" in inspect.signature(Widget._size_updated).parameters, changed
    assert Widget.virtual_size._layout, changed  # the reason: assigning it asks for a layout pass

    class Growing(App):
        def compose(self):
            with ChatLog(id="chat"):
                yield ReplyText()

    app = Growing()
    async with app.run_test(size=(60, 10)) as pilot:
        chat, text = app.query_one(ChatLog), app.query_one(ReplyText)
        chat.anchor()
        passes = 0
        original = Screen._refresh_layout

        def counted(screen, *args, **kwargs):
            nonlocal passes
            passes += 1
            return original(screen, *args, **kwargs)

        Screen._refresh_layout = counted
        try:
            for n in range(5):
                await text.write("".join(f"line {n}.{i}\n\n" for i in range(4)))
                await text.finish()
                await pilot.pause()
        finally:
            Screen._refresh_layout = original
        assert passes <= 8, passes  # about one a growth (6-7 here; 11 without SizedInOnePass: two a growth)
        assert chat.virtual_size.height >= 35 and chat.scroll_y == chat.max_scroll_y > 0


def test_the_screen_still_draws_from_its_update_timer_through_on_timer_update() -> None:
    """compat.DrawsKeysAtOnce draws a changed prompt at once by calling the timer's own callback from an
    `_on_idle` that Textual calls before Screen's (it walks the MRO until one prevents the default)."""
    from textual.app import App
    from textual.message_pump import MessagePump
    from textual.screen import Screen

    for name in ("_on_timer_update", "_on_idle", "_update_timer"):
        assert hasattr(Screen, name), f"Screen.{name} is gone: update ui/compat.DrawsKeysAtOnce"
    timer_update = inspect.getsource(Screen._on_timer_update)
    for part in ("_layout_required", "_dirty_widgets", "_compositor_refresh", "_batch_count", "_recompose_required"):
        assert part in timer_update, f"Screen._on_timer_update no longer uses {part}: update ui/compat.DrawsKeysAtOnce"
    assert "prevent_default" in inspect.getsource(Screen._on_idle)
    assert "_no_default_action" in inspect.getsource(MessagePump._get_dispatch_methods), (
        "Textual dispatches handlers another way: update ui/compat.DrawsKeysAtOnce._on_idle"
    )
    assert "_batch_count" in inspect.getsource(App._display)


def test_a_widget_still_keeps_its_own_bindings_by_key() -> None:
    """compat.run_own_binding reads the prompt's own bindings from `_bindings.key_to_bindings`."""
    from textual.widgets import TextArea

    bindings = TextArea()._bindings.key_to_bindings
    assert [binding.action for binding in bindings["backspace"]] == ["delete_left"], (
        "Textual keeps a widget's bindings another way now: update ui/compat.run_own_binding"
    )


def test_a_widget_s_queue_can_still_be_peeked_and_its_head_taken() -> None:
    """compat.take_typed_run takes the keys waiting next in the prompt's queue."""
    from textual.message_pump import MessagePump

    peek = inspect.getsource(MessagePump._peek_message)
    assert "self._pending_message = message" in peek and "get_nowait" in peek, (
        "Textual peeks a widget's queue another way now: update ui/compat.take_typed_run"
    )
    assert "self._message_queue.task_done()" in inspect.getsource(MessagePump._process_messages_loop)


def test_the_linux_driver_s_parts_compat_reads_for_the_input_thread_are_still_there() -> None:
    """ui/driver.HangupSafeDriver leans on these, through ui/compat: SIGCONT resumes through `_sigcont_application`
    (which `resume_on_sigcont` calls), the input thread is `_key_thread`, a pending escape's deadline is
    `_timeout_time`."""
    source = inspect.getsource(linux_driver.LinuxDriver)
    assert "signal.signal(signal.SIGCONT, self._sigcont_application)" in source, (
        "Textual handles SIGCONT another way now: update ui/compat.resume_on_sigcont and ui/driver._continued"
    )
    assert "self._key_thread = Thread(" in inspect.getsource(linux_driver.LinuxDriver.start_application_mode)
    assert "_timeout_time" in inspect.getsource(Parser.tick), "update ui/compat.escape_due_in"
    assert "XTermParser(self._debug)" in inspect.getsource(linux_driver.LinuxDriver.run_input_thread)
    parser = compat.xterm_parser(types.SimpleNamespace(_debug=False))
    assert compat.escape_due_in(parser) is None
    list(parser.feed("\x1b"))  # a lone ESC: pending, due within the escape delay
    assert 0 < compat.escape_due_in(parser) <= constants.ESCAPE_DELAY
    assert issubclass(compat.parse_errors(), Exception)
