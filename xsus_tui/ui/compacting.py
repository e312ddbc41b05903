"""/compact in the chat: the summary written with its progress on the status line, Esc to stop, the chat shown
again from the compacted history (the summary above the turns kept)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xsus_tui.core.compaction import CompactionCancelled, NothingToCompact
from xsus_tui.core.db import StoreError
from xsus_tui.core.errors import describe_error
from xsus_tui.core.usage import format_tokens

if TYPE_CHECKING:
    from .screens.chat import ChatScreen


def offer(screen: ChatScreen) -> None:
    """After a turn: when it left the context window `session.compact_at` full or more, say so once for this
    conversation (again after it went below, as after a compaction) and offer /compact."""
    session = screen.session
    figures = screen.status.usage
    context = figures.context if figures is not None else None
    fraction = context.fraction if context is not None else None
    conversation_id = session.conversation.conversation_id
    if fraction is None or fraction < session.compact_at:
        if screen.compact_offered == conversation_id:
            screen.compact_offered = None
        return
    if screen.compact_offered == conversation_id or len(session.prompt_indexes()) < 2:
        return
    screen.compact_offered = conversation_id
    assert context is not None and context.tokens is not None and context.window is not None
    screen.show_notice(
        f"The context window is {fraction:.0%} full ({format_tokens(context.tokens)} of "
        f"{format_tokens(context.window)} tokens). /compact replaces the earlier turns by a summary the model "
        "writes, so the conversation goes on fitting; the full conversation stays stored."
    )


async def compact(screen: ChatScreen, focus: str) -> None:
    """Run as the screen's turn worker: no prompt is sent meanwhile, and Esc (`session.cancel()`) stops it."""
    session, status = screen.session, screen.status
    turns = len(session.prompt_indexes())
    written = 0

    def heard(piece: str) -> None:
        nonlocal written
        written += len(piece)
        status.note = f"summary {written:,} characters so far · Esc stops"

    status.state, status.stats = "compacting", None
    status.note = f"the model is summarizing {max(0, turns - 1)} turns · Esc stops"
    screen.show_hint(busy=True)
    screen.compacting = True  # a message typed meanwhile waits to run as the next turn
    stopped = False
    try:
        done = await session.compact(focus=focus, on_text=heard)
    except NothingToCompact as error:
        screen.show_notice(f"Nothing to compact: {error}.")
        return
    except CompactionCancelled:
        stopped = True
        screen.show_notice("Compaction stopped: nothing changed.")
        return
    except StoreError as error:  # compacted in memory; saved with the next save (or at quit)
        await screen.show_compacted()
        screen.show_notice(f"Compacted, but not saved yet ({error}): xsus saves it with your next prompt or at quit.")
        return
    except Exception as error:  # the model failed: one line, nothing changed
        screen.show_notice(
            f"Not compacted: {describe_error(error, key_env=session.chat_agent.key_env)} Nothing changed."
        )
        return
    finally:
        status.state, status.note = "idle", ""
        screen.show_hint(busy=False)
        screen.compacting = False
        screen.after_compacting(stopped=stopped)
    await screen.show_compacted()
    replaced = f"{done.turns} turn{'s' if done.turns != 1 else ''}"
    if done.summarized > done.turns:  # an earlier summary was summarized again with them
        replaced += f" and the earlier summary ({done.summarized} turns in all)"
    kept = "the last turn kept as it was" if done.kept == 1 else f"the last {done.kept} turns kept as they were"
    screen.show_notice(
        f"Compacted: {replaced} replaced by a {len(done.summary):,}-character summary, {kept}. The full "
        "conversation stays stored as the earlier version of turn 1 (/tree, or Ctrl+Up then ←/→)."
    )
