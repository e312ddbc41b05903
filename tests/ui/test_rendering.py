"""The streaming renderer: finished blocks render once, streamed text looks as if written at once,
and finished turns far from the viewport leave the layout."""

from __future__ import annotations

from textual.app import App
from textual.containers import VerticalScroll

from xsus_tui.core.demo_text import long_reply
from xsus_tui.ui.folding import is_folded
from xsus_tui.ui.widgets.reply_text import ReplyText

from .helpers import SIZE, make_app, screen_text, send, started_then_waiting, wait_for, wait_idle

DOC = long_reply(3) + "\n```python\nx = 1\nprint(x)\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nThe end.\n"


class Host(App):
    def compose(self):
        with VerticalScroll():
            yield ReplyText()
            yield ReplyText()


def lines(widget: ReplyText) -> list[str]:
    return [widget.render_line(y).text.rstrip() for y in range(widget.virtual_size.height)]


async def test_streamed_text_renders_like_the_whole_text_and_finished_blocks_render_once(monkeypatch):
    renders: list[str] = []
    original = ReplyText._render

    def counting(self, block, width):
        if self is app.query(ReplyText).first():
            renders.append(block.source)
        return original(self, block, width)

    monkeypatch.setattr(ReplyText, "_render", counting)
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        streamed, whole = app.query(ReplyText)
        await streamed.write(DOC[:5])
        await pilot.pause()  # laid out: rendered at its real width from now on
        renders.clear()
        for start in range(5, len(DOC), 5):
            await streamed.write(DOC[start : start + 5])
        await streamed.finish()
        await whole.write(DOC)
        await whole.finish()
        await pilot.pause()
        assert streamed.source == whole.source == DOC
        assert lines(streamed) == lines(whole) and len(lines(whole)) > 60
        assert "The end." in lines(streamed)[-1]
        # Each finished block was rendered once; only the growing last block is rendered per update.
        finished = [block.source for block in streamed._finished]
        assert len(finished) > 20
        for source in finished:
            assert renders.count(source) <= 2 * finished.count(
                source
            )  # as the growing block (if it was complete then), and finished
        assert len(renders) < len(DOC) / 5 / 2  # far fewer renders than deltas: updates are per frame


async def test_a_resize_wraps_the_text_again_and_selection_gets_the_text():
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        text = app.query(ReplyText).first()
        await text.write("word " * 60 + "\n\nsecond paragraph\n")
        await text.finish()
        await pilot.pause()
        wide = text.virtual_size.height
        await pilot.resize_terminal(40, 30)
        await pilot.pause()
        assert text.virtual_size.height > wide and max(len(line) for line in lines(text)) <= 40
        from textual.selection import Selection

        selected, _ = text.get_selection(Selection(None, None))
        assert selected.startswith("word word") and selected.endswith("second paragraph")


async def test_a_theme_change_recolours_the_rendered_text():
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        text = app.query(ReplyText).first()
        await text.write("# Title\n\nbody\n")
        await text.finish()
        await pilot.pause()
        before = str(text.render_line(0))
        app.theme = "solarized-light"
        await pilot.pause()
        assert str(text.render_line(0)) != before and "Title" in text.render_line(0).text


async def test_finished_turns_far_from_the_viewport_are_folded_and_unfold_when_scrolled_to(xsus_home):
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        chat = screen.chat
        for _ in range(3):
            await send(pilot, "long")
            await wait_idle(pilot, 20)
        await wait_for(pilot, lambda: is_folded(screen.replies[0]))
        assert not is_folded(screen.replies[-1]) and "That is the end of the long reply." in screen_text(app)
        assert not any(child.display for child in screen.replies[0].children)  # out of the layout
        height = chat.virtual_size.height
        await pilot.press("ctrl+home")
        await wait_for(pilot, lambda: not is_folded(screen.replies[0]) and is_folded(screen.replies[-1]))
        await wait_for(pilot, lambda: "A long reply" in screen_text(app))
        assert chat.virtual_size.height == height


async def test_the_scrollbar_hides_while_following_a_reply_without_restyling_the_chat(xsus_home):
    """Hidden while the chat follows a streaming reply (its frame would be repainted after every update), back when
    the reply ends; toggled on the chat alone: a class would make Textual restyle every widget of the chat."""
    agent, gate = started_then_waiting()
    app = make_app(xsus_home, agent)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        chat = screen.chat
        for number in range(3):  # earlier turns: a chat with widgets in it
            gate.set()
            await send(pilot, f"turn {number}")
            await wait_idle(pilot)
        gate.clear()
        assert chat.styles.scrollbar_visibility == "visible"
        await send(pilot, "go")
        await wait_for(pilot, lambda: "started" in screen.replies[-1].text)
        assert chat.streaming and chat.following and chat.styles.scrollbar_visibility == "hidden"
        restyled: list = []
        update_nodes = app.stylesheet.update_nodes

        def counting(nodes, *args, **kwargs):
            nodes = list(nodes)
            restyled.extend(node for node in nodes if chat in node.ancestors_with_self)
            return update_nodes(nodes, *args, **kwargs)

        app.stylesheet.update_nodes = counting
        gate.set()
        await wait_idle(pilot)
        await pilot.pause()
        assert chat.styles.scrollbar_visibility == "visible"
        assert "finished" in screen.replies[-1].text
        assert len(restyled) < 5, restyled  # the new reply's own widgets at most, never the whole chat


async def test_the_chat_does_not_wrap_again_when_it_first_overflows(xsus_home):
    """The scrollbar's column is kept from the start: taken when the chat first overflowed (usually mid-reply), it
    made every line wrap a column narrower, the whole chat laid out again in front of the user."""
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat_screen.chat
        await wait_for(pilot, lambda: chat.size.height > 0)
        assert chat.max_scroll_y == 0  # nothing to scroll yet
        width = chat.scrollable_content_region.width
        await send(pilot, "long")
        await wait_idle(pilot, 20)
        assert chat.max_scroll_y > 0  # it overflowed
        assert chat.scrollable_content_region.width == width
