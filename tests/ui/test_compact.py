"""/compact in the app: the summary shown where it begins, the old branch one key away, Esc stops it."""

from __future__ import annotations

import asyncio

from pydantic_ai.messages import CompactionPart, UserPromptPart

from xsus_tui.core import compaction
from xsus_tui.core.store import SQLiteConversationStore

from ..core.helpers import chat_agent
from .helpers import SIZE, make_app, screen_text, send, wait_for, wait_idle


def summarizing_model(gate: asyncio.Event | None = None, sent: list | None = None):
    async def stream(messages, info):
        if sent is not None:
            sent.append(list(messages))
        prompt = messages[-1].parts[-1].content
        if isinstance(prompt, str) and prompt.startswith(compaction.SUMMARY_REQUEST):
            yield "They talked about "
            if gate is not None:
                await gate.wait()
            yield "apples and pears."
            return
        yield f"reply to {prompt}"

    return chat_agent(stream)


async def test_compact_shows_the_summary_above_the_kept_turn_and_keeps_the_old_branch(xsus_home):
    sent: list = []
    app = make_app(xsus_home, summarizing_model(sent=sent))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        for prompt in ("apples", "pears", "plums"):
            await send(pilot, prompt)
            await wait_idle(pilot)
        await send(pilot, "/compact")
        await wait_for(pilot, lambda: "Compacted: 2 turns replaced" in screen_text(app))
        text = screen_text(app)
        assert "2 earlier turns summarized" in text and "They talked about apples and pears." in text
        assert "reply to apples" not in text and "reply to plums" in text  # the old turns are off the screen
        assert "‹2/2› plums" in text  # the kept turn has two versions now: the full conversation is the first
        await send(pilot, "next")
        await wait_idle(pilot)
        assert isinstance(sent[-1][0].parts[0], CompactionPart)  # the model got the summary, not the old turns
        conversation_id = screen.session.conversation.conversation_id
    store = SQLiteConversationStore.open(xsus_home / "history.db")
    stored = await store.load(conversation_id)
    prompts = [p.content for m in stored.messages for p in m.parts if isinstance(p, UserPromptPart)]
    assert prompts == ["plums", "next"]
    record = await store.read_record(conversation_id)
    histories = [await store.read_history(tip) for tip in record.branches]
    assert any(
        [p.content for e in h for p in e.message.parts if isinstance(p, UserPromptPart)] == ["apples", "pears", "plums"]
        for h in histories
    )


async def test_esc_stops_a_compaction_and_nothing_changes(xsus_home):
    gate = asyncio.Event()
    app = make_app(xsus_home, summarizing_model(gate))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        for prompt in ("apples", "pears"):
            await send(pilot, prompt)
            await wait_idle(pilot)
        before = list(screen.session.conversation.messages)
        await send(pilot, "/compact")
        await wait_for(pilot, lambda: "summary 18 characters so far" in screen_text(app))
        assert "compacting" in screen_text(app)
        await send(pilot, "typed meanwhile")  # queued to run after the compaction; Esc gives it back
        await wait_for(pilot, lambda: "typed meanwhile" in screen_text(app) and screen.prompt.text == "")
        await pilot.press("escape")
        await wait_for(pilot, lambda: "Compaction stopped: nothing changed." in screen_text(app))
        assert screen.session.conversation.messages == before
        assert "reply to apples" in screen_text(app) and "summarized" not in screen_text(app)
        assert screen.prompt.text == "typed meanwhile"


async def test_a_message_typed_while_compacting_runs_next(xsus_home):
    gate = asyncio.Event()
    sent: list = []
    app = make_app(xsus_home, summarizing_model(gate, sent))
    async with app.run_test(size=SIZE) as pilot:
        for prompt in ("apples", "pears"):
            await send(pilot, prompt)
            await wait_idle(pilot)
        await send(pilot, "/compact")
        await wait_for(pilot, lambda: "compacting" in screen_text(app))
        await send(pilot, "and plums?")
        gate.set()
        await wait_for(pilot, lambda: "reply to and plums?" in screen_text(app))
        await wait_idle(pilot)
        assert isinstance(sent[-1][0].parts[0], CompactionPart)  # it ran on the compacted conversation
        assert "1 earlier turn summarized" in screen_text(app)


async def test_compact_with_one_turn_says_there_is_nothing_to_compact(xsus_home):
    app = make_app(xsus_home, summarizing_model())
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "/compact")
        await wait_for(pilot, lambda: "Nothing to compact: this conversation has no turns yet" in screen_text(app))
        await send(pilot, "apples")
        await wait_idle(pilot)
        await send(pilot, "/compact")
        await wait_for(pilot, lambda: "Nothing to compact: only 1 turn here" in screen_text(app))
