"""Streamed text reaches disk while it streams: a `kill -9` mid-reply loses at most the last second.

A child process streams the demo's long reply into a real history database and reports, after each
delta, how much text it has shown; the test kills it with SIGKILL and opens the database again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

from pydantic_ai import Agent
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from xsus_tui.core.agents import ChatAgent
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import RECOVERED_METADATA_KEY, SQLiteConversationStore

CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from xsus_tui.core.agents import build_chat_agent
    from xsus_tui.core.session import ChatSession
    from xsus_tui.core.store import SQLiteConversationStore

    async def main(db):
        store = SQLiteConversationStore.open(db)
        session = ChatSession(build_chat_agent("demo"), store)
        shown = ""
        async for event in session.run_turn("long"):
            if type(event).__name__ == "TextDelta":
                shown += event.text
                print(f"{time.monotonic()} {len(shown)}", flush=True)

    asyncio.run(main(sys.argv[1]))
    """
)


def stream_then_kill(db, seconds: float) -> list[tuple[float, int]]:
    """Run the child until it has streamed for `seconds`, kill -9 it; (time, characters shown) per delta."""
    env = {**os.environ, "XSUS_DEMO_DELAY": "0.01", "PYDANTIC_AI_NO_BANNER": "1"}
    process = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, text=True, env=env)
    shown: list[tuple[float, int]] = []
    try:
        for line in process.stdout:
            at, length = line.split()
            shown.append((float(at), int(length)))
            if shown[-1][0] - shown[0][0] >= seconds:
                break
        killed_at = time.monotonic()
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(10)
    assert shown and killed_at - shown[-1][0] < 1, "the child stopped streaming early"
    return shown


def test_kill_minus_nine_loses_at_most_the_last_second_and_the_chat_goes_on(tmp_path) -> None:
    db = tmp_path / "history.db"
    shown = stream_then_kill(db, 3.0)
    last_at, total = shown[-1]
    second_before = max(length for at, length in shown if at <= last_at - 1.0)

    store = SQLiteConversationStore.open(db)
    conversation_id = store.latest_id()
    assert store.recovered == [conversation_id]
    conversation = asyncio.run(store.load(conversation_id))
    prompt, reply = conversation.messages
    assert isinstance(prompt, ModelRequest) and prompt.parts[0].content == "long"
    assert isinstance(reply, ModelResponse) and reply.state == "interrupted"
    assert RECOVERED_METADATA_KEY in reply.metadata
    kept = "".join(part.content for part in reply.parts if isinstance(part, TextPart))
    print(f"shown {total} characters, kept {len(kept)}, shown a second before the kill {second_before}")
    assert second_before <= len(kept) <= total

    # --continue goes on from it: the model sees prompt, partial reply, prompt (never two prompts in a row).
    seen: list[list] = []

    async def stream(messages, info: AgentInfo):
        seen.append(messages)
        yield "carrying on"

    async def next_turn() -> None:
        agent = ChatAgent(agent=Agent(FunctionModel(stream_function=stream)), label="f")
        session = ChatSession(agent, store, conversation=conversation)
        assert await session.take_back_unanswered() is None
        async for _ in session.run_turn("go on"):
            pass

    asyncio.run(next_turn())
    kinds = [type(m).__name__ for m in seen[0]]
    assert kinds == ["ModelRequest", "ModelResponse", "ModelRequest"]
    assert [p.content for p in seen[0][-1].parts if isinstance(p, UserPromptPart)] == ["go on"]
    again = SQLiteConversationStore.open(db)
    assert again.recovered == []  # recovered once, not again
    assert len(asyncio.run(again.load(conversation_id)).messages) == 4
    again.close()
    store.close()


def test_a_checkpoint_of_a_live_process_is_not_taken(tmp_path) -> None:
    """A second xsus opening the database while the first still streams leaves the first's checkpoint alone."""
    db = tmp_path / "history.db"
    env = {**os.environ, "XSUS_DEMO_DELAY": "0.01", "PYDANTIC_AI_NO_BANNER": "1"}
    process = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        first = None
        for line in process.stdout:
            at = float(line.split()[0])
            first = first or at
            if at - first >= 1.5:
                break
        store = SQLiteConversationStore.open(db)
        assert store.recovered == []
        store.close()
    finally:
        process.kill()
        process.wait(10)
    store = SQLiteConversationStore.open(db)  # now its writer is gone
    assert len(store.recovered) == 1
    store.close()


async def test_an_unanswered_prompt_is_taken_back_not_repeated(tmp_path) -> None:
    """Killed before the first token: the prompt is on disk alone; it is offered again, not sent twice."""
    store = SQLiteConversationStore.open(tmp_path / "history.db")
    unused = ChatAgent(agent=Agent(FunctionModel(lambda messages, info: ModelResponse(parts=[]))), label="x")
    first = ChatSession(unused, store)
    first.conversation.messages.append(ModelRequest(parts=[UserPromptPart("lost in the crash")]))
    await first._save()
    loaded = await store.load(first.conversation.conversation_id)
    session = ChatSession(unused, store, conversation=loaded)
    assert await session.take_back_unanswered() == "lost in the crash"
    assert session.conversation.messages == []
    reloaded = await store.load(session.conversation.conversation_id)
    assert reloaded.messages == []
    store.close()


async def test_a_checkpoint_the_store_could_not_add_is_shown_not_taken_back(tmp_path) -> None:
    """The disk was full (here: the database read-only) when the store opened, so a dead process's checkpoint
    is still pending: the chat shows it and keeps it in memory, and never offers its prompt as unanswered."""
    db = tmp_path / "history.db"
    store = SQLiteConversationStore.open(db)
    unused = ChatAgent(agent=Agent(FunctionModel(lambda messages, info: ModelResponse(parts=[]))), label="x")
    first = ChatSession(unused, store)
    first.conversation.messages.append(ModelRequest(parts=[UserPromptPart("long")]))
    await first._save()
    await store.checkpoint(
        first.conversation.conversation_id,
        revision=first.conversation.revision,
        messages=[ModelResponse(parts=[TextPart("what was on screen")], state="interrupted")],
    )
    store._worker.call(lambda: store._db.execute("UPDATE partials SET pid = 999999999"))  # its writer died
    store.close()

    reader = SQLiteConversationStore.open(db, readonly=True)
    loaded = await reader.load(first.conversation.conversation_id)
    assert [type(m).__name__ for m in loaded.messages] == ["ModelRequest", "ModelResponse"]  # shown in memory
    loaded.messages.pop()  # as the chat loads it: without the pending reply
    session = ChatSession(unused, reader, conversation=loaded)
    assert await session.take_back_unanswered() is None
    assert session.conversation.messages[-1].parts[0].content == "what was on screen"
    assert session.save_error is not None and session.unsaved == 1
    reader.close()
