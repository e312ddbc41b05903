"""The chat screen: the turns, the prompt, the status line, and the worker that owns each turn."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.errors import NoWidget
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Button, Header, Static
from textual.widgets.text_area import Selection
from textual.worker import Worker

from xsus_tui.core import attachments
from xsus_tui.core import events as ev
from xsus_tui.core.agent_loader import AgentLoadError
from xsus_tui.core.agents import ModelChoiceError, reload_user_agent, switch_model
from xsus_tui.core.db import StoreError
from xsus_tui.core.index import Version
from xsus_tui.core.mcp_servers import McpServers
from xsus_tui.core.pricing import UsageTracker
from xsus_tui.core.recording import Recorder
from xsus_tui.core.replay import PastTurn, past_turns, user_prompts
from xsus_tui.core.session import ChatSession

from .. import commands, compat
from ..folding import is_folded, near_band, refold, unfold, unfold_all
from ..widgets.chips import AttachmentChips
from ..widgets.completions import CommandCompletions
from ..widgets.history_gap import TurnGap
from ..widgets.history_page import PAGE_TURNS, HistoryPage, PageStack
from ..widgets.prompt import PromptInput
from ..widgets.queue import QueuedMessages
from ..widgets.reply import AssistantReply
from ..widgets.status import StatusLine
from ..widgets.tool_panel import ApprovalBar
from ..widgets.user_message import UserMessage
from .selection import SelectedTurn, SelectionKey, TurnSelectionScreen

FOUND_MARK = 3.0
"""Seconds a turn opened from a search or the tree stays marked."""
HISTORY_PAGE = 10
"""Stored turns shown when a conversation opens; scrolling to the top shows this many more each time."""
OPENING_TURNS = 3
"""Of those, rendered before the chat is first painted (the rest of the page follows at once)."""
START_HINT = "Enter sends, Ctrl+J adds a line, Esc interrupts a reply, Ctrl+Q quits."
DEMO_WELCOME = (
    "You are chatting with the embedded demo model: it runs offline and shows every feature. "
    "Type help to see what it can do, or start xsus with --model to use a real model."
)


def settle_garbage() -> None:
    """Keep the garbage collector's pauses short and off the stream, and let it free what finished
    turns gave back.

    The first call (when the chat opens) freezes everything alive then: the modules and the app, which
    live as long as the process, so full collections never walk them again (they took up to 300 ms).
    Later calls (when a turn ends) run a full collection COLLECT_AFTER seconds later, once the turn's
    end is on screen rather than before it (Esc waits for the end), so collections seldom start while
    a reply streams. Nothing else is frozen: a frozen object that becomes garbage later, like the
    widgets of a turn paged out, is never collected (this used to freeze after every turn, and so kept
    every turn). With far-away turns paged out of the chat (ChatLog.page_out), the collection walks a
    few screens of widgets and the conversation, the same at turn 300 as at turn 30, once two of
    Textual's caches that keep growing with the chat are emptied (below).
    """
    release_full_collections()
    compat.clear_styles_cache()  # it keeps dead widgets' style caches (Textualize/textual#6665)
    compat.clear_region_caches()  # they fill with the regions of an ever taller chat
    global _frozen, _collection
    if not _frozen:  # (gc.get_freeze_count() would walk the frozen objects: 13 ms)
        _frozen = True
        gc.collect(1)
        gc.freeze()
        return
    loop = asyncio.get_running_loop()
    if _collection is None or _collection.when() < loop.time():  # (or its loop ended before it ran)
        _collection = loop.call_later(COLLECT_AFTER, gc.collect)


COLLECT_AFTER = 0.1
"""Seconds after a turn's end at which the full collection runs (the end is on screen by then)."""
_frozen = False
_collection: asyncio.TimerHandle | None = None
HELD_THRESHOLD = 1_000_000
"""The collector's third threshold while a reply streams: young collections between full ones, never reached."""
_held: tuple[int, ...] | None = None
"""The collector's thresholds from before `hold_full_collections`, while it holds."""


SWITCH_INTERVAL = 0.001
"""Seconds the main thread runs before it hands the GIL to a thread waiting for it (Python's default: 0.005).
Textual reads keys and writes frames in threads of their own; while the main thread composes a frame, a key
waited up to 5 ms for each step of its way in, a frame as much for its way out (benchmarks/responsiveness:
p99 52-55 -> 32 ms). Threads that don't wait cost nothing."""


def hold_full_collections() -> None:
    """No full collection while a reply streams; `settle_garbage` runs one once the turn has ended.

    Python starts one when enough objects have survived the young collections: every few seconds while a
    reply streams, each walking every unfrozen object (the conversation, the chat's widgets and their
    caches: 40-120 ms, with the other core busy more). Nothing reaches the screen meanwhile, not even a key
    typed then: those pauses were the tail of the key echo (benchmarks/responsiveness). Young collections
    go on (they free most garbage); cycles that outlive them wait for the turn's end.
    """
    global _held
    if _held is None:
        _held = gc.get_threshold()
        gc.set_threshold(_held[0], _held[1], HELD_THRESHOLD)


def release_full_collections() -> None:
    """Let full collections start again (after `hold_full_collections`; any other call does nothing)."""
    global _held
    if _held is not None:
        gc.set_threshold(*_held)
        _held = None


class ChatLog(compat.SizedInOnePass, VerticalScroll, can_focus=False):
    """The scrolling list of turns. Not focusable: typing always goes to the prompt.

    What is far from the viewport is folded (see folding.py), so frames cost the same in a long chat.
    """

    KEEP_TURNS = 3
    """The last turns stay widgets (folded while far away); older ones far away are paged out."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._refold_scheduled = False
        self._folded_width = 0
        self.selected: SelectedTurn | None = None
        """The turn selected with Ctrl+Up (see selection.py): kept as widgets, never folded or paged out, and
        the chat takes the focus meanwhile."""
        self._opening = 0
        """Pages being taken out of a stack and rendered for the selection: no refold meanwhile."""
        self.streaming = False
        """A reply streams into the chat (set by the screen): while the chat follows it, the scrollbar is hidden."""

    def allow_focus(self) -> bool:
        """Focusable only while a turn is selected (the keys then go to the selection); else typing always
        goes to the prompt."""
        return self.selected is not None

    def on_mount(self) -> None:
        self.watch(self, "scroll_y", self._scrolled, init=False)

    def _scrolled(self) -> None:
        self.show_scrollbar()
        self.schedule_refold()

    def show_scrollbar(self) -> None:
        """Hide the scrollbar while the chat follows a streaming reply (`-following`): at the end, its bar would
        be repainted in a frame of its own after every update of the reply, for a thumb that only says "at the
        end" (benchmarks/terminal_render). It is back as soon as the user scrolls away, and when the reply ends.
        The space stays reserved, so nothing moves.

        An inline style of the chat alone, not a class: a class on the chat restyles every widget in it (Textual
        matches the stylesheet again for the whole subtree), 10 ms of a 300-turn chat's Esc on every turn's end."""
        hidden = self.streaming and self.following
        if hidden != (self.styles.scrollbar_visibility == "hidden"):
            self.styles.scrollbar_visibility = "hidden" if hidden else "visible"

    def schedule_refold(self) -> None:
        if not self._refold_scheduled:
            self._refold_scheduled = True
            self.call_after_refresh(self._refold)

    def _refold(self) -> None:
        self._refold_scheduled = False
        if self._opening:
            return  # rescheduled once the pages are open
        kept: set[Widget] = set()
        if self.selected is not None:
            kept.update(self.selected)
            kept.add(self.selected.user.parent)  # type: ignore[arg-type]  # (its page, when it is in one)
        far = refold(self, kept)
        self.page_out(far)
        self.stack_pages(far)

    def page_out(self, far: dict[Widget, Region]) -> None:
        """Move finished turns that are far from the view into folded history pages, and remove their
        widgets (and with them their tasks and rendered lines): folded, they would still be widgets.

        A turn is a UserMessage and the AssistantReply after it, both far away. The reply rendered from
        its events, so the page can render it again when it comes near (HistoryPage.load). The last
        KEEP_TURNS turns stay widgets (folded while far: regenerating takes the last one off the
        screen), and so does a turn holding the focus. Turns go into the folded page just above them
        while it has room, so a long chat is a few pages (and stack_pages stacks those).
        """
        children = self.children
        replies = [child for child in children if isinstance(child, AssistantReply)]
        if len(replies) <= self.KEEP_TURNS:
            return
        kept: set[Widget] = set(replies[-self.KEEP_TURNS :])
        kept.update(self.selected or ())
        focused = self.screen.focused
        runs: list[list[tuple[UserMessage, AssistantReply]]] = []
        index, previous = 0, -2
        while index < len(children) - 1:
            user, reply = children[index], children[index + 1]
            if (
                isinstance(user, UserMessage)
                and isinstance(reply, AssistantReply)
                and user in far
                and reply in far
                and reply not in kept
                and reply.foldable
                and user.display
                and not (focused is not None and (focused is user or reply in focused.ancestors_with_self))
            ):
                if previous != index - 2 or not runs:
                    runs.append([])
                runs[-1].append((user, reply))
                previous = index
                index += 2
            else:
                index += 1
        if not runs:
            return
        gone: list[Widget] = []
        with self.app.batch_update():
            for run in runs:
                first = run[0][0]
                page = children[children.index(first) - 1] if children.index(first) else None
                top = far[first].y - first.styles.margin.top
                if not (isinstance(page, HistoryPage) and page.can_add and page in far):
                    page = None
                while run:
                    room = PAGE_TURNS - (len(page.turns) if page is not None else 0)
                    taken, run = run[:room], run[room:]
                    last = taken[-1][1]
                    bottom = far[last].bottom + last.styles.margin.bottom
                    turns = [
                        PastTurn(
                            prompt=user.prompt,
                            events=reply.events,
                            number=user.number,
                            versions=user.versions,
                            attachments=user.attachments,
                            summary=user.summary,
                            summarized=user.summarized,
                            steered=user.steered,
                        )
                        for user, reply in taken
                    ]
                    if page is not None:
                        page.add(turns, bottom - far[page].bottom)
                    else:
                        self.mount(HistoryPage.paged(turns, bottom - top), before=taken[0][0])
                    for user, reply in taken:
                        user.display = reply.display = False  # out of the layout now; removed below
                        gone += (user, reply)
                    page, top = None, bottom
        self.remove_children(gone)

    def stack_pages(self, far: dict[Widget, Region]) -> None:
        """Keep the chat a few widgets long however many pages it has: runs of folded pages far from
        the view become one PageStack; the pages of a stack that come near come out of it again."""
        children = list(self.children)
        band = near_band(self)
        if band is None:
            return
        gone: list[Widget] = []
        with self.app.batch_update():
            for stack in children:
                if not isinstance(stack, PageStack) or stack in far or not stack.display:
                    continue
                try:
                    region = self.screen.find_widget(stack).region
                except NoWidget:
                    continue
                parts = stack.split(region.y, lambda y, height: y < band.bottom and y + height > band.y)
                self.mount_all(parts, before=stack)
                stack.display = False
                gone.append(stack)
                self.schedule_refold()  # to render the pages that came out

            def stackable(widget: Widget) -> bool:
                if widget not in far or not widget.display:
                    return False
                return isinstance(widget, PageStack) or (isinstance(widget, HistoryPage) and widget.can_stack)

            run: list[Widget] = []
            for widget in [*children, None]:
                if widget is not None and stackable(widget):
                    run.append(widget)
                    continue
                if len(run) > 1:
                    stack = run[0] if isinstance(run[0], PageStack) else None
                    if stack is None:
                        stack = PageStack()
                        self.mount(stack, before=run[0])
                    for page in run:
                        if page is not stack:
                            # Its fixed height, not its region: page_out may have just added turns to it.
                            stack.add(page, int(page.styles.height.value))  # type: ignore[arg-type, union-attr]
                            page.display = False
                            gone.append(page)
                run = []
        if gone:
            self.remove_children(gone)

    # -- turns, for the selection ------------------------------------------------------------------------

    def turn_slots(self) -> list[UserMessage | HistoryPage | PageStack | TurnGap]:
        """The turns from the top, each as its UserMessage when it is a widget; a page or a stack of pages
        not rendered stands for its turns (`open_slot` renders it), and so does a gap of stored turns
        (ChatScreen._open_gap)."""
        slots: list[UserMessage | HistoryPage | PageStack | TurnGap] = []
        for child in self.children:
            if not child.display:
                continue  # on its way out (paged out, or stacked)
            if isinstance(child, UserMessage):
                slots.append(child)
            elif isinstance(child, HistoryPage):
                if child.loaded:
                    slots += [widget for widget in child.children if isinstance(widget, UserMessage)]
                elif child.turns:
                    slots.append(child)
            elif isinstance(child, PageStack) and child.pages or isinstance(child, TurnGap) and child.turns:
                slots.append(child)
        return slots

    async def open_slot(
        self, slot: HistoryPage | PageStack, *, last: bool, index: int | None = None
    ) -> list[UserMessage]:
        """Render the turns of a page not rendered, or of a stack's `last` (else first) page, or its page at
        `index`, and return their UserMessages. The heights are carried exactly, so the view does not move."""
        self._opening += 1
        try:
            if isinstance(slot, PageStack):
                parts = slot.split_at(index if index is not None else len(slot.pages) - 1 if last else 0)
                with self.app.batch_update():
                    await self.mount_all(parts, before=slot)
                    slot.display = False
                await slot.remove()
                slot = next(part for part in parts if isinstance(part, HistoryPage))
            await slot.open()
        finally:
            self._opening -= 1
        self.schedule_refold()
        return [widget for widget in slot.children if isinstance(widget, UserMessage)]

    def on_resize(self) -> None:
        if self.size.width != self._folded_width:
            self._folded_width = self.size.width
            unfold_all(self)  # folded heights were measured at the old width
        self.schedule_refold()

    @property
    def following(self) -> bool:
        """Anchored to the end and not scrolled away by the user (Textual keeps this state privately)."""
        return self.is_anchored and not compat.anchor_released(self)


class ChatScreen(compat.DrawsKeysAtOnce, TurnSelectionScreen):
    """One conversation. Turn selection (Ctrl+Up) and copying come from TurnSelectionScreen (selection.py)."""

    COMMANDS = {commands.SlashCommands}

    BINDINGS = [
        Binding("escape", "interrupt", "Interrupt", priority=True),
        Binding("ctrl+c", "interrupt(True)", "Interrupt", show=False, priority=True),
        # Priority: handled as it arrives, so the keys typed right after it already go to the selection.
        Binding("ctrl+up", "select_turn", "Select a turn", show=False, priority=True),
        # The prompt keeps the focus; these keys scroll the chat from there.
        Binding("pageup", "scroll('page_up')", "Scroll up", show=False, priority=True),
        Binding("pagedown", "scroll('page_down')", "Scroll down", show=False, priority=True),
        Binding("ctrl+home", "scroll('home')", "Top", show=False, priority=True),
        Binding("ctrl+end", "scroll('end')", "Bottom", show=False, priority=True),
        Binding("ctrl+g", "regenerate", "Regenerate the last reply", show=False),
        Binding("ctrl+r", "reload_agent", "Reload the agent file", show=False),
        Binding("ctrl+o", "browse", "Conversations", show=False),
        Binding("f2", "inspect", "Inspect the last turn", show=False),
        Binding("tab", "to_approval", "To the approval", show=False),
    ]
    SELECTION_KEYS = {
        **TurnSelectionScreen.SELECTION_KEYS,
        "e": SelectionKey("e edit", "edit_turn"),
        "f": SelectionKey("f fork", "fork_turn"),
        "left": SelectionKey("←→ versions", "previous_version"),
        "right": SelectionKey(None, "next_version"),
        "f2": SelectionKey(None, "inspect_turn"),  # (not on the hint line, which is full; /help and the keys list it)
    }
    IDLE_HINT = "Ctrl+↑ select a turn · PgUp/PgDn scroll · Ctrl+G regenerate · Ctrl+P commands · Ctrl+Q quit"
    BUSY_HINT = "Enter queues into the reply · Alt+Enter after it · Esc interrupts · PgUp/PgDn scroll · Ctrl+Q quit"

    def __init__(
        self,
        session: ChatSession,
        notices: list[str] | None = None,
        mcp: McpServers | None = None,
        *,
        draft: str = "",
        draft_selection: Selection | None = None,
    ) -> None:
        super().__init__()
        self.draft = draft
        """Text typed before the chat was ready (on the start-up screen), put into the prompt on mount."""
        self.draft_selection = draft_selection
        """Where the cursor (or the selection) was in it: typing goes on there (it went to the end, so `abc`, Left,
        Left typed while starting, then `X`, gave `abcX`)."""
        self.session = session
        self.mcp = mcp
        """The configured MCP servers, started when the screen mounts and stopped when it goes."""
        self._tools_ready = asyncio.Event()
        self.notices = notices or []
        self.turn_worker: Worker | None = None
        self.versions: dict[int, tuple[list[Version], int]] = {}
        """Per turn of the conversation shown: its versions and which one is shown (`refresh_versions`)."""
        self.interrupt_requested_at: float | None = None
        self._sent_while_stopping: set[int] = set()
        """Queued messages sent with Enter after Esc, while the turn was stopping: the next turn, not given back."""
        """perf_counter time of the last Esc, to measure how fast the turn stops."""
        self._retry: tuple[ev.Retrying, float] | None = None
        self.last_interrupt_latency: float | None = None
        """Seconds from the last Esc to the turn's end (shown on screen as interrupted)."""
        self._loading_older = False
        """Whether a page of stored turns is being rendered out of a gap (TurnGap), until the view is in place."""
        self._jumps = 0
        """Jumps to a turn so far (Ctrl+Home, show_turn): a page rendered before one keeps no place after it."""
        self.recorded: tuple[UserMessage, Recorder] | None = None
        """The latest turn this screen ran and its recording in memory (the inspector reads it there)."""
        self.usage = UsageTracker()
        """Tokens, price and context for the status line."""
        self.compact_offered: str | None = None
        """The conversation /compact was last offered for (once each time its context passes `compact_at`)."""
        self._next_prompt: str | None = None
        self.compacting = False
        """Whether /compact is running (as the turn worker): Enter then queues a follow-up."""
        """A queued message to run as a turn of its own once the turn worker has ended (a follow-up)."""

    # -- layout ---------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(icon="✳")
        yield ChatLog(id="chat")
        prompt = PromptInput(id="prompt")
        prompt.completions = CommandCompletions(id="completions")
        prompt.chips = AttachmentChips(id="chips")
        yield prompt.completions
        yield QueuedMessages(id="queued")
        yield prompt.chips
        yield prompt
        yield StatusLine(self.session.chat_agent.label, id="status")

    @property
    def chat(self) -> ChatLog:
        return self.query_one("#chat", ChatLog)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one("#prompt", PromptInput)

    @property
    def chips(self) -> AttachmentChips:
        """The files attached to the prompt being written."""
        return self.query_one("#chips", AttachmentChips)

    @property
    def status(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    @property
    def replies(self) -> list[AssistantReply]:
        return list(self.chat.query(AssistantReply))

    async def on_mount(self) -> None:
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.title = "xsus"
        self._show_agent()
        self.session.on_status = self._on_status
        self.session.on_notice = self.show_notice
        await self._fill_chat(self.notices)
        self._reset_usage()
        chat = self.chat
        self.show_hint(busy=False)
        self.prompt.focus()
        self.prompt.recall_source = self.recallable_prompts
        self.prompt.attachment_limit = self.session.attachment_limit
        self.prompt.take_back_source = self._take_back_last
        if self.draft:
            self.prompt.text = self.draft
            if self.draft_selection is not None:
                self.prompt.selection = self.draft_selection
            else:
                self.prompt.move_cursor(self.prompt.document.end)
        self.set_interval(0.2, self._show_retry)
        self.watch(chat, "scroll_y", self._near_gap, init=False)
        self.run_worker(self._start_mcp(), group="mcp")
        settle_garbage()

    async def _fill_chat(self, notices: list[str], *, resumed: bool = True) -> None:
        """Show the session's conversation (its last turns, older ones as the user scrolls up) in the empty chat."""
        agent = self.session.chat_agent
        chat = self.chat
        for notice in notices:
            await chat.mount(Static(Text(notice), classes="notice"))
        late = self._recovery_notices()  # about the last turn: shown under it, where the eye is
        if (unanswered := await self.session.take_back_unanswered()) is not None:
            if isinstance(unanswered, attachments.Prompt):
                self.chips.set_files(unanswered.attachments)
                unanswered = unanswered.text
            self.draft = f"{unanswered}\n{self.draft}" if self.draft.strip() else unanswered
            self.draft_selection = None
            late.append("Your last prompt got no answer before xsus stopped; it is back in the input.")
        if self.session.save_error is not None:
            late.append(f"Not saved yet ({self.session.save_error}): it is shown here and saved with the next save.")
        turns = await self._replay()
        if self.session.conversation.messages:
            earlier = f"{turns} earlier turn" + ("" if turns == 1 else "s")
            if resumed:
                await chat.mount(Static(Text(f"Resumed conversation · {earlier}"), classes="notice"))
        elif agent.is_demo:
            await chat.mount(Static(Text(DEMO_WELCOME), classes="notice -demo"))
        else:
            await chat.mount(Static(Text(f"Chatting with {agent.label}. {START_HINT}"), classes="notice"))
        for notice in late:
            await chat.mount(Static(Text(notice), classes="notice"))
        chat.anchor()
        self.run_worker(self.refresh_versions(), group="versions", exclusive=True)

    async def _start_mcp(self) -> None:
        """Start the MCP servers once for the whole chat; a prompt sent meanwhile waits for them."""
        try:
            if self.mcp is not None and self.mcp.servers:
                self.status.note = "starting MCP servers…"
                for problem in await self.mcp.start():
                    self.show_notice(problem)
                self.session.toolsets = self.mcp.toolsets
                self.status.note = ""
        finally:
            self._tools_ready.set()
            self._show_agent()

    async def _check_mcp(self) -> None:
        """A server that died since the last turn is reported and left out; the chat goes on without it."""
        if self.mcp is None or not self.session.toolsets:
            return
        problems = await self.mcp.check()
        for problem in problems:
            self.show_notice(problem)
        if problems:
            self.session.toolsets = self.mcp.toolsets
            self._show_agent()

    async def stop_mcp(self) -> None:
        if self.mcp is not None:
            await self.mcp.stop()

    async def on_unmount(self) -> None:
        release_full_collections()  # a turn cut off without its ending (the app quitting mid-reply)
        await self.stop_mcp()

    def _recovery_notices(self) -> list[str]:
        """Replies that a crash or a kill cut short, taken back from their checkpoints when the store opened."""
        recovered = getattr(self.session.store, "recovered", None) or []
        notices = []
        for conversation_id in recovered:
            if conversation_id == self.session.conversation.conversation_id:
                notices.append("The last reply was cut short when xsus stopped; what had streamed was kept.")
            else:
                short = conversation_id[:13]
                notices.append(
                    f"A reply cut short when xsus stopped was kept in conversation {short} (xsus -r {short})."
                )
        return notices

    def _show_agent(self) -> None:
        agent = self.session.chat_agent
        model = "demo model (offline)" if agent.is_demo else agent.label
        title = f"agent {agent.agent_name} · {model}" if agent.agent_name else model
        if self.mcp is not None and self.mcp.servers and self._tools_ready.is_set():
            title += f" · mcp: {self.mcp.summary()}"
        self.sub_title = title

    def switch_model(self, model_id: str) -> None:
        """`/model NAME`: go on with another model; the conversation (and its history) carries over."""
        current = self.session.chat_agent
        if not model_id:
            self.show_notice(f"The model is {current.label}. Switch with /model provider:name, e.g. /model demo.")
            return
        try:
            self.session.chat_agent = switch_model(current, model_id)
        except (AgentLoadError, ModelChoiceError) as error:
            self.show_notice(f"Could not switch to {model_id}: {error}")
            return
        self.status.model_label = self.session.chat_agent.label
        self.status.usage = self.usage.switch_model(self._model())
        self.status.refresh()
        self._show_agent()
        switched = self.session.chat_agent
        self.show_notice(f"Switched to {switched.label}; the conversation carries over.")
        if switched.is_demo and switched.target is not None and (switched.output_tools or switched.text_output):
            self.show_notice(
                "Note: the demo model only plays its own scripts; with this agent's structured output type "
                "most replies will fail validation. Use a real model to try the agent."
            )

    def action_reload_agent(self) -> None:
        """Import the --agent file again (after an edit); the conversation carries on."""
        current = self.session.chat_agent
        if current.target is None:
            self.notify("Ctrl+R reloads an agent started with --agent; this chat has none.")
            return
        if self.turn_running:
            self.notify("A reply is streaming: reload after it ends.", severity="warning")
            return
        try:
            self.session.chat_agent = reload_user_agent(current)
        except (AgentLoadError, ModelChoiceError) as error:
            self.notify(f"Reload failed, keeping the previous agent: {error}", severity="error", timeout=10)
            self.show_notice(f"Reload of {current.target} failed: {error}")
            return
        self._show_agent()
        self.show_notice(f"Reloaded {current.target}.")

    def show_notice(self, text: str) -> None:
        self.chat.mount(Static(Text(text), classes="notice"))

    def _on_status(self, event: ev.StatusEvent) -> None:
        """Retrying / silent / saving (from the turn's stream, or a save outside a turn through the session's
        `on_status`): shown on the status line until the stream speaks again."""
        if isinstance(event, ev.Retrying):
            self.status.state = "retrying"
            self._retry = (event, time.monotonic() + event.delay)
            self._show_retry()
        elif isinstance(event, ev.Saving):
            self.status.note = "" if event.done else f"waiting for the history database · {event.seconds:.0f} s"
        else:
            self.status.note = f"silent for {event.seconds:.0f} s (gives up at {event.limit:g} s)"

    def _show_retry(self) -> None:
        """Count the wait before a retry down on the status line."""
        if self._retry is None:
            return
        event, due = self._retry
        left = max(0.0, due - time.monotonic())
        self.status.note = f"{event.attempt}/{event.retries} in {left:.1f} s: {event.reason}"
        if left <= 0:
            self._retry = None

    async def action_scroll(self, where: str) -> None:
        chat = self.chat
        if where == "home":
            chat.release_anchor()
            if (gap := self._top_gap()) is not None:  # turn 1 not rendered: jump to it, whatever is between
                self._jumps += 1  # (a page still being put in place must not move the view from there)
                self._loading_older = True
                self.call_later(self._fill_gap, gap, False, False)
                chat.scroll_home(animate=False)
                return
            await self._render_view_at(0)
            # At once: scroll_home waits for the next refresh, and a refold meanwhile folds the page just rendered.
            chat.scroll_home(animate=False, immediate=True)
            return
        if where == "page_up" and chat.scroll_y < 1:
            chat.release_anchor()
            self._near_gap()  # at the top already: show older turns, if any
        # A page from where the last press was going, not from where its animation is now: quick presses add up.
        page = chat.scrollable_content_region.height
        if where == "page_up":
            chat.scroll_to(y=max(0, chat.scroll_target_y - page))
        elif where == "page_down":
            target = chat.scroll_target_y + page
            if target >= chat.max_scroll_y:
                chat.anchor()  # at the bottom: follow the stream again (the end may have moved on meanwhile)
            else:
                chat.scroll_to(y=target)
        else:
            await self._render_view_at(chat.max_scroll_y)
            chat.anchor()

    async def _render_view_at(self, top: float) -> None:
        """Before a jump (Ctrl+Home, Ctrl+End): render what is folded where the view is going, its top at `top`. A
        page folded while far away came into view blank and rendered a moment later: 0.1-0.5 s of an empty chat
        at each jump between the ends of a resumed conversation. The heights are the same, rendered or folded."""
        chat = self.chat
        view = Region(0, round(top), chat.virtual_size.width or 1, chat.scrollable_content_region.height)
        for child in list(chat.children):
            if not is_folded(child) or not child.virtual_region.overlaps(view):
                continue
            if isinstance(child, HistoryPage | PageStack):
                await chat.open_slot(child, last=top > 0)
            else:
                unfold(child)

    async def _replay(self) -> int:
        """Show the last turns of a resumed conversation, rendered from the stored messages; the older ones
        wait in a TurnGap above them until the user scrolls or jumps to them. Returns how many turns there are."""
        output_tools = self.session.chat_agent.output_tools
        # No collections meanwhile: replaying 2,000 turns allocates enough to start a full one, which walks
        # every object of the app and the conversation (130 ms, a seventh of the time to open them); what is
        # built here is kept, and settle_garbage collects right after.
        collecting = gc.isenabled()
        gc.disable()
        try:
            turns = list(past_turns(self.session.conversation.messages, output_tools))
            older, last = turns[:-HISTORY_PAGE], turns[-HISTORY_PAGE:]
            chat = self.chat
            if older:
                await chat.mount(TurnGap(older))
            if last:
                page = HistoryPage(last)
                await chat.mount(page)
                await page.load(last_first=OPENING_TURNS)  # the rest of the page once they are on screen
        finally:
            if collecting:
                gc.enable()
        return len(turns)

    @property
    def _gaps(self) -> list[TurnGap]:
        return [child for child in self.chat.children if isinstance(child, TurnGap)]

    @property
    def _older(self) -> list[PastTurn]:
        """The stored turns not rendered yet (in the chat's gaps), oldest first."""
        return [turn for gap in self._gaps for turn in gap.turns]

    def _top_gap(self) -> TurnGap | None:
        """The gap holding turn 1, when it is not rendered (nothing that holds turns is above the gap)."""
        for child in self.chat.children:
            if isinstance(child, TurnGap):
                return child if child.turns else None
            if isinstance(child, UserMessage | HistoryPage | PageStack):
                return None
        return None

    def _near_gap(self, _scroll_y: float | None = None) -> None:
        """A gap in view (the user scrolled to it) fills a page: from its end when it is in the view's top
        half (the user came up from below), else from its start."""
        chat = self.chat
        # Anchored means following the end (as on opening): only a user scrolling reaches here.
        if self._loading_older or chat.following:
            return
        view_height = chat.scrollable_content_region.height
        view = Region(0, round(chat.scroll_y), chat.virtual_size.width or 1, view_height)
        for gap in self._gaps:
            region = gap.virtual_region
            if gap.turns and region.height and region.overlaps(view):
                from_end = region.y + region.height / 2 < view.y + view_height / 2
                self._loading_older = True
                self.call_later(self._fill_gap, gap, from_end)
                return

    async def _fill_gap(self, gap: TurnGap, from_end: bool, keep: bool | None = None) -> HistoryPage | None:
        """Render a page of `gap`'s turns: its newest below it (`from_end`) or its oldest above it. `keep`
        (by default: from its end, or when the gap starts above the view) keeps what is on screen where it
        is; else the view stays at its offset. Returns the page, once rendered."""
        chat = self.chat
        self._loading_older = True
        page: HistoryPage | None = None
        try:
            if not gap.is_attached or not gap.turns:
                self._loading_older = False
                return None
            # Where the view is going, not where a PgUp's scroll is now: keep_place lands there (from the
            # scroll's position, the rest of the press was lost: one PgUp in a page moved nothing).
            height, scroll_y, jumps = chat.virtual_size.height, chat.scroll_target_y, self._jumps
            if keep is None:
                keep = from_end or gap.virtual_region.y < scroll_y
            page = HistoryPage(gap.take(HISTORY_PAGE, from_end=from_end))
            # No refold until the view is back in place: between the refresh that lays the new page out above
            # the view and keep_place, what was on screen sits a page lower, and a refold then folded it (and
            # let go of its widgets) only for it to come back into view blank and render again (0.3-0.6 s
            # of an empty chat at each page scrolling up through 2,000 turns).
            chat._opening += 1
            with self.app.batch_update():
                if from_end:
                    await chat.mount(page, after=gap)
                else:
                    await chat.mount(page, before=gap)
                await page.load()
                await self._tidy_gaps()
        except Exception:
            self._loading_older = False
            if page is not None:
                chat._opening -= 1
            raise

        def keep_place() -> None:
            """Turns were shown already: keep them where they are on screen (stopping any scroll)."""
            chat._opening -= 1
            if keep and height and jumps == self._jumps:
                # Clamped: Textual takes a negative offset as it is, and the chat would then be drawn that far
                # down with blank lines above (after a failed first turn, until a resize).
                target = min(max(0, scroll_y + chat.virtual_size.height - height), chat.max_scroll_y)
                chat.scroll_to(y=target, animate=False, immediate=True)
            chat.schedule_refold()
            self._loading_older = False
            self._near_gap()  # still in view (short pages, or a jump): the next page

        self.call_after_refresh(keep_place)
        return page

    async def _tidy_gaps(self) -> None:
        """Empty gaps go; each says "earlier" only while no rendered turn is above it."""
        above = False
        for child in list(self.chat.children):
            if isinstance(child, TurnGap):
                if not child.turns:
                    await child.remove()
                    continue
                child.at_top = not above
                child.show_count()
            elif isinstance(child, UserMessage | HistoryPage | PageStack):
                above = True

    async def _open_gap(self, gap: TurnGap, *, last: bool) -> list[UserMessage]:
        """For the selection: render the page of `gap` next to the selected turn, and return its prompts."""
        page = await self._fill_gap(gap, from_end=last)
        return [] if page is None else [widget for widget in page.children if isinstance(widget, UserMessage)]

    async def _turn_widget(self, number: int) -> UserMessage | None:
        """The prompt of turn `number`, rendered now if it was not: in a gap only its page renders (the gap is
        split around it), in a folded page or a stack only that page."""
        chat = self.chat
        for slot in chat.turn_slots():
            if isinstance(slot, UserMessage):
                if slot.number == number:
                    return slot
                continue
            if isinstance(slot, TurnGap):
                split = slot.split_around(number, HISTORY_PAGE)
                if split is None:
                    continue
                turns, after = split
                page = HistoryPage(turns)
                with self.app.batch_update():
                    await chat.mount(page, after=slot)
                    if after:
                        await chat.mount(TurnGap(after), after=page)
                    await page.load()
                    await self._tidy_gaps()
                users = [widget for widget in page.children if isinstance(widget, UserMessage)]
            elif isinstance(slot, HistoryPage):
                if not any(turn.number == number for turn in slot.turns):
                    continue
                users = await chat.open_slot(slot, last=True)
            else:
                index = next(
                    (i for i, (turns, _) in enumerate(slot.pages) if any(turn.number == number for turn in turns)), None
                )
                if index is None:
                    continue
                users = await chat.open_slot(slot, last=True, index=index)
            return next((user for user in users if user.number == number), None)
        return None

    # -- other conversations ----------------------------------------------------------------------------

    def action_browse(self) -> None:
        """The conversation browser (Ctrl+O)."""
        from .browser import BrowserScreen

        store = self.session.store
        if store is None or not hasattr(store, "search"):
            self.notify("There is no history database in this session.", severity="warning")
            return
        deleted = getattr(self.app, "deleted_conversations", [])
        current = self.session.conversation.conversation_id

        async def chosen(choice) -> None:
            if not self.is_attached or getattr(self.app, "quitting", False):
                return  # quitting meanwhile
            if choice is not None:
                await self.open_conversation(choice.conversation_id, choice.entry_id)
            elif self.session.conversation.revision is not None and await self._open_one_was_deleted():
                await self.open_conversation(None)
                self.show_notice("The conversation that was open here was deleted; this is a new one.")

        self.app.push_screen(BrowserScreen(store, current, deleted), chosen)

    async def show_tree(self) -> None:
        """`/tree`: every version of every turn; the one picked is shown, its branch saved as the current one."""
        from .tree import TreeScreen

        session, store = self.session, self.session.store
        if store is None or not hasattr(store, "tree") or session.conversation.revision is None:
            self.show_notice("This conversation has no turns saved yet, so no tree.")
            return
        try:
            tree = await store.tree(session.conversation.conversation_id)
            if tree is None:
                self.show_notice("This conversation has no turns saved yet, so no tree.")
                return
            lines = tree.lines()
            ids = [entry for line in lines for entry in (line.version.prompt_id, line.version.reply_id) if entry]
            texts = await store.texts(ids)
        except StoreError as error:
            self.notify(str(error), severity="error")
            return

        async def picked(line) -> None:
            if line is None:
                return
            if line.current:
                await self.show_turn(line.version.turn, select=False)
                return
            await self.show_version(line.version.tip, line.version.turn)

        self.app.push_screen(TreeScreen(tree, texts), picked)

    async def show_version(self, tip: str, turn: int | None = None, *, select: bool = False) -> bool:
        """Show the branch that ends at `tip` (another version of a turn) and save it as the current one."""
        if self.turn_running:
            self.notify("A reply is still streaming: press Esc to interrupt it first.", severity="warning")
            return False
        try:
            await self.session.show_version(tip)
        except StoreError as error:
            self.notify(str(error), severity="error")
            return False
        await self._show_conversation(turn, select=select, resumed=False)
        return True

    # -- versions of a turn: see, switch, edit, fork ---------------------------------------------------------

    async def refresh_versions(self) -> None:
        """Mark each turn that has more than one version with `‹n/m›` (the prompts on screen, and the turns
        kept in pages for when they render)."""
        store, conversation = self.session.store, self.session.conversation
        if store is None or not hasattr(store, "tree") or conversation.revision is None:
            self.versions = {}
            return
        try:  # (a conversation that never branched has one version of each turn: nothing to read)
            tree = await store.tree(conversation.conversation_id, if_branched=True)
        except StoreError:
            return
        if tree is None or conversation is not self.session.conversation:
            return
        try:
            chat = self.chat
        except NoMatches:  # the app quit while the tree was read: the screen's widgets are gone
            return
        self.versions = {number: turn for number, turn in enumerate(tree.turns(), start=1)}
        marks = {number: (shown + 1, len(versions)) for number, (versions, shown) in self.versions.items()}
        for user in chat.query(UserMessage):
            if user.number is not None:
                user.show_versions(marks.get(user.number) if marks.get(user.number, (1, 1))[1] > 1 else None)
        for turn in self._older + [t for page in chat.query(HistoryPage) for t in page.turns]:
            if turn.number is not None:
                mark = marks.get(turn.number)
                turn.versions = mark if mark is not None and mark[1] > 1 else None

    async def previous_version(self, turn: SelectedTurn) -> None:
        await self._step_version(turn, -1)

    async def next_version(self, turn: SelectedTurn) -> None:
        await self._step_version(turn, +1)

    async def _step_version(self, turn: SelectedTurn, step: int) -> None:
        """←/→ on a selected turn: show its previous / next version, and what followed it; stays selected."""
        number = turn.user.number
        if number is None or self.turn_running:
            self.app.bell()
            return
        versions, shown = self.versions.get(number, ([], 0))
        target = shown + step
        if len(versions) < 2:
            self.notify("This turn has one version: Ctrl+G on the last turn, or e, makes another.")
            return
        if not 0 <= target < len(versions):
            self.notify(f"This is version {shown + 1} of {len(versions)}.")
            return
        await self.show_version(versions[target].tip, number, select=True)

    editing: int | None = None
    """The turn whose prompt is being edited (`e`): sending makes another version of that turn."""
    _draft_before_edit = ""

    def edit_turn(self, turn: SelectedTurn) -> None:
        """`e`: the selected prompt into the input; Enter sends it as another version of that turn (nothing is
        overwritten: the old versions stay, ←→ on the turn shows them), Esc cancels."""
        number = turn.user.number
        if number is None:
            self.notify("That prompt was never sent: it can't be edited as a turn.")
            return
        if self.turn_running:
            self.notify("A reply is still streaming: press Esc to interrupt it first.", severity="warning")
            return
        if self.editing is None:
            self._draft_before_edit = self.prompt.text
        self.editing = number
        self.end_selection()
        self.prompt.text = turn.user.prompt
        self.chips.set_files(turn.user.attachments)  # (sent again as they were then)
        self.prompt.move_cursor(self.prompt.document.end)
        self.prompt.border_title = f"Editing turn {number}: Enter sends it as a new version · Esc cancels"

    def stop_editing(self, *, restore: bool) -> None:
        self.editing = None
        self.prompt.border_title = None
        if restore:
            self.prompt.text = self._draft_before_edit
            self.prompt.move_cursor(self.prompt.document.end)
        self._draft_before_edit = ""

    async def fork_turn(self, turn: SelectedTurn) -> None:
        """`f`: a new conversation with this one's turns up to the selected one; the chat opens it."""
        number = turn.user.number
        if number is None or self.turn_running:
            self.app.bell()
            return
        try:
            fork = await self.session.fork_at(number)
        except StoreError as error:
            self.notify(str(error), severity="error")
            return
        if await self.open_conversation(fork.conversation_id):
            self.notify(f"Forked: a new conversation with the first {number} turn{'s' if number > 1 else ''}.")

    async def _open_one_was_deleted(self) -> bool:
        store = self.session.store
        try:
            return await store.summary(self.session.conversation.conversation_id) is None  # type: ignore[union-attr]
        except StoreError:
            return False

    async def action_new_conversation(self) -> None:
        await self.open_conversation(None)

    async def open_conversation(self, conversation_id: str | None, entry_id: str | None = None) -> bool:
        """Show another conversation (None: a new one) in this chat, with the same agent and tools; at `entry_id`'s
        turn (a search hit), on its branch. Whether it was opened."""
        if self.turn_running:
            self.notify("A reply is still streaming: press Esc to interrupt it first.", severity="warning")
            return False
        session, store = self.session, self.session.store
        if not await session.flush():
            self.notify(
                f"This conversation is not saved yet ({session.save_error}); it stays open so nothing is lost.",
                severity="error",
            )
            return False
        conversation = None
        turn = None
        try:
            if conversation_id is not None and store is not None:
                if conversation_id == session.conversation.conversation_id and entry_id is None:
                    return True
                conversation = await store.load(conversation_id)
                if conversation is None:
                    self.notify("That conversation is not in the history any more.", severity="error")
                    return False
            session.switch_to(conversation)
            if entry_id is not None and store is not None and hasattr(store, "tree"):
                tree = await store.tree(session.conversation.conversation_id)
                if tree is not None and entry_id in tree.nodes:
                    turn = tree.nodes[entry_id].turn
                    if entry_id not in tree.current_path():
                        await session.show_version(tree.tip_under(entry_id))
        except StoreError as error:
            self.notify(str(error), severity="error")
            return False
        await self._show_conversation(turn)
        return True

    async def _show_conversation(self, turn: int | None = None, *, select: bool = False, resumed: bool = True) -> None:
        """Show the session's conversation again from scratch (another one, or another branch), at `turn`."""
        chat = self.chat
        self.end_selection(to_prompt=False)
        if self.editing is not None:
            self.stop_editing(restore=True)
        self.draft = ""
        with self.app.batch_update():
            await chat.remove_children()
            self._loading_older = False
            await self._fill_chat([], resumed=resumed)
        if self.draft and not self.prompt.text.strip():  # its last prompt got no answer: back in the input
            self.prompt.text = self.draft
            self.prompt.move_cursor(self.prompt.document.end)
        status = self.status
        status.state, status.stats, status.note = "idle", None, ""  # the figures were the other conversation's
        self._reset_usage()
        if not select:
            self.prompt.focus()
        if turn:
            await self.show_turn(turn, select=select)
        settle_garbage()

    async def show_compacted(self) -> None:
        """The conversation again after /compact: the summary above the turns kept, their versions marked."""
        await self._show_conversation(resumed=False)
        await self.refresh_versions()

    async def show_turn(self, turn: int, *, select: bool = True) -> None:
        """Bring turn `turn` (1 = the first) of the conversation into view: selected (the keys then act on it), or
        only marked for a moment while typing stays in the prompt (`select=False`, as for a search hit)."""
        chat = self.chat
        chat.release_anchor()  # (before rendering: a gap in view fills only when not following the end)
        self._jumps += 1
        target = await self._turn_widget(turn)
        if target is None:
            return
        if select:
            self._follow_after_selection = False
            self.select(target)  # highlighted and in view; Esc goes back to the prompt
            return
        siblings = list(target.parent.children) if target.parent is not None else []
        index = siblings.index(target)
        marked = [target, *siblings[index + 1 : index + 2]]
        for widget in marked:
            widget.add_class("-found")

        def unmark() -> None:
            for widget in marked:
                widget.remove_class("-found")

        self.set_timer(FOUND_MARK, unmark)
        chat.call_after_refresh(lambda: chat.scroll_to_widget(target, top=True, animate=False, immediate=True))

    # -- sending ----------------------------------------------------------------------------------------

    @property
    def turn_running(self) -> bool:
        return self.session.busy or (self.turn_worker is not None and self.turn_worker.is_running)

    @on(PromptInput.Problem)
    def attach_problem(self, message: PromptInput.Problem) -> None:
        self.show_notice(message.text)

    @on(PromptInput.Submitted)
    def send(self, message: PromptInput.Submitted) -> None:
        prompt = message.prompt
        text = message.text.strip()
        chips = self.chips
        if chips.offer is not None:
            prompt.acted_on(message, sent=False)
            return  # (the prompt answers the offer first)
        if not text and not chips.files:
            prompt.acted_on(message, sent=False)
            return
        if (parsed := commands.parse(text)) is not None:
            if parsed.command is None:
                prompt.acted_on(message, sent=False)
                self.show_notice(commands.unknown(parsed.name))  # the typo stays in the prompt, to fix
                return
            prompt.acted_on(message, sent=not (parsed.command.needs_idle and self.turn_running))
            self.run_command(parsed.command, parsed.argument)
            return
        if self.turn_running:  # steering: into the running turn (Enter), or as the next one (Alt+Enter)
            prompt.acted_on(message, sent=True)
            # (a compaction has no run to steer; a run being interrupted takes no more: Esc then Enter sends next)
            stopping = self.interrupt_requested_at is not None
            follow_up = message.follow_up or self.compacting or stopping
            queued = self.session.queue_message(commands.unescape(text), follow_up=follow_up)
            if stopping:
                self._sent_while_stopping.add(queued.id)
            self.show_queue()
            return
        with_files = self._with_files(commands.unescape(text) if text else "")
        if with_files is None:
            prompt.acted_on(message, sent=False)
            return  # (said why; the prompt and its chips stay as they were)
        prompt.acted_on(message, sent=True)
        chips.clear()
        self.turn_worker = self.run_turn(with_files if with_files.attachments else with_files.text)

    def _with_files(self, text: str) -> attachments.Prompt | None:
        """The prompt with its files: the chips' read again (a file may have changed or gone since), then the
        `@path` mentions left in the text. None, after one line saying why, when one can't be attached."""
        limit = self.session.attachment_limit
        cwd = self.prompt.cwd
        files = []
        try:
            for chip in self.chips.files:
                if chip.source is None:  # read back from the history (an edited turn): sent as it was
                    files.append(chip)
                    continue
                files.append(attachments.read_file(chip.source, limit=limit, name=chip.name, cwd=cwd))
            text, mentioned = attachments.take_mentions(text, cwd=cwd, limit=limit)
        except attachments.AttachmentError as error:
            self.show_notice(f"Not sent: {error}. Your prompt is kept.")
            return None
        for attachment in mentioned:
            if any(attachments.same_file(attachment, present) for present in files):
                self.show_notice(f"{attachment.name} is attached already: sent once.")
            else:
                files.append(attachment)
        prompt = attachments.Prompt(text, tuple(files))
        model = self.session.chat_agent.model or getattr(self.session.chat_agent.agent, "model", None)
        if (refused := attachments.unsupported(prompt, getattr(model, "profile", None))) is not None:
            self.show_notice(f"Not sent: {refused}. Your prompt is kept.")
            return None
        return prompt

    # -- steering: messages queued while a turn runs ------------------------------------------------------

    def show_queue(self) -> None:
        """Show what waits to be delivered, under the running turn."""
        self.query_one("#queued", QueuedMessages).show(list(self.session.queue.items))

    def _take_back_last(self) -> str | None:
        """Up in an empty prompt: the last queued message, out of the queue, to edit (None: nothing queued)."""
        items = self.session.queue.items
        return self._take_back(items[-1].id) if items else None

    def _take_back(self, queued_id: int) -> str | None:
        taken = self.session.take_back(queued_id)
        self.show_queue()
        if taken is None:
            self.notify("That message has reached the model already.")
            return None
        return taken.text

    @on(QueuedMessages.TakeBack)
    def queued_clicked(self, message: QueuedMessages.TakeBack) -> None:
        if (text := self._take_back(message.queued_id)) is not None:
            self._give_back(text)
        self.prompt.focus()

    def _after_turn(self, ending: ev.TurnEvent | None) -> None:
        """What was queued and not delivered: after a finished turn, the first of it runs next (when the worker has
        ended, see `on_worker_state_changed`); after an interrupted or failed one it all goes back to the input."""
        sent_while_stopping, self._sent_while_stopping = self._sent_while_stopping, set()
        if isinstance(ending, ev.TurnFinished):
            queued = self.session.next_queued()
            self._next_prompt = queued.text if queued is not None else None
        elif back := self.session.take_queued():
            if all(item.id in sent_while_stopping for item in back):  # Esc, then Enter: sent as the next turn
                self._next_prompt = back[0].text
                for item in back[1:]:
                    self.session.queue_message(item.text, follow_up=True)
            else:  # what waited from before goes back to the input; what was sent after Esc joins it, in order
                self._give_back("\n".join(item.text for item in back))
        self.show_queue()

    def after_compacting(self, *, stopped: bool) -> None:
        """What was typed while /compact ran: the first message runs next, as after a finished turn; stopped with
        Esc, it all goes back to the input, as after an interrupted one."""
        if stopped:
            if back := self.session.take_queued():
                self._give_back("\n".join(item.text for item in back))
        elif (queued := self.session.next_queued()) is not None:
            self._next_prompt = queued.text
        self.show_queue()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self.turn_worker and event.worker.is_finished and (prompt := self._next_prompt) is not None:
            self._next_prompt = None
            if self.app.is_running and not getattr(self.app, "quitting", False):
                self.turn_worker = self.run_turn(prompt)

    def recallable_prompts(self) -> list[str]:
        """The prompts of this conversation (stored ones too), oldest first, as they would be typed again (a
        prompt that reads as a command gets back its `//`); a prompt sent twice in a row is recalled once."""
        prompts: list[str] = []
        for prompt in user_prompts(self.session.conversation.messages):
            typed = commands.escape(prompt)
            if not prompts or prompts[-1] != typed:
                prompts.append(typed)
        return prompts

    def run_command(self, command: commands.SlashCommand, argument: str) -> None:
        """Carry out a slash command (typed, or picked in the command palette)."""
        if command.needs_idle and self.turn_running:
            self.notify(f"A reply is still streaming: {command.usage} works once it ends.", severity="warning")
            return
        if command.name == "help":
            self.chat.mount(Static(commands.help_renderable(), classes="notice"))
        elif command.name == "retry":
            self.action_regenerate()
        elif command.name == "model":
            self.switch_model(argument)
        elif command.name == "history":
            self.action_browse()
        elif command.name == "new":
            self.run_worker(self.open_conversation(None), group="open")
        elif command.name == "tree":
            self.run_worker(self.show_tree(), group="open")
        elif command.name == "inspect":
            self.action_inspect()
        elif command.name == "copy":
            replies = self.replies
            if replies:
                self.copy_reply(replies[-1])
            else:
                self.notify("There is no reply to copy yet.")
        elif command.name == "export":
            self.run_worker(self.export_conversation(argument), group="export")
        elif command.name == "system":
            self.show_instructions()
        elif command.name == "compact":
            from ..compacting import compact

            self.turn_worker = self.run_worker(
                compact(self, argument), group="turn", exclusive=True, exit_on_error=False
            )

    @on(CommandCompletions.OptionSelected)
    def completion_clicked(self, message: CommandCompletions.OptionSelected) -> None:
        """A click on a listed command completes its name, as Tab would."""
        message.stop()
        if (entry := self.prompt.completions.paths.get(message.option.id or "")) is not None:
            self.prompt.complete_path(entry)
            self.prompt.focus()
        elif message.option.id in commands.BY_NAME:
            self.prompt.complete(commands.BY_NAME[message.option.id])
            self.prompt.focus()

    async def export_conversation(self, argument: str) -> None:
        """/export [PATH] [md|json]: the conversation shown, written to a new private file (0600); an existing
        file is never replaced. PATH may be a directory; by default the file goes in the current directory."""
        from xsus_tui.core.export import NotWritten, to_json, to_markdown, write_private

        messages = list(self.session.conversation.messages)
        conversation_id = self.session.conversation.conversation_id
        if not messages:
            self.show_notice("Nothing to export yet: this conversation has no turns.")
            return
        title = "Conversation"
        if (store := self.session.store) is not None:
            with contextlib.suppress(Exception):  # (the title is a nicety: a store that can't say it costs nothing)
                summary = await store.summary(conversation_id)
                title = summary.title if summary is not None and summary.title else title

        def write() -> tuple[Path, str]:
            path, form = commands.export_target(argument, conversation_id)
            text = (
                to_json(messages)
                if form == "json"
                else to_markdown(messages, title=title, conversation_id=conversation_id)
            )
            write_private(path, text)
            return path.resolve(), form

        try:
            path, form = await asyncio.to_thread(write)
        except NotWritten as error:
            if error.exists:
                self.show_notice(
                    f"Not exported: {error}, and /export never replaces a file. Give another: /export PATH"
                )
            else:
                self.show_notice(f"Not exported: {error}")
            return
        kind = "JSON" if form == "json" else "markdown"
        self.show_notice(f"Exported the conversation ({len(messages)} messages, {kind}) to {path}")

    def show_instructions(self) -> None:
        """/system: the instructions the model gets, as last sent if a turn has run here, else as configured."""
        from xsus_tui.core.agents import configured_instructions
        from xsus_tui.core.sanitize import inert

        sent = None
        if (recording := self.session.turn_recording()) is not None:
            sent = next(
                (timed.event for timed in reversed(recording.events) if isinstance(timed.event, ev.RequestSent)), None
            )
        agent = self.session.chat_agent
        if sent is not None:
            heading = f"Instructions sent with the last request (turn {recording.turn}, request {sent.number}):"
            text = sent.instructions
        elif (text := configured_instructions(agent)) is not None:
            heading = "Instructions the model gets (as configured; no request sent from here yet):"
        else:
            self.show_notice(f"{agent.target} sets its own instructions: /system shows them once a turn has run here.")
            return
        self.show_notice(f"{heading}\n{inert(text)}" if text else f"{heading}\n(none)")

    def action_inspect(self) -> None:
        """F2: the turn inspector on the selected turn, or on the last one."""
        selected = self.selected_turn()
        self.run_worker(self._inspect(selected.user if selected else None), group="inspect", exclusive=True)

    def inspect_turn(self, turn: SelectedTurn) -> None:
        """F2 on a selected turn."""
        self.run_worker(self._inspect(turn.user), group="inspect", exclusive=True)

    async def _inspect(self, user: UserMessage | None) -> None:
        from .inspector import inspect_turn_of

        await inspect_turn_of(self, user)

    def action_regenerate(self) -> None:
        """Run the last prompt again; the replaced reply stays in the store as an earlier branch."""
        if not self.turn_running:
            self.end_selection()  # the last turn is about to go
            self.turn_worker = self.run_turn(None)

    @work(exclusive=True, group="turn", exit_on_error=False)
    async def run_turn(self, prompt: str | attachments.Prompt | None) -> None:
        """The one task that owns this turn's stream, from the prompt to the saved reply.

        With `prompt=None` it regenerates: the last turn is taken off the screen and run again.
        """
        chat, status = self.chat, self.status
        self.interrupt_requested_at = None
        self.session.expect_turn()  # an Esc from now on stops this turn, even before it starts
        await self._tools_ready.wait()
        await self._check_mcp()
        if self.interrupt_requested_at is not None:  # Esc while waiting for the MCP servers: nothing was sent
            status.state = "interrupted"
            if prompt is not None:
                self._give_back(prompt)
            return
        if prompt is None:
            prompt = await self.session.regenerate()
            if prompt is None:
                self.notify("There is no reply to regenerate yet.")
                return
            self._reset_usage()  # the reply it replaces no longer counts
            for widget in list(chat.query("UserMessage, AssistantReply"))[-2:]:
                if isinstance(widget, UserMessage) and isinstance(page := widget.parent, HistoryPage):
                    page.turns.pop()  # or it would come back when the page renders again
                await widget.remove()
        elif (editing := self.editing) is not None:
            self.stop_editing(restore=False)
            try:
                await self.session.branch_before(editing)  # the new prompt is another version of that turn
            except StoreError as error:
                self._give_back(prompt)
                self.notify(str(error), severity="error")
                return
            await self._show_conversation()
            chat = self.chat
        reply = AssistantReply()
        sent = attachments.Prompt.of(prompt)
        user = UserMessage(sent.text, number=len(self.session.prompt_indexes()) + 1, attachments=sent.attachments)
        await chat.mount_all([user, reply])
        chat.anchor()
        chat.streaming = True
        chat.show_scrollbar()
        hold_full_collections()  # until _show_ending's settle_garbage, or on_unmount
        status.state, status.stats, status.usage = "streaming", None, self.usage.begin_turn()
        self.show_hint(busy=True)
        ending: ev.TurnEvent | None = None
        last_user = user  # the prompt the reply being written answers (a delivered steer moves it on)
        try:
            async with contextlib.aclosing(self.session.run_turn(prompt)) as events:
                async for event in events:
                    if isinstance(event, ev.Retrying | ev.Stalled | ev.Saving):
                        self._on_status(event)
                        continue
                    if isinstance(event, ev.Notice):
                        self.show_notice(event.text)
                        continue
                    if isinstance(event, ev.ResponseUsage):  # once per model request, not per delta
                        status.usage = self.usage.add(event)
                        continue
                    if isinstance(event, ev.RequestSent):
                        continue  # in the turn's recording, for the inspector
                    if status.note:
                        status.note, status.state, self._retry = "", "streaming", None
                    if isinstance(event, ev.Steered):  # the turn goes on under the message it was given
                        await reply.hand_over()
                        number = last_user.number + 1 if last_user.number is not None else None
                        last_user, reply = UserMessage(event.text, number=number, steered=True), AssistantReply()
                        await chat.mount_all([last_user, reply])
                        self.show_queue()
                        continue
                    await reply.apply(event)
                    if isinstance(event, ev.ApprovalRequested):
                        status.state = "waiting for approval"
                    elif status.state == "waiting for approval":
                        status.state = "streaming"
                    if isinstance(event, ev.TurnFinished | ev.TurnCancelled | ev.TurnFailed):
                        ending = event
        except Exception as error:  # the store failing, say: never lose the prompt
            ending = ev.TurnFailed(error=f"{type(error).__name__}: {error}")
            await reply.apply(ending)
        if getattr(ending, "unsent", False):
            user.number = None  # not in the conversation
        recorder = self.session.last_recording
        if recorder is not None and recorder.events and recorder.events[-1].event is ending:
            self.recorded = (user, recorder)
        self._after_turn(ending)  # (before the ending gives the prompt back: the prompt goes above what was queued)
        self._show_ending(ending, prompt, reply)
        self.run_worker(self.refresh_versions(), group="versions", exclusive=True)

    def _show_ending(
        self, ending: ev.TurnEvent | None, prompt: str | attachments.Prompt, reply: AssistantReply
    ) -> None:
        status = self.status
        status.note, self._retry = "", None
        self.show_hint(busy=False)
        self.chat.streaming = False
        self.chat.show_scrollbar()
        self.chat.schedule_refold()
        settle_garbage()
        if not isinstance(ending, ev.TurnFinished):
            self._reset_usage()  # what was kept of it (or nothing, its prompt taken back) is what counts
        if isinstance(ending, ev.TurnFinished):
            status.state, status.stats = "idle", ending.stats
            from ..compacting import offer

            offer(self)
        elif isinstance(ending, ev.TurnCancelled):
            status.state, status.stats = "interrupted", ending.stats
            if ending.unsent:
                self._give_back(prompt)
            if self.interrupt_requested_at is not None:
                self.last_interrupt_latency = time.perf_counter() - self.interrupt_requested_at
        elif isinstance(ending, ev.TurnFailed):
            status.state, status.stats = "error", ending.stats
            if ending.unsent:
                self._give_back(prompt)

    def _model(self) -> object:
        chat_agent = self.session.chat_agent
        return chat_agent.model or chat_agent.agent.model

    def _reset_usage(self) -> None:
        """Usage worked out again from the conversation as it stands (opened, switched, another version)."""
        self.status.usage = self.usage.reset(self.session.conversation.messages, self._model())

    def _give_back(self, prompt: str | attachments.Prompt) -> None:
        """Nothing came back: put the prompt in the input again, to edit or send as it was (above anything
        typed meanwhile, which stays too), and its files back in the chips."""
        if isinstance(prompt, attachments.Prompt):
            chips = self.chips
            # A file its `@path` attached is read again from that when the prompt is sent again: no chip for it too.
            mentioned = attachments.mentioned_sources(prompt.text, self.prompt.cwd)
            for attachment in prompt.attachments:
                if attachment.source is None or attachment.source not in mentioned:
                    chips.add(attachment)
            prompt = prompt.text
        typed = self.prompt.text
        if typed.strip() == prompt.strip():
            return
        self.prompt.text = f"{prompt}\n{typed}" if typed.strip() else prompt
        self.prompt.move_cursor(self.prompt.document.end)

    def action_to_approval(self) -> None:
        """Tab: to the tool call waiting for approval, when there is one (an earlier turn's focusable parts come
        before it in the focus chain), else on along the focus chain as usual."""
        waiting = [button for button in self.query("ApprovalBar #approve").results(Button) if not button.disabled]
        if waiting and self.focused is not waiting[-1]:
            waiting[-1].focus()
            waiting[-1].scroll_visible(animate=False)
        else:
            self.focus_next()

    @on(ApprovalBar.Decided)
    def decided(self, message: ApprovalBar.Decided) -> None:
        self.session.decide(message.call_id, message.approved)
        self.prompt.focus()

    # -- interrupting -----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "interrupt":
            # The commands' list closes first (Esc only), then an open panel (Keys), then a selection (Esc only);
            # None: not shown, and the key goes to other bindings (Esc with nothing running and nothing open does
            # nothing here).
            at_once = bool(parameters and parameters[0])
            return (
                (self.prompt.completing and not at_once)
                or self.turn_running
                or bool(self.query("HelpPanel"))
                or (self.selecting and not at_once)
                or self.editing is not None
                or None
            )
        return True

    def action_interrupt(self, at_once: bool = False) -> None:
        """Esc: close an open panel, else end a turn selection (back to the prompt), else interrupt the reply
        streaming. Ctrl+C (`at_once`) interrupts a streaming reply even while a turn is selected."""
        if not at_once and (self.prompt.answer_offer(False) or self.prompt.dismiss_completions()):
            return
        if panels := self.query("HelpPanel"):
            panels.remove()
            return
        if self.selecting and not at_once:
            self.end_selection()
            return
        if self.editing is not None and not self.turn_running:
            self.stop_editing(restore=True)
            return
        if self.turn_running:  # also before the stream starts (the prompt's save waiting on a lock, say)
            self.interrupt_requested_at = time.perf_counter()
            self.status.state = "interrupting"
            self.session.cancel()

    async def stop_turn(self, within: float = 1.0) -> None:
        """Interrupt the running turn (if any) and wait until it is saved, `within` seconds at most: used
        before quitting. A turn still waiting for the MCP servers has sent nothing yet: it is cancelled.

        Stopping and saving takes milliseconds; the limit is for what never returns (a turn stuck in a
        sync tool), because quitting must end within about two seconds.
        """
        worker = self.turn_worker
        if worker is None or worker.is_finished:
            return
        if not self.session.busy and not self._tools_ready.is_set():
            worker.cancel()
        else:
            self.session.cancel()
        # Not `worker.wait()` under a timeout: cancelling that wait would cancel the worker too, in the
        # middle of its save. `asyncio.wait` leaves it running; how it ends is the worker's business.
        waiting = asyncio.ensure_future(worker.wait())
        waiting.add_done_callback(lambda done: done.cancelled() or done.exception())
        await asyncio.wait({waiting}, timeout=within)
