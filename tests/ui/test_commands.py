"""Slash commands are answered by xsus, never sent to the model; Esc closes an open panel first."""

from __future__ import annotations

from textual.widgets import HelpPanel

from ..core.helpers import chat_agent
from .helpers import SIZE, make_app, screen_text, send, started_then_waiting, wait_for, wait_idle


def counting_model(calls: list[str]):
    async def stream(messages, info):
        calls.append(messages[-1].parts[-1].content)
        yield "answered"

    return chat_agent(stream)


async def test_help_is_local_and_lists_keys_and_commands(xsus_home):
    calls: list[str] = []
    app = make_app(xsus_home, counting_model(calls))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "/help")
        await wait_for(pilot, lambda: "Commands (answered by xsus" in screen_text(app))
        text = screen_text(app)
        assert "Ctrl+Q" in text and "/retry" in text and "/model [NAME]" in text
        assert app.chat_screen.prompt.text == "" and not app.chat_screen.replies
    assert calls == []


async def test_a_mistyped_command_gets_one_local_line_and_stays_to_fix(xsus_home):
    calls: list[str] = []
    app = make_app(xsus_home, counting_model(calls))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "/retyr")
        await wait_for(pilot, lambda: "There is no command /retyr" in screen_text(app))
        assert "Did you mean /retry?" in screen_text(app)
        assert app.chat_screen.prompt.text == "/retyr" and not app.chat_screen.replies
    assert calls == []


async def test_text_that_only_starts_with_a_slash_is_a_prompt(xsus_home):
    calls: list[str] = []
    app = make_app(xsus_home, counting_model(calls))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "/etc/hosts is missing")
        await wait_idle(pilot)
        await send(pilot, "//help")
        await wait_idle(pilot)
    assert calls == ["/etc/hosts is missing", "/help"]


async def test_esc_closes_the_keys_panel_before_it_interrupts(xsus_home):
    agent, gate = started_then_waiting()
    app = make_app(xsus_home, agent)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "go")
        await wait_for(pilot, lambda: "started" in screen.replies[-1].text)
        app.action_show_help_panel()
        await wait_for(pilot, lambda: bool(screen.query(HelpPanel)))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.query(HelpPanel))
        assert screen.session.busy  # the reply goes on
        await pilot.press("escape")
        await wait_idle(pilot)
        assert screen.replies[-1].state == "interrupted"
        # Idle, Esc closes the panel too.
        app.action_show_help_panel()
        await wait_for(pilot, lambda: bool(screen.query(HelpPanel)))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.query(HelpPanel))


async def test_slash_commands_are_in_the_command_palette(xsus_home):
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"/help")
        await wait_for(pilot, lambda: "/help" in screen_text(app) and "keys and commands" in screen_text(app))
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Commands (answered by xsus" in screen_text(app))


async def test_notifications_are_plain_text_brackets_and_all(xsus_home):
    """A command that needs the reply to end says so with its usage, `[PATH]` and all (markup ate it); text with
    markup-like brackets from outside shows as it is (`[/x]` raised MarkupError when its toast rendered)."""
    from textual.widgets._toast import Toast

    def toasts() -> list[str]:  # what each notification's toast shows, rendered as Textual renders it
        return [Toast(notification).render().plain for notification in app._notifications]

    agent, gate = started_then_waiting()
    app = make_app(xsus_home, agent)
    async with app.run_test(size=(120, 30)) as pilot:
        await send(pilot, "go")
        await wait_for(pilot, lambda: app.chat_screen.turn_running)
        await send(pilot, "/export notes.md")  # (a space: the list of commands has closed)
        await wait_for(pilot, lambda: bool(toasts()))
        assert toasts() == ["A reply is still streaming: /export [PATH] [md|json] works once it ends."]
        assert app.chat_screen.prompt.text == "/export notes.md"  # kept, to send once the reply ends
        app.notify("[/x] [b]odd[/b]")
        await wait_for(pilot, lambda: len(toasts()) == 2)
        assert toasts()[1] == "[/x] [b]odd[/b]"
        gate.set()
