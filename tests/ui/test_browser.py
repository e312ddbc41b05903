"""The conversation browser (Ctrl+O): list, search, open at a turn, rename, delete with undo, new conversation."""

from __future__ import annotations

import dataclasses

from pydantic_ai.conversation import Conversation
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from xsus_tui.core.agents import build_chat_agent
from xsus_tui.core.store import SQLiteConversationStore
from xsus_tui.ui.screens.browser import BrowserScreen, ConfirmDelete, RenameScreen
from xsus_tui.ui.widgets.user_message import UserMessage

from .helpers import SIZE, make_app, screen_text, send, wait_for, wait_idle


def turn(prompt: str, reply: str) -> list:
    return [ModelRequest(parts=[UserPromptPart(prompt)]), ModelResponse(parts=[TextPart(reply)], model_name="m")]


async def fill(home, conversations: int = 20, turns: int = 3) -> list[str]:
    home.mkdir(parents=True, exist_ok=True)
    store = SQLiteConversationStore.open(home / "history.db")
    ids = []
    for number in range(conversations):
        messages = []
        for index in range(turns):
            reply = f"Reply {index} of chat {number}."
            if number == 2 and index == 1:
                reply = "The capybara is the largest living rodent."
            messages += turn(f"Question {index} in chat {number}", reply)
        conversation = Conversation(messages=messages)
        await store.save(conversation)
        ids.append(conversation.conversation_id)
    store.close()
    return ids


def recording_agent(seen: list):
    async def stream(messages, info: AgentInfo):
        seen.append(list(messages))
        yield "noted"

    return dataclasses.replace(build_chat_agent("demo"), model=FunctionModel(stream_function=stream, model_name="t"))


def browser(app) -> BrowserScreen:
    screen = app.screen
    assert isinstance(screen, BrowserScreen)
    return screen


async def test_find_a_word_from_an_old_reply_open_it_at_that_turn_and_go_on(xsus_home):
    ids = await fill(xsus_home)
    seen: list = []
    app = make_app(xsus_home, recording_agent(seen))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen) and len(browser(app).rows) == 20)
        text = screen_text(app)
        assert "Question 0 in chat 19" in text and "3 turns" in text and "Reply 2 of chat 19." in text
        await pilot.press(*"capybara")
        await wait_for(pilot, lambda: len(browser(app).rows) == 1 and browser(app)._query == "capybara")
        hit = browser(app).rows[0]
        assert hit.conversation.conversation_id == ids[2] and hit.turn == 2
        # The word is highlighted in the snippet on screen.
        prompt = browser(app).options.get_option_at_index(0).prompt
        assert [prompt.plain[span.start : span.end] for span in prompt.spans if "reverse" in str(span.style)] == [
            "capybara"
        ]
        assert "capybara" in screen_text(app)
        await pilot.press("enter")
        chat = app.chat_screen
        await wait_for(pilot, lambda: chat.session.conversation.conversation_id == ids[2])
        await wait_for(pilot, lambda: "capybara" in screen_text(app))
        shown = list(chat.chat.query(UserMessage))
        assert [message.prompt for message in shown] == [f"Question {i} in chat 2" for i in range(3)]
        marked = [user.prompt for user in chat.chat.query(UserMessage) if user.has_class("-found")]
        assert marked == ["Question 1 in chat 2"] and chat.selected_turn() is None and chat.prompt.has_focus
        await send(pilot, "find more, else copy")  # f, e, c are typed, not taken as keys of a selected turn
        await wait_idle(pilot)
        assert chat.session.conversation.conversation_id == ids[2]
        sent = [p.content for m in seen[-1] for p in m.parts if isinstance(p, UserPromptPart)]
        assert sent == ["Question 0 in chat 2", "Question 1 in chat 2", "Question 2 in chat 2", "find more, else copy"]


async def test_rename_delete_undo_and_a_new_conversation(xsus_home):
    ids = await fill(xsus_home, conversations=3, turns=1)
    app = make_app(xsus_home)
    store = app.session.store
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen) and len(browser(app).rows) == 3)
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, RenameScreen) and app.focused.id == "rename")
        await pilot.press("ctrl+a", "ctrl+k", *"Rodents", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen) and browser(app).rows[0].title == "Rodents")
        assert (await store.summary(ids[2])).title == "Rodents"
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDelete))
        assert "Delete “Rodents”?" in screen_text(app) and "1 turn, 2 messages" in screen_text(app)
        await pilot.press("escape")  # cancelled: nothing goes
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen))
        assert len(browser(app).rows) == 3
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDelete))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen) and len(browser(app).rows) == 2)
        assert await store.load(ids[2]) is None and await store.search("chat 2") == []
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: len(browser(app).rows) == 3)
        assert (await store.load(ids[2])) is not None
        await pilot.press("down", "delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDelete))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen) and len(browser(app).rows) == 2)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: not isinstance(app.screen, BrowserScreen))
        assert app.chat_screen.session.conversation.messages == []
        await send(pilot, "hello there")
        await wait_idle(pilot)
    # Quitting purged the deleted conversation for good.
    reopened = SQLiteConversationStore.open(xsus_home / "history.db")
    try:
        titles = {row.title for row in reopened.summaries()}
        assert titles == {"Rodents", "Question 0 in chat 0", "hello there"}
        assert await reopened.search("chat 1") == []
    finally:
        reopened.close()


async def test_esc_returns_to_the_chat_with_the_prompt_as_it_was(xsus_home):
    await fill(xsus_home, conversations=2, turns=1)
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"half a thought")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen))
        await pilot.press(*"zz", "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, BrowserScreen))
        assert app.chat_screen.prompt.text == "half a thought"
        assert app.chat_screen.prompt.has_focus


def counting_agent(seen: list):
    count = iter(range(1, 1000))

    async def stream(messages, info: AgentInfo):
        seen.append(list(messages))
        yield f"attempt {next(count)}"

    return dataclasses.replace(build_chat_agent("demo"), model=FunctionModel(stream_function=stream, model_name="t"))


async def three_attempts(pilot, app, seen: list) -> None:
    """A prompt, then Ctrl+G twice: three versions of its reply."""
    await send(pilot, "tell me a joke")
    await wait_idle(pilot)
    for attempts in (2, 3):
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda n=attempts: len(seen) == n and f"attempt {n}" in screen_text(app))
        await wait_idle(pilot)


async def test_tree_shows_every_version_and_picking_one_is_saved_and_sent(xsus_home):
    from xsus_tui.ui.screens.tree import TreeScreen

    seen: list = []
    app = make_app(xsus_home, counting_agent(seen))
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat_screen
        await three_attempts(pilot, app, seen)
        assert "attempt 3" in screen_text(app)
        await send(pilot, "/tree")
        await wait_for(pilot, lambda: isinstance(app.screen, TreeScreen))
        text = screen_text(app)
        assert "‹1/3› tell me a joke  → attempt 1" in text and "‹3/3› tell me a joke  → attempt 3" in text
        await pilot.press("home", "down", "enter")  # the current version is listed first; then 1 of 3
        await wait_for(pilot, lambda: not isinstance(app.screen, TreeScreen))
        await wait_for(pilot, lambda: "attempt 1" in screen_text(app))
        assert "attempt 3" not in screen_text(app)
        conversation_id = chat.session.conversation.conversation_id
    store = SQLiteConversationStore.open(xsus_home / "history.db")
    conversation = await store.load(conversation_id)
    store.close()
    assert conversation.messages[-1].parts[0].content == "attempt 1"
    app = make_app(xsus_home, counting_agent(seen), conversation=conversation)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "attempt 1" in screen_text(app))
        await send(pilot, "another")
        await wait_idle(pilot)
        replies = [p.content for m in seen[-1] if isinstance(m, ModelResponse) for p in m.parts]
        assert replies == ["attempt 1"]


async def test_versions_switch_with_left_and_right_and_the_choice_is_kept(xsus_home):
    seen: list = []
    app = make_app(xsus_home, counting_agent(seen))
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat_screen
        await three_attempts(pilot, app, seen)
        await wait_for(pilot, lambda: "‹3/3› tell me a joke" in screen_text(app))
        await pilot.press("ctrl+up", "left")
        await wait_for(pilot, lambda: "‹2/3› tell me a joke" in screen_text(app) and "attempt 2" in screen_text(app))
        assert chat.selected_turn() is not None  # still selected: Left again goes on
        await pilot.press("left")
        await wait_for(pilot, lambda: "‹1/3› tell me a joke" in screen_text(app) and "attempt 1" in screen_text(app))
        await pilot.press("left")  # no version before the first: stays
        await pilot.press("right")
        await wait_for(pilot, lambda: "‹2/3›" in screen_text(app))
        await pilot.press("left", "escape")
        await wait_for(pilot, lambda: "‹1/3›" in screen_text(app) and chat.prompt.has_focus)
        conversation = chat.session.conversation
    app = make_app(xsus_home, counting_agent(seen), conversation=conversation)  # as `xsus -c` would
    store = app.session.store
    app.session.conversation = await store.load(conversation.conversation_id)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "‹1/3› tell me a joke" in screen_text(app) and "attempt 1" in screen_text(app))
        await send(pilot, "another")
        await wait_idle(pilot)
        assert [p.content for m in seen[-1] if isinstance(m, ModelResponse) for p in m.parts] == ["attempt 1"]


async def test_edit_an_earlier_prompt_makes_a_new_version_and_the_old_branch_stays(xsus_home):
    seen: list = []
    app = make_app(xsus_home, counting_agent(seen))
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat_screen
        for prompt in ("first", "second", "third"):
            await send(pilot, prompt)
            await wait_idle(pilot)
        await pilot.press(*"a draft")
        await pilot.press("ctrl+up", "up", "e")  # the second turn's prompt into the input
        await wait_for(pilot, lambda: chat.prompt.text == "second" and chat.editing == 2)
        await pilot.press("escape")  # cancelled: the draft is back
        await wait_for(pilot, lambda: chat.prompt.text == "a draft" and chat.editing is None)
        await pilot.press("ctrl+up", "up", "e")
        await wait_for(pilot, lambda: chat.editing == 2)
        await pilot.press(*" again", "enter")
        await wait_for(pilot, lambda: len(seen) == 4)
        await wait_idle(pilot)
        await wait_for(pilot, lambda: "‹2/2› second again" in screen_text(app))
        text = screen_text(app)
        assert "third" not in text and "attempt 4" in text
        assert [p.content for m in seen[-1] for p in m.parts if isinstance(p, UserPromptPart)] == [
            "first",
            "second again",
        ]
        await pilot.press("ctrl+up", "left")
        await wait_for(pilot, lambda: "‹1/2› second" in screen_text(app) and "third" in screen_text(app))
        assert "attempt 3" in screen_text(app)


async def test_fork_at_a_turn_opens_a_new_conversation_and_leaves_this_one(xsus_home):
    seen: list = []
    app = make_app(xsus_home, counting_agent(seen))
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat_screen
        for prompt in ("first", "second", "third"):
            await send(pilot, prompt)
            await wait_idle(pilot)
        original = chat.session.conversation.conversation_id
        await pilot.press("ctrl+up", "up", "f")
        await wait_for(pilot, lambda: chat.session.conversation.conversation_id != original)
        await wait_for(pilot, lambda: "second" in screen_text(app) and "third" not in screen_text(app))
        await send(pilot, "forked on")
        await wait_idle(pilot)
        sent = [p.content for m in seen[-1] for p in m.parts if isinstance(p, UserPromptPart)]
        assert sent == ["first", "second", "forked on"]
        store = chat.session.store
        assert len((await store.load(original)).messages) == 6


async def test_deleting_the_open_conversation_leaves_a_new_one_and_ctrl_n_works_from_the_tree(xsus_home):
    from xsus_tui.ui.screens.tree import TreeScreen

    seen: list = []
    app = make_app(xsus_home, counting_agent(seen))
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat_screen
        await send(pilot, "doomed")
        await wait_idle(pilot)
        doomed = chat.session.conversation.conversation_id
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen) and len(browser(app).rows) == 1)
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDelete))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen) and not browser(app).rows)
        await pilot.press("escape")
        await wait_for(pilot, lambda: chat.session.conversation.conversation_id != doomed)
        await wait_for(pilot, lambda: "was deleted; this is a new one" in screen_text(app))
        await send(pilot, "fresh")
        await wait_idle(pilot)
        assert [p.content for m in seen[-1] for p in m.parts if isinstance(p, UserPromptPart)] == ["fresh"]
        fresh = chat.session.conversation.conversation_id
        await send(pilot, "/tree")
        await wait_for(pilot, lambda: isinstance(app.screen, TreeScreen))
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.screen is chat and chat.session.conversation.conversation_id != fresh)
        assert chat.session.conversation.messages == []


async def test_closing_the_browser_at_once_while_it_searches_is_fine(xsus_home):
    await fill(xsus_home, conversations=30, turns=2)
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        from textual import events

        for _ in range(5):  # keys as fast as a terminal delivers them, without waiting for the app between them
            for key in ("ctrl+o", *"chat", "escape", "ctrl+o", "escape"):
                app.post_message(events.Key(key, key if len(key) == 1 else None))
            await pilot.pause()
        await wait_for(pilot, lambda: app.screen is app.chat_screen)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen) and len(browser(app).rows) == 30)
    assert app.return_code in (0, None)


async def test_the_cli_search_lists_what_the_browser_lists(xsus_home, capsys):
    import json

    from xsus_tui import cli

    ids = await fill(xsus_home, conversations=6, turns=3)
    store = SQLiteConversationStore.open(xsus_home / "history.db")
    await store.rename(ids[4], "All about the capybara")
    store.close()
    assert cli.main(["history", "search", "capybara", "--json"]) == 0
    listed = [(row["conversation_id"], row["role"], row["turn"]) for row in json.loads(capsys.readouterr().out)]
    assert listed == [(ids[4], "title", None), (ids[2], "reply", 2)]
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen))
        await pilot.press(*"capybara")
        await wait_for(pilot, lambda: browser(app)._query == "capybara" and len(browser(app).rows) == 2)
        shown = [
            (row.conversation_id, "title", None)
            if not hasattr(row, "entry_id")
            else (row.conversation.conversation_id, row.role, row.turn)
            for row in browser(app).rows
        ]
        assert shown == listed


async def test_each_conversation_shows_its_tokens_and_cost(xsus_home):
    from pydantic_ai.usage import RequestUsage

    xsus_home.mkdir(parents=True, exist_ok=True)
    store = SQLiteConversationStore.open(xsus_home / "history.db")
    for model, provider in (("gpt-4o-mini", "openai"), ("mystery-model", "nowhere")):
        messages = turn(f"Question for {model}", "An answer.")
        messages[1].model_name, messages[1].provider_name = model, provider
        messages[1].usage = RequestUsage(input_tokens=1000, output_tokens=100)
        await store.save(Conversation(messages=messages))
    store.close()
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen) and len(browser(app).rows) == 2)
        await wait_for(pilot, lambda: "1.1k tok cost ?" in screen_text(app))
        lines = screen_text(app).splitlines()
        assert any("1 turn" in line and "1.1k tok $0.0002" in line for line in lines)  # genai-prices' gpt-4o-mini
        assert any("1 turn" in line and "1.1k tok cost ?" in line for line in lines)  # unknown: never a guess
