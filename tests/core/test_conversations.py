"""Listing, searching, branching, deleting and importing conversations in the SQLite store (schema 2)."""

from __future__ import annotations

import sqlite3

import pytest
from pydantic_ai.conversation import Conversation
from pydantic_ai.messages import (
    ModelRequest,
    ModelResponse,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from xsus_tui.core import index
from xsus_tui.core.index import MARK_END, MARK_START
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore

from .helpers import chat_agent, collect, text_stream, to_schema_1


def turn(prompt: str, reply: str) -> list:
    return [ModelRequest(parts=[UserPromptPart(prompt)]), ModelResponse(parts=[TextPart(reply)], model_name="m1")]


@pytest.fixture
def store(tmp_path):
    store = SQLiteConversationStore.open(tmp_path / "history.db")
    yield store
    store.close()


async def saved(store, *turns: tuple[str, str]) -> str:
    conversation = Conversation(messages=[m for pair in turns for m in turn(*pair)])
    await store.save(conversation)
    return conversation.conversation_id


async def test_listing_carries_turns_preview_model_and_agent(store):
    store.agent_label = "app.py:support"
    first = await saved(store, ("Plan a trip to Lisbon for four days please", "Day one: Alfama.\nDay two: Belém."))
    second = await saved(store, ("hi", "hello"), ("and again", "sure thing"))
    rows = await store.page()
    assert [row.conversation_id for row in rows] == [second, first]
    assert (rows[0].turns, rows[0].messages, rows[0].preview, rows[0].model, rows[0].agent) == (
        2,
        4,
        "sure thing",
        "m1",
        "app.py:support",
    )
    assert rows[1].title == "Plan a trip to Lisbon for four days please"
    assert rows[1].preview == "Day one: Alfama. Day two: Belém."
    assert [row.conversation_id for row in await store.page(title="LISBON")] == [first]
    assert [row.conversation_id for row in await store.page(limit=1, offset=1)] == [first]


async def test_long_first_prompts_make_short_titles(store):
    conversation_id = await saved(store, ("word " * 40 + "\nsecond line", "ok"))
    (row,) = await store.page()
    assert row.conversation_id == conversation_id
    assert row.title.endswith("…") and len(row.title) <= index.TITLE_CHARS and "second" not in row.title


async def test_search_finds_prompts_replies_thinking_and_tool_calls_with_marked_snippets(store):
    conversation = Conversation(
        messages=[
            ModelRequest(parts=[UserPromptPart("Where is the config kept?")]),
            ModelResponse(
                parts=[
                    ThinkingPart("the user wants platformdirs"),
                    ToolCallPart("read_file", {"path": "settings/xsus.toml"}, tool_call_id="c1"),
                ]
            ),
            ModelRequest(parts=[ToolReturnPart("read_file", "model = 'gpt-zebra'", tool_call_id="c1")]),
            ModelResponse(parts=[TextPart("It lives in os.path.join(home, '.config') and takes --force flags.")]),
        ]
    )
    await store.save(conversation)
    for query, role in [
        ("config kept", "you"),
        ("platformdirs", "reply"),
        ("xsus.toml", "reply"),
        ("gpt-zebra", "tool"),
        ("os.path.join", "reply"),
        ("--force", "reply"),
    ]:
        hits = await store.search(query)
        assert [hit.conversation.conversation_id for hit in hits] == [conversation.conversation_id], query
        assert hits[0].role == role and hits[0].turn == 1
        marked = hits[0].snippet.split(MARK_START, 1)[1].split(MARK_END, 1)[0]
        assert marked.casefold() in query.casefold() or query.split()[0].casefold() in marked.casefold(), (
            query,
            hits[0].snippet,
        )


async def test_search_handles_code_other_scripts_and_odd_queries_as_plain_words(store):
    conversation_id = await saved(
        store,
        ("snake_case_name and C++ templates", "see foo-bar (x) and AND/OR logic"),
        ("日本語のテキストを検索", 'a "quoted" word'),
    )
    for query in [
        "snake_case",
        "C++",
        "foo-bar",
        "(x)",
        "AND/OR",
        "日本語",
        "テキスト",
        '"quoted',
        "snake_case C++",
        "SNAKE_CASE",
    ]:
        hits = await store.search(query)
        assert [hit.conversation.conversation_id for hit in hits[:1]] == [conversation_id], query
    for query in ["NEAR(", "*", ":", "(", '"', "OR NOT", "col:umn", "^abc"]:
        assert await store.search(query) == [], query  # not there: nothing, and never an error
    assert await store.search("no-such-thing-here") == []
    assert index.plain_query("in chat 2 of C") == '"in chat 2 of C"'
    assert index.plain_query("foo bar") == '"foo" "bar"'
    assert index.plain_query("function " * 300) == '"function"'  # a paste of repeated words: each once
    assert index.plain_query(" ".join(f"word{n}" for n in range(500))).count('"') == 2 * index.MAX_TERMS
    assert [hit.turn for hit in await store.search("C++ templates")] == [1]
    assert await store.search("ab") == []  # shorter than a trigram: nothing, never an error
    assert await store.search("") == []
    # FTS5 syntax is used when it parses.
    assert len(await store.search('"snake_case" OR "日本語"')) == 2


async def test_search_hits_know_their_turn_and_newest_come_first(store):
    older = await saved(store, ("first", "nothing"), ("second", "the walrus said"))
    newer = await saved(store, ("walrus facts?", "plenty"))
    hits = await store.search("walrus")
    assert [(hit.conversation.conversation_id, hit.turn, hit.role) for hit in hits] == [
        (newer, 1, "you"),
        (older, 2, "reply"),
    ]


async def test_deleted_conversations_leave_lists_and_search_until_undone(store):
    keep = await saved(store, ("keep me", "kept reply"))
    gone = await saved(store, ("forget the pelican", "pelican reply"))
    deleted = await store.delete_soft(gone)
    assert deleted.title == "forget the pelican" and deleted.turns == 1
    assert [row.conversation_id for row in await store.page()] == [keep]
    assert await store.search("pelican") == []
    assert await store.load(gone) is None
    await store.undelete(gone)
    assert {row.conversation_id for row in await store.page()} == {keep, gone}
    assert len(await store.search("pelican")) == 2
    assert (await store.load(gone)).messages[0].parts[0].content == "forget the pelican"


async def test_a_deleted_conversation_is_purged_at_quit_but_entries_a_fork_uses_are_spared(tmp_path):
    path = tmp_path / "history.db"
    store = SQLiteConversationStore.open(path)
    source = await saved(store, ("shared start", "shared reply"), ("source only", "source reply"))
    fork = await store.fork(source, at=2)
    fork.messages += turn("fork only", "fork reply")
    await store.save(fork)
    await store.delete_soft(source)
    other = SQLiteConversationStore.open(path)  # another store opening meanwhile: we are alive, so it is kept
    await other.undelete(source)
    await other.delete_soft(source)
    other.close()  # closing purges what this process deleted
    with pytest.raises(KeyError):
        await store.undelete(source)
    db = sqlite3.connect(path)
    texts = [row[0] for row in db.execute("SELECT text FROM search")]
    assert "source only" not in texts and "shared start" in texts and "fork only" in texts
    store.close()
    loaded = SQLiteConversationStore.open(path)
    assert [m.parts[0].content for m in (await loaded.load(fork.conversation_id)).messages[::2]] == [
        "shared start",
        "fork only",
    ]
    loaded.close()


async def test_delete_now_removes_the_messages(store):
    gone = await saved(store, ("secret pelican", "secret reply"))
    await store.delete_now(gone)
    count = store._call(lambda: store._db.execute("SELECT count(*) FROM entries").fetchone()[0])
    assert count == 0 and await store.search("pelican") == []


async def test_rename_keeps_the_title_through_later_saves(store):
    conversation = Conversation(messages=turn("first words", "reply"))
    await store.save(conversation)
    assert await store.rename(conversation.conversation_id, "  Trip\nplanning  ") == "Trip planning"
    conversation.messages += turn("more", "more reply")
    await store.save(conversation)
    assert (await store.summary(conversation.conversation_id)).title == "Trip planning"
    with pytest.raises(ValueError):
        await store.rename(conversation.conversation_id, " \n ")
    with pytest.raises(KeyError):
        await store.rename("nope", "x")


async def test_regenerate_and_edit_make_versions_you_can_switch_to_and_reopen(tmp_path):
    """Ctrl+G twice makes three versions of a reply; switching to the first is saved, and it is what the model is
    sent next; an edited prompt is another version of its turn."""
    path = tmp_path / "history.db"
    store = SQLiteConversationStore.open(path)
    seen: list = []
    replies = iter(["one", "two", "three", "four", "five", "six"])

    async def stream(messages, info):
        seen.append(list(messages))
        yield next(replies)

    session = ChatSession(chat_agent(stream), store)
    await collect(session, "first prompt")  # one
    await collect(session, "second prompt")  # two
    for _ in range(2):
        prompt = await session.regenerate()
        await collect(session, prompt)  # three, four
    tree = await store.tree(session.conversation.conversation_id)
    versions, shown = tree.turns()[1]
    assert len(versions) == 3 and shown == 2
    first = versions[0]
    await session.show_version(first.tip)
    assert [m.parts[0].content for m in session.conversation.messages[1::2]] == ["one", "two"]
    store.close()

    store = SQLiteConversationStore.open(path)  # reopened: the same version
    conversation = await store.load(session.conversation.conversation_id)
    assert [m.parts[0].content for m in conversation.messages[1::2]] == ["one", "two"]
    session = ChatSession(chat_agent(stream), store, conversation=conversation)
    await collect(session, "third prompt")  # five, sent after the chosen version
    assert [m.parts[0].content for m in seen[-1] if isinstance(m, ModelResponse)] == ["one", "two"]
    tree = await store.tree(conversation.conversation_id)
    assert [(len(v), shown) for v, shown in tree.turns()] == [(1, 0), (3, 0), (1, 0)]

    # Edit the second prompt: a fourth version of turn 2; the old branch (with turn 3) is still there.
    await session.branch_before(2)
    await collect(session, "second prompt, edited")  # six
    tree = await store.tree(conversation.conversation_id)
    turns = tree.turns()
    assert len(turns) == 2 and (len(turns[1][0]), turns[1][1]) == (4, 3)
    back = turns[1][0][0]
    await session.show_version(back.tip)
    texts = [m.parts[0].content for m in session.conversation.messages]
    assert texts == ["first prompt", "one", "second prompt", "two", "third prompt", "five"]
    lines = tree.lines()
    assert [(line.version.turn, line.position, line.of) for line in lines if line.current] == [(1, 1, 1), (2, 4, 4)]
    assert sorted((line.version.turn, line.position) for line in lines) == [
        (1, 1),
        (2, 1),
        (2, 2),
        (2, 3),
        (2, 4),
        (3, 1),
    ]
    store.close()


async def test_a_tree_thousands_of_turns_deep_is_listed(store):
    messages = [m for number in range(3000) for m in turn(f"p{number}", f"r{number}")]
    conversation = Conversation(messages=messages)
    await store.save(conversation)
    tree = await store.tree(conversation.conversation_id)
    assert len(tree.lines()) == 3000 and len(tree.turns()) == 3000


async def test_fork_at_a_turn_starts_a_new_conversation(store):
    session = ChatSession(chat_agent(text_stream(["ok"])), store)
    for prompt in ("a", "b", "c"):
        await collect(session, prompt)
    fork = await session.fork_at(2)
    assert [m.parts[0].content for m in fork.messages[::2]] == ["a", "b"]
    assert len(session.conversation.messages) == 6


async def test_all_branches_round_trip_through_import(store, tmp_path):
    session = ChatSession(chat_agent(text_stream(["reply"])), store)
    await collect(session, "one")
    await collect(session, "two")
    await collect(session, await session.regenerate())
    record, entries = await store.all_entries(session.conversation.conversation_id)
    copy_id = await store.import_tree(entries, record.head_id, title="Copied")
    copy_tree = await store.tree(copy_id)
    assert [(len(v), shown) for v, shown in copy_tree.turns()] == [(1, 0), (2, 1)]
    copy = await store.load(copy_id)
    assert copy.messages == session.conversation.messages
    assert (await store.summary(copy_id)).title == "Copied"
    messages_id = await store.import_messages(copy.messages)
    assert (await store.load(messages_id)).messages == copy.messages


async def test_a_schema_1_store_is_indexed_once_with_progress(tmp_path):
    path = tmp_path / "history.db"
    store = SQLiteConversationStore.open(path)
    ids = [await saved(store, (f"question {n} about otters", f"answer {n}"), ("more", "fine")) for n in range(30)]
    branched = await store.branch(ids[0], at=1, expected_revision=(await store.load(ids[0])).revision)
    branched.messages.append(ModelResponse(parts=[TextPart("another answer about beavers")]))
    await store.save(branched)
    store.close()
    to_schema_1(path)
    readonly = SQLiteConversationStore.open(path, readonly=True)
    assert len(readonly.summaries()) == 30  # listing still works before the index exists
    with pytest.raises(Exception, match="no search index yet"):
        await readonly.search("otters")
    readonly.close()
    seen: list[tuple[int, int]] = []
    store = SQLiteConversationStore.open(path, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] == 121
    assert len(await store.search("otters")) == 30
    assert [hit.turn for hit in await store.search("beavers")] == [1]
    rows = {row.conversation_id: row for row in await store.page(limit=None)}
    assert (rows[ids[5]].turns, rows[ids[5]].messages, rows[ids[5]].preview) == (2, 4, "fine")
    assert (rows[ids[0]].turns, rows[ids[0]].messages) == (1, 2)
    assert [len(v) for v, _ in (await store.tree(ids[0])).turns()] == [2]
    store.close()
    seen.clear()
    SQLiteConversationStore.open(path, progress=lambda done, total: seen.append((done, total))).close()
    assert seen == []  # once


async def test_previews_show_reply_text_not_thinking_nor_markup_and_forks_get_titles(store):
    conversation = Conversation(
        messages=[
            ModelRequest(parts=[UserPromptPart("What is new?\nsecond line")]),
            ModelResponse(parts=[ThinkingPart("the user wants news"), TextPart("# Hello\n\nSome **bold** `code`")]),
            *turn("and more", "fine"),
        ]
    )
    await store.save(conversation)
    branched = await store.branch(conversation.conversation_id, at=2, expected_revision=conversation.revision)
    assert (await store.summary(branched.conversation_id)).preview == "Hello Some bold code"
    fork = await store.fork(conversation.conversation_id, at=2)
    summary = await store.summary(fork.conversation_id)
    assert summary.title == "What is new?" and summary.turns == 1


async def test_a_forks_turns_are_found_under_it_once_the_original_is_purged(store):
    source = await saved(store, ("the quokka question", "a marsupial"), ("more", "fine"))
    fork = await store.fork(source, at=2)
    await store.delete_now(source)
    hits = await store.search("quokka")
    assert [hit.conversation.conversation_id for hit in hits] == [fork.conversation_id]
    assert hits[0].said_at is not None


async def test_a_conversation_that_never_branched_gives_an_empty_tree_when_asked_for_branches_only(store):
    conversation_id = await saved(store, ("a", "b"), ("c", "d"))
    assert (await store.tree(conversation_id, if_branched=True)).turns() == []
    assert len((await store.tree(conversation_id)).turns()) == 2


def test_plain_markdown_for_previews():
    text = "You said *hello*.\n\n| Tool | Outcome |\n|---|:---:|\n| calc | (17*23) ok |\n_it_ snake_case **b** 2*3*4"
    assert index.one_line(index.plain_markdown(text), 200) == (
        "You said hello. Tool Outcome calc (17*23) ok it snake_case b 2*3*4"
    )


async def test_words_are_found_without_their_accents(store):
    conversation_id = await saved(store, ("un café naïve à Zürich", "d'accord"))
    for query in ("cafe", "café", "naive", "zurich", "Zürich"):
        hits = await store.search(query)
        assert [hit.conversation.conversation_id for hit in hits] == [conversation_id], query
        assert hits[0].snippet.count("Z") == 1, hits[0].snippet  # the text once, with or without its accents
    assert index.without_accents("日本語 テキスト") == "日本語 テキスト"  # no marks to take: as it was


async def test_saving_a_turn_reads_no_more_of_a_long_history_than_of_a_short_one(store):
    """Every save refreshes the conversation's row; only an untitled one (a fork) walks back to its first
    prompt. Walking a 10,000-turn history on every save made a save 29x slower than on 10 turns."""

    async def statements_of_a_save(turns: int) -> list[str]:
        conversation = Conversation(messages=[m for i in range(turns) for m in turn(f"question {i}", f"answer {i}")])
        await store.save(conversation)
        conversation.messages.extend(turn("one more", "and its answer"))
        seen: list[str] = []
        store._db.set_trace_callback(seen.append)
        try:
            await store.save(conversation)
        finally:
            store._db.set_trace_callback(None)
        return seen

    short, long = await statements_of_a_save(3), await statements_of_a_save(300)
    assert not any("RECURSIVE" in sql for sql in long), [sql for sql in long if "RECURSIVE" in sql]
    assert len(long) == len(short), (len(short), len(long))
