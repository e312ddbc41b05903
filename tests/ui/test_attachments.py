"""Attachments in the app: `@` completion, chips above the prompt, a pasted path, faults at send, what the chat, the
store and the model see."""

from __future__ import annotations

import asyncio

import pytest
from pydantic_ai.messages import BinaryContent, TextContent
from textual import events

from xsus_tui.core.attachments import Prompt
from xsus_tui.ui.widgets.chips import AttachmentChips
from xsus_tui.ui.widgets.completions import CommandCompletions

from ..core.helpers import chat_agent
from .helpers import SIZE, make_app, screen_text, wait_for, wait_idle

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


@pytest.fixture
def work(tmp_path):
    """The files' folder (the test's XSUS_HOME is beside it, not in it)."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def recording_model(seen: list):
    async def stream(messages, info):
        seen.append(messages[-1].parts[-1].content)
        yield "answered"

    return chat_agent(stream)


def setup(work, xsus_home, seen, **options):
    (work / "notes.md").write_text("alpha\nbeta\n")
    (work / "cat.png").write_bytes(PNG)
    (work / "docs").mkdir()
    (work / "docs" / "guide.txt").write_text("read me")
    app = make_app(xsus_home, recording_model(seen), **options)
    return app


def chips(app) -> AttachmentChips:
    return app.chat_screen.query_one(AttachmentChips)


def listed(app) -> list[str]:
    completions = app.chat_screen.query_one(CommandCompletions)
    return [entry.path for entry in completions.paths.values()] if completions.is_open else []


async def test_at_completes_paths_attaches_files_as_chips_and_sends_them(work, xsus_home):
    seen: list = []
    app = setup(work, xsus_home, seen)
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.chat_screen.prompt
        prompt.cwd = work
        await pilot.press(*"look at @")
        await wait_for(pilot, lambda: listed(app) == ["docs/", "cat.png", "notes.md"])
        await pilot.press("d", "tab")  # a directory: into it
        await wait_for(pilot, lambda: prompt.text == "look at @docs/" and listed(app) == ["docs/guide.txt"])
        await pilot.press("tab")  # a file: a chip, and its name stays in the sentence, as text
        await wait_for(pilot, lambda: [a.name for a in chips(app).files] == ["docs/guide.txt"])
        assert prompt.text == "look at docs/guide.txt "  # (a space after it, as a shell completes)
        await pilot.press(*"and @ca", "tab")
        await wait_for(pilot, lambda: len(chips(app).files) == 2)
        assert "📎 docs/guide.txt · 7 B ✕" in screen_text(app) and "📎 cat.png · 48 B ✕" in screen_text(app)
        await pilot.press(*"and @notes.md", "enter")  # typed whole, never completed: attached at send
        await wait_idle(pilot)
        content = seen[0]
        assert content[0] == "look at docs/guide.txt and cat.png and @notes.md"  # which file is which
        assert [i.metadata["xsus_attachment"]["name"] for i in content if isinstance(i, TextContent)][
            0
        ] == "docs/guide.txt"
        assert any(isinstance(i, BinaryContent) and i.data == PNG for i in content)
        assert "File notes.md:\n```\nalpha\nbeta\n```" in [i.content for i in content if isinstance(i, TextContent)]
        assert chips(app).files == [] and prompt.text == ""
        text = screen_text(app)
        assert "look at docs/guide.txt and cat.png and @notes.md" in text
        assert "📎 docs/guide.txt · 7 B" in text and "📎 notes.md · 11 B" in text
        stored = await app.chat_screen.session.store.load(app.chat_screen.session.conversation.conversation_id)
        names = [a.name for a in Prompt.from_content(stored.messages[0].parts[0].content).attachments]
        assert names == ["docs/guide.txt", "cat.png", "notes.md"]
    resumed = make_app(xsus_home, recording_model(seen), conversation=stored)
    async with resumed.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "📎 cat.png · 48 B" in screen_text(resumed))


async def test_an_email_or_a_word_after_at_lists_nothing(work, xsus_home):
    app = setup(work, xsus_home, [])
    async with app.run_test(size=SIZE) as pilot:
        app.chat_screen.prompt.cwd = work
        await pilot.press(*"mail bob@no")
        await pilot.pause()
        assert listed(app) == []


async def test_a_pasted_path_offers_to_attach_it(work, xsus_home):
    seen: list = []
    app = setup(work, xsus_home, seen)
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.chat_screen.prompt
        prompt.post_message(events.Paste(f"'{work / 'cat.png'}'"))
        await wait_for(pilot, lambda: f"Attach {work / 'cat.png'}?" in screen_text(app))
        assert prompt.text == ""
        await pilot.press("y")
        await wait_for(pilot, lambda: [a.kind for a in chips(app).files] == ["image"])
        assert "Attach" not in screen_text(app)
        prompt.post_message(events.Paste(str(work / "notes.md")))
        await wait_for(pilot, lambda: chips(app).offer is not None)
        await pilot.press("n")  # no: the path goes in as text
        await wait_for(pilot, lambda: prompt.text == str(work / "notes.md"))
        assert len(chips(app).files) == 1
        prompt.post_message(events.Paste("just words"))
        await wait_for(pilot, lambda: prompt.text.endswith("just words"))
        assert chips(app).offer is None


async def test_faults_at_send_say_one_line_and_keep_the_prompt(work, xsus_home):
    seen: list = []
    app = setup(work, xsus_home, seen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        screen.session.attachment_limit = 100
        prompt = screen.prompt
        prompt.cwd = work
        (work / "big.txt").write_text("x" * 101)
        await pilot.press(*"see @notes.md @big.txt", "enter")
        await wait_for(
            pilot, lambda: "Not sent: big.txt is too large to attach (101 B; the limit is 100 B" in screen_text(app)
        )
        assert prompt.text == "see @notes.md @big.txt" and seen == []
        prompt.text = "see @gone/file.txt"
        await pilot.press("end", "enter")
        missing = "Not sent: gone/file.txt: no such file (@@ writes a plain @). Your prompt is kept."
        await wait_for(pilot, lambda: missing in screen_text(app))
        # A file attached, then removed before sending.
        prompt.text = "@notes.md"
        await pilot.press("end", "tab")
        await wait_for(pilot, lambda: len(chips(app).files) == 1)
        (work / "notes.md").unlink()
        await pilot.press(*"summarise", "enter")
        await wait_for(pilot, lambda: "Not sent: notes.md: no such file" in screen_text(app))
        assert prompt.text == "notes.md summarise" and len(chips(app).files) == 1 and seen == []
        # Backspace at the very start removes the last chip; the text stays.
        await pilot.press("home", "backspace")
        await wait_for(pilot, lambda: chips(app).files == [])
        assert prompt.text == "notes.md summarise"
        await pilot.press("enter")
        await wait_idle(pilot)
        assert seen == ["notes.md summarise"]


async def test_the_same_file_twice_is_attached_once(work, xsus_home):
    seen: list = []
    app = setup(work, xsus_home, seen)
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.chat_screen.prompt
        prompt.cwd = work
        await pilot.press(*"@notes", "tab")
        await wait_for(pilot, lambda: len(chips(app).files) == 1)
        await pilot.press(*"@notes", "tab")
        await wait_for(pilot, lambda: "notes.md is attached already" in screen_text(app))
        await pilot.press(*" @notes.md", "enter")
        await wait_idle(pilot)
        assert sum(isinstance(i, TextContent) for i in seen[0]) == 1


async def test_one_file_by_two_paths_is_attached_once(work, xsus_home):
    seen: list = []
    app = setup(work, xsus_home, seen)
    async with app.run_test(size=SIZE) as pilot:
        app.chat_screen.prompt.cwd = work
        await pilot.press(*"compare @notes.md with @./notes.md", "enter")
        await wait_idle(pilot)
        assert sum(isinstance(i, TextContent) for i in seen[0]) == 1
        assert "notes.md is attached already: sent once." in screen_text(app)


async def test_the_demo_model_acknowledges_files(work, xsus_home):
    (work / "cat.png").write_bytes(PNG)
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        app.chat_screen.prompt.cwd = work
        await pilot.press(*"what is @cat.png", "enter")
        await wait_for(pilot, lambda: "I got 1 file:" in screen_text(app))
        assert "cat.png (48 bytes, image)" in screen_text(app)


async def test_a_mention_stays_in_the_sentence_and_a_prompt_given_back_attaches_it_once(work, xsus_home):
    """`compare @notes.md with @cat.png` reaches the model as typed (it read `compare with`), with both files; Esc
    before anything comes back gives it back as typed, without a chip for the files its mentions attach again."""
    seen: list = []
    go = asyncio.Event()

    async def stream(messages, info):
        seen.append(messages[-1].parts[-1].content)
        await go.wait()
        yield "answered"

    (work / "notes.md").write_text("alpha\n")
    (work / "cat.png").write_bytes(PNG)
    app = make_app(xsus_home, chat_agent(stream))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        screen.prompt.cwd = work
        await pilot.press(*"compare @notes.md with @cat.png", "enter")
        await wait_for(pilot, lambda: len(seen) == 1)
        assert seen[0][0] == "compare @notes.md with @cat.png"
        await pilot.press("escape")  # nothing came back yet: the prompt goes back to the input
        await wait_for(pilot, lambda: screen.prompt.text == "compare @notes.md with @cat.png")
        assert chips(app).files == []
        go.set()
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(seen) == 2)
        names = [a.name for a in Prompt.from_content(seen[1]).attachments]
        assert names == ["notes.md", "cat.png"]
        assert "attached already" not in screen_text(app)
