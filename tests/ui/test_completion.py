"""Slash commands complete as they are typed (the list above the prompt); /export and /system."""

from __future__ import annotations

import json
import stat

from xsus_tui.ui import commands
from xsus_tui.ui.widgets.completions import CommandCompletions

from ..core.helpers import chat_agent
from .helpers import SIZE, make_app, screen_text, send, started_then_waiting, wait_for, wait_idle


def counting_model(calls: list[str]):
    async def stream(messages, info):
        calls.append(messages[-1].parts[-1].content)
        yield "answered"

    return chat_agent(stream)


def listed(app) -> list[str]:
    completions = app.chat_screen.query_one(CommandCompletions)
    if not completions.display or not completions.is_open:
        return []
    return [option.id for option in completions.options]


def test_completing_reads_only_a_slash_and_the_start_of_a_name():
    assert commands.completing("/") == ""
    assert commands.completing("/In") == "In"
    assert commands.completing("/etc/hosts") is None
    assert commands.completing("/model x") is None
    assert commands.completing("//") is None
    assert commands.completing("/he\nllo") is None
    assert commands.completing("hello") is None
    assert [command.name for command in commands.matching("IN")] == ["inspect"]


async def test_a_slash_lists_every_command_with_its_help(xsus_home):
    app = make_app(xsus_home, counting_model([]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("/")
        await wait_for(pilot, lambda: listed(app) == [command.name for command in commands.COMMANDS])
        text = screen_text(app)
        for command in commands.COMMANDS:
            assert command.usage in text
        assert "write the conversation to a new private file" in text and "show the instructions" in text
        assert app.focused is app.chat_screen.prompt  # typing goes on in the prompt
        await pilot.press("i", "n")
        await wait_for(pilot, lambda: listed(app) == ["inspect"])
        await pilot.press("tab")
        await wait_for(pilot, lambda: app.chat_screen.prompt.text == "/inspect ")
        assert listed(app) == []  # the space after the name closes it


async def test_deleting_the_slash_or_a_space_closes_the_list(xsus_home):
    app = make_app(xsus_home, counting_model([]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("/", "m")
        await wait_for(pilot, lambda: listed(app) == ["model"])
        await pilot.press("space")
        await wait_for(pilot, lambda: listed(app) == [])
        await pilot.press("backspace")
        await wait_for(pilot, lambda: listed(app) == ["model"])
        await pilot.press("backspace", "backspace")
        await wait_for(pilot, lambda: listed(app) == [] and app.chat_screen.prompt.text == "")


async def test_up_down_and_enter_on_a_highlighted_entry_complete(xsus_home):
    calls: list[str] = []
    app = make_app(xsus_home, counting_model(calls))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await pilot.press("/", "e")
        await wait_for(pilot, lambda: listed(app) == ["export"])
        await pilot.press("backspace")
        await wait_for(pilot, lambda: len(listed(app)) == len(commands.COMMANDS))
        completions = screen.query_one(CommandCompletions)
        assert completions.highlighted is None
        await pilot.press("down", "down")
        assert completions.highlighted == 1 and screen.prompt.text == "/"
        await pilot.press("up")
        assert completions.highlighted == 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.prompt.text == "/help ")
        assert "Commands (answered" not in screen_text(app)
        await pilot.press("enter")  # now it runs
        await wait_for(pilot, lambda: "Commands (answered by xsus" in screen_text(app))
    assert calls == []


async def test_enter_on_a_whole_name_with_nothing_highlighted_runs_it(xsus_home):
    app = make_app(xsus_home, counting_model([]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"/help")
        await wait_for(pilot, lambda: listed(app) == ["help"])
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Commands (answered by xsus" in screen_text(app))
        assert app.chat_screen.prompt.text == "" and listed(app) == []


async def test_esc_closes_the_list_and_keeps_the_text(xsus_home):
    app = make_app(xsus_home, counting_model([]))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await pilot.press("/", "t")
        await wait_for(pilot, lambda: listed(app) == ["tree"])
        await pilot.press("escape")
        await wait_for(pilot, lambda: listed(app) == [])
        assert screen.prompt.text == "/t"
        await pilot.press("up")  # closed: Up is the prompt's again (the cursor stays on its one line)
        assert screen.prompt.text == "/t" and listed(app) == []
        await pilot.press("end", "r")  # typing on opens it again
        await wait_for(pilot, lambda: listed(app) == ["tree"])


async def test_text_that_starts_with_a_slash_and_double_slashes_still_send(xsus_home):
    calls: list[str] = []
    app = make_app(xsus_home, counting_model(calls))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "/etc/hosts is missing")
        await wait_idle(pilot)
        await send(pilot, "//x")
        await wait_idle(pilot)
        assert listed(app) == []
    assert calls == ["/etc/hosts is missing", "/x"]


async def test_up_recalls_prompts_while_the_list_is_closed(xsus_home):
    calls: list[str] = []
    app = make_app(xsus_home, counting_model(calls))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "first question")
        await wait_idle(pilot)
        await send(pilot, "//inspect this")
        await wait_idle(pilot)
        await pilot.press("up")
        assert screen.prompt.text == "//inspect this" and listed(app) == []
        await pilot.press("up")
        assert screen.prompt.text == "first question"
        await pilot.press("down", "down")
        assert screen.prompt.text == ""
        await pilot.press("/")  # open: Up moves in the list, the text stays
        await wait_for(pilot, lambda: bool(listed(app)))
        await pilot.press("up")
        assert screen.prompt.text == "/" and screen.query_one(CommandCompletions).highlighted == len(listed(app)) - 1
    assert calls == ["first question", "/inspect this"]


async def test_a_selected_turn_closes_the_list(xsus_home):
    app = make_app(xsus_home, counting_model([]))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "hello")
        await wait_idle(pilot)
        await pilot.press("/")
        await wait_for(pilot, lambda: bool(listed(app)))
        await pilot.press("ctrl+up")
        await wait_for(pilot, lambda: screen.selecting and listed(app) == [])
        await pilot.press("up", "escape")  # the selection's keys, not the list's
        await wait_for(pilot, lambda: not screen.selecting)
        await wait_for(pilot, lambda: bool(listed(app)))  # back in the prompt, still "/"
        assert screen.prompt.text == "/"


async def test_every_command_is_in_the_palette(xsus_home):
    app = make_app(xsus_home, counting_model([]))
    async with app.run_test(size=SIZE) as pilot:
        provider = commands.SlashCommands(app.chat_screen)
        found = [hit.text async for hit in provider.discover()]
        assert found == [command.usage for command in commands.COMMANDS]
        assert "/export [PATH] [md|json]" in found and "/system" in found and "/compact [FOCUS]" in found
        await pilot.pause()
    assert "/compact [FOCUS]" in commands.help_text()


async def test_export_writes_a_private_file_and_never_replaces_one(xsus_home, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    app = make_app(xsus_home, counting_model([]))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "/export")
        await wait_for(pilot, lambda: "Nothing to export yet" in screen_text(app))
        await send(pilot, "tell me")
        await wait_idle(pilot)
        await send(pilot, "/export")
        await wait_for(pilot, lambda: list(out.iterdir()) != [])
        (written,) = out.iterdir()
        assert written.name.startswith("xsus-") and written.suffix == ".md"
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
        assert "tell me" in written.read_text() and "answered" in written.read_text()
        await wait_for(pilot, lambda: "Exported the conversation" in screen_text(app))
        before = written.read_text()
        written.write_text("mine")
        await send(pilot, "/export")
        await wait_for(pilot, lambda: "Not exported" in screen_text(app))
        assert "never replaces" in screen_text(app) and written.read_text() == "mine" and before != "mine"
        await send(pilot, f"/export {tmp_path / 'talk.txt'} json")
        await wait_for(pilot, lambda: (tmp_path / "talk.txt").exists())
        assert json.loads((tmp_path / "talk.txt").read_text())[0]["kind"] == "request"
        assert stat.S_IMODE((tmp_path / "talk.txt").stat().st_mode) == 0o600
        assert screen.prompt.text == ""


async def test_system_shows_the_demo_models_instructions(xsus_home):
    app = make_app(xsus_home)  # the demo
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "/system")
        await wait_for(pilot, lambda: "You are the xsus demo model" in screen_text(app))
        assert "as configured" in screen_text(app)
        await send(pilot, "hello")
        await wait_idle(pilot)
        await send(pilot, "/system")
        await wait_for(pilot, lambda: "Instructions sent with the last request" in screen_text(app))
        assert "You are the xsus demo model. Answer in markdown." in screen_text(app)


async def test_system_makes_control_characters_inert(xsus_home):
    from xsus_tui.core.agents import build_chat_agent

    app = make_app(xsus_home, build_chat_agent("demo", instructions="Be \x1b[31mred\x1b[0m."))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "/system")
        await wait_for(pilot, lambda: "Be ␛[31mred␛[0m." in screen_text(app))


async def test_esc_closes_the_list_before_it_interrupts_a_reply(xsus_home):
    agent, gate = started_then_waiting()
    app = make_app(xsus_home, agent)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await send(pilot, "go")
        await wait_for(pilot, lambda: "started" in screen.replies[-1].text)
        await pilot.press("/", "c", "o", "p")
        await wait_for(pilot, lambda: listed(app) == ["copy"])
        await pilot.press("escape")
        await wait_for(pilot, lambda: listed(app) == [])
        assert screen.session.busy and screen.prompt.text == "/cop"  # the reply goes on
        await pilot.press("escape")
        await wait_idle(pilot)
        assert screen.replies[-1].state == "interrupted"


async def test_a_click_on_a_listed_command_completes_it(xsus_home):
    app = make_app(xsus_home, counting_model([]))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await pilot.press("/")
        await wait_for(pilot, lambda: bool(listed(app)))
        await pilot.click(CommandCompletions, offset=(5, 1 + listed(app).index("history")))
        await wait_for(pilot, lambda: screen.prompt.text == "/history ")
        assert app.focused is screen.prompt and listed(app) == []


async def test_tab_completes_keys_typed_in_a_burst(xsus_home):
    """A terminal delivers `/sy` and Tab together: Tab comes before the messages saying the text changed, and must
    still complete the name (it used to find the list not open yet, and Enter then sent `/sy`)."""
    from textual import events

    app = make_app(xsus_home, counting_model([]))
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.chat_screen.prompt
        for key in (*"/sy", "tab"):
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        await wait_for(pilot, lambda: prompt.text == "/system ")
        prompt.clear()
        await pilot.pause()
        for key in (*"/in", "down"):  # Down highlights the one match
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        await wait_for(pilot, lambda: prompt.completions.chosen is commands.BY_NAME["inspect"])


def test_export_takes_a_quoted_path_with_spaces(tmp_path):
    target = tmp_path / "my out.md"
    assert commands.export_target(f'"{target}"', "abcdef12") == (target, "md")
    assert commands.export_target(f"'{tmp_path / 'a b.json'}'", "abcdef12") == (tmp_path / "a b.json", "json")
    assert commands.export_target(f"{target}", "abcdef12") == (target, "md")  # unquoted, as before
