"""The turn inspector (F2 on the chat: the last turn; F2 on a selected turn: that one; `/inspect`; the palette).

One recorded turn (core/recording.py) in five tabs, all read from `core.inspect.inspect_turn`'s report:

    Timeline   the summary, the gaps between chunks as a sparkline with the longest listed, then every request,
               first token, part, tool run, retry, stall, notice, verdict and the ending, in time order
    Output     each structured-output attempt: every top-level field's state over time (missing, partial,
               complete, invalid), the validation errors, and a diff of a rejected attempt against the accepted one
    Usage      each model request: tokens in / out / cached, time to first token, tokens/s, cost (or "cost unknown")
    Request    what each request sent: settings, instructions, tools, messages
    Events     the raw events, a line each, filtered as you type in the search box (`/` goes there)

The recording of the turn comes from the session's memory for the latest turn this process ran (`ChatScreen.recorded`),
else from the store (`SQLiteConversationStore.recordings`). Only the Timeline is built when the screen opens; each
other tab is built the first time it is shown. Every text from the model or a tool went through `inert` in the
analysis. Esc goes back to the chat as it was (the prompt's draft, the selection).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Sparkline, Static, TabbedContent, TabPane

from xsus_tui.core.db import StoreError
from xsus_tui.core.inspect import (
    TurnReport,
    format_cost,
    format_seconds,
    inspect_turn,
    median,
    message_lines,
    shared_prefix,
)
from xsus_tui.core.inspect_output import COMPLETE, INVALID, MISSING, PARTIAL, OutputAttempt
from xsus_tui.core.recording import Recording
from xsus_tui.core.sanitize import inert

from ..widgets.inputs import OrderedInput
from ..widgets.text_lines import EventList, TextLines

if TYPE_CHECKING:
    from ..widgets.user_message import UserMessage
    from .chat import ChatScreen

TABS = ("timeline", "output", "usage", "request", "events")
BAR = 24
"""Columns of a field's state bar in the Output tab."""
HINT = "1-5 or a click: tabs · ↑↓ PgUp PgDn: scroll · /: search the events · Esc: back to the chat"
STATE_MARKS = {MISSING: "·", PARTIAL: "▒", COMPLETE: "█", INVALID: "✗"}


class InspectorScreen(Screen[None]):
    """One recorded turn, inspected."""

    DEFAULT_CSS = """
    InspectorScreen { layout: vertical; }
    InspectorScreen #inspect-summary { height: auto; padding: 0 1; color: $text-muted; }
    InspectorScreen TabbedContent { height: 1fr; }
    InspectorScreen TabPane { padding: 0; height: 1fr; }
    InspectorScreen ContentSwitcher { height: 1fr; }
    InspectorScreen #gap-spark { height: 2; margin: 0 1; }
    InspectorScreen #gap-list { height: auto; padding: 0 1; color: $text-muted; }
    InspectorScreen #event-search { margin: 0 1; }
    InspectorScreen #event-count { height: 1; padding: 0 2; color: $text-muted; }
    InspectorScreen #inspect-hint { height: 1; padding: 0 2; background: $panel; color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("1", "tab('timeline')", "Timeline", show=False),
        Binding("2", "tab('output')", "Output", show=False),
        Binding("3", "tab('usage')", "Usage", show=False),
        Binding("4", "tab('request')", "Request", show=False),
        Binding("5", "tab('events')", "Events", show=False),
        Binding("slash", "search", "Search events", show=False),
    ]

    def __init__(self, recording: Recording, report: TurnReport | None = None) -> None:
        super().__init__()
        self.recording = recording
        if report is None:
            with paused_collector():
                report = inspect_turn(recording)
        self.report = report
        self.first_frame = asyncio.Event()
        """Set once the screen's first frame is painted (for the benchmark and tests)."""
        self._built: set[str] = set()

    def compose(self) -> ComposeResult:
        # Only the Timeline is built now; the other tabs when first shown (each widget costs its share of the first
        # frame). And a hint line rather than a Footer, which restyles each of its keys on every layout.
        yield Static(self._title(), classes="screen-title")
        yield Static(summary_text(self.report), id="inspect-summary")
        with TabbedContent(initial="timeline"):
            with TabPane("1 Timeline", id="timeline"):
                yield Sparkline(self.report.gap_buckets(), id="gap-spark")
                yield Static(gaps_text(self.report), id="gap-list")
                yield TextLines(timeline_texts(self.report), id="timeline-lines")
            yield TabPane("2 Output", id="output")
            yield TabPane("3 Usage", id="usage")
            yield TabPane("4 Request", id="request")
            yield TabPane("5 Events", id="events")
        yield Static(HINT, id="inspect-hint")

    def _title(self) -> str:
        turn = f"turn {self.recording.turn}" if self.recording.turn else "a turn"
        return f"Inspector · {turn}"

    def on_mount(self) -> None:
        self.title = self._title()
        self._built.add("timeline")
        self.query_one("#timeline-lines", TextLines).focus()
        self.call_after_refresh(self.first_frame.set)

    # -- tabs, built when first shown ------------------------------------------------------------------------

    @on(TabbedContent.TabActivated)
    async def _shown(self, event: TabbedContent.TabActivated) -> None:
        await self._build(event.pane.id or "")

    async def _build(self, pane: str) -> None:
        if pane in self._built:
            return
        self._built.add(pane)
        report = self.report
        widgets: list[Widget] = []
        if pane == "output":
            widgets = [TextLines(output_texts(report), wrap=True, id="output-lines")]
        elif pane == "usage":
            widgets = [TextLines(usage_texts(report), id="usage-lines")]
        elif pane == "request":
            widgets = [TextLines(request_texts(report), wrap=True, id="request-lines")]
        elif pane == "events":
            search = OrderedInput(
                placeholder="Filter the events: type any text (a type, a tool, a word)", id="event-search"
            )
            widgets = [search, Static(self._count_text(), id="event-count"), EventList(self.recording.events)]
        await self.query_one(f"#{pane}", TabPane).mount_all(widgets)

    async def action_tab(self, pane: str) -> None:
        self.query_one(TabbedContent).active = pane
        await self._build(pane)
        self.query_one(f"#{pane}", TabPane).query_one(TextLines).focus()

    async def action_search(self) -> None:
        await self.action_tab("events")
        self.query_one("#event-search", Input).focus()

    @on(Input.Changed, "#event-search")
    def _search(self, event: Input.Changed) -> None:
        self.query_one(EventList).search(event.value)
        self.query_one("#event-count", Static).update(self._count_text())

    def _count_text(self) -> Text:
        total = len(self.recording.events)
        try:
            events = self.query_one(EventList)
        except NoMatches:
            return Text(f"{total} events")
        if events.query.strip():
            return Text(f"{len(events.rows)} of {total} events match")
        return Text(f"{total} events")

    def action_back(self) -> None:
        self.dismiss(None)


# -- the tabs' texts (plain functions of the report, so tests read them without a screen) ---------------------


def summary_text(report: TurnReport) -> Text:
    recording = report.recording
    text = Text()
    text.append(inert(_one_line(recording.prompt, 60)), style="bold")
    if recording.model:
        text.append(f" · {inert(recording.model)}")
    ending = report.ending
    if ending is None:
        text.append(" · no ending (still running, or stopped)", style="insp.warning")
    else:
        how = {"TurnFinished": "finished", "TurnCancelled": "interrupted", "TurnFailed": "failed"}[
            type(ending).__name__
        ]
        text.append(f" · {how} in {format_seconds(report.duration)}")
    text.append(f" · first token {format_seconds(report.first_chunk)}")
    requests = len(report.requests)
    text.append(f" · {requests} request{'' if requests == 1 else 's'}")
    if report.retries:
        text.append(f" · {len(report.retries)} retr{'y' if len(report.retries) == 1 else 'ies'}")
    if report.stalls:
        text.append(f" · {len(report.stalls)} stall{'' if len(report.stalls) == 1 else 's'}")
    rejected = sum(attempt.verdict == "rejected" for attempt in report.outputs)
    if rejected:
        text.append(f" · {rejected} rejected output{'' if rejected == 1 else 's'}")
    tokens_in, tokens_out = report.tokens()
    text.append(f" · {tokens_in} in / {tokens_out} out · {format_cost(report.cost)}")
    return text


def gaps_text(report: TurnReport) -> Text:
    gaps = report.gaps
    if not gaps:
        return Text("No gaps between chunks: the response came in one piece, or not at all.")
    text = Text()
    text.append(f"Gaps between chunks: {len(gaps)}, median {format_seconds(median(gaps))}; the longest:")
    for gap in report.longest:
        text.append(
            f"\n  {format_seconds(gap.seconds):>9}  before {gap.after} at {gap.t:.3f} s (request {gap.request})"
        )
    return text


LEVEL_STYLES = {"warning": "insp.warning", "error": "insp.error", "success": "insp.success"}


def timeline_texts(report: TurnReport) -> list[Text]:
    lines = []
    for entry in report.timeline:
        line = Text(no_wrap=True)
        line.append(f"{entry.t:9.3f} s  ", style="insp.dim")
        line.append(f"{entry.kind:<12}", style=LEVEL_STYLES.get(entry.level, "insp.accent"))
        line.append(entry.text, style=LEVEL_STYLES.get(entry.level, ""))
        lines.append(line)
    if not lines:
        lines.append(Text("This recording has no events.", style="insp.dim"))
    return lines


def output_texts(report: TurnReport) -> list[Text]:
    if not report.outputs:
        return [Text("This turn has no structured output.", style="insp.dim")]
    lines: list[Text] = []
    legend = Text("  ")
    for state, mark in STATE_MARKS.items():
        legend.append(f"{mark} {state}  ", style=f"insp.{state}")
    lines.append(legend)
    for attempt in report.outputs:
        lines.append(Text(""))
        lines += _attempt_texts(attempt)
    for rejected, accepted, diff in report.diffs():
        lines.append(Text(""))
        lines.append(
            Text(
                f"Diff: attempt {rejected.number} (rejected) → attempt {accepted.number} (accepted)",
                style="insp.heading",
            )
        )
        for row in diff:
            style = ""
            if row.startswith("+") and not row.startswith("+++"):
                style = "insp.added"
            elif row.startswith("-") and not row.startswith("---"):
                style = "insp.removed"
            elif row.startswith("@@"):
                style = "insp.dim"
            lines.append(Text(f"  {row}", style=style))
    return lines


def _attempt_texts(attempt: OutputAttempt) -> list[Text]:
    lines = []
    verdict = {"validated": ("validated", "insp.success"), "rejected": ("rejected", "insp.warning")}.get(
        attempt.verdict or "", ("no verdict (the turn ended first)", "insp.dim")
    )
    head = Text(f"Attempt {attempt.number} · {attempt.tool_name} · request {attempt.request} · ", style="insp.heading")
    head.append(verdict[0], style=verdict[1])
    if attempt.verdict_at is not None:
        head.append(f" at {attempt.verdict_at:.3f} s", style="insp.dim")
    lines.append(head)
    if not attempt.fields:
        lines.append(Text("  no top-level fields (not a JSON object)", style="insp.dim"))
    width = max((len(field.name) + 1 for field in attempt.fields), default=4)
    span = attempt.end - attempt.start
    lines.append(
        Text(
            f"  {'field':<{width}}  {f'{attempt.start:.3f} s → {attempt.end:.3f} s':<{BAR}}  last state · when",
            style="insp.dim",
        )
    )
    for field in attempt.fields:
        line = Text("  ")
        line.append(f"{field.name + ('*' if field.required else ''):<{width}}  ")
        for column in range(BAR):
            t = attempt.start + (column + 1) / BAR * span if span > 0 else float("inf")  # (a column: until its end)
            state = field.state(t)
            line.append(STATE_MARKS[state], style=f"insp.{state}")
        final = field.final
        line.append("  ")
        line.append(final, style=f"insp.{final}")
        moments = [
            f"{name} {at:.3f}"
            for name, at in ((PARTIAL, field.partial_at), (COMPLETE, field.complete_at), (INVALID, field.invalid_at))
            if at is not None
        ]
        if moments:
            line.append(" · " + ", ".join(moments) + " s", style="insp.dim")
        lines.append(line)
    if attempt.errors:
        lines.append(Text("  Validation errors:", style="insp.warning"))
        lines += [Text(f"    {error}", style="insp.warning") for error in attempt.errors]
    samples = attempt.samples
    if attempt.fields and samples:
        lines.append(Text(f"  Each field's state as the JSON streamed ({len(samples)} moments):", style="insp.dim"))
        widths = [max(len(field.name), len(COMPLETE)) for field in attempt.fields]
        header = Text(f"  {'at':>11}", style="insp.dim", no_wrap=True)
        for field, column in zip(attempt.fields, widths, strict=True):
            header.append(f"  {field.name:<{column}}", style="insp.dim")
        lines.append(header)
        for sample in samples:
            line = Text(f"  {sample.t:9.3f} s", style="insp.dim", no_wrap=True)
            for state, column in zip(sample.states, widths, strict=True):
                line.append(f"  {state:<{column}}", style=f"insp.{state}")
            lines.append(line)
    return lines


def usage_texts(report: TurnReport) -> list[Text]:
    if not report.requests:
        return [Text("No model request was made.", style="insp.dim")]
    header = (
        f"{'request':>7}  {'tries':>5}  {'sent':>9}  {'ttft':>9}  {'in':>7}  {'out':>7}  {'cached':>7}"
        f"  {'tok/s':>7}  {'cost':>13}  {'finish':<10}  model"
    )
    lines = [Text(header, style="insp.heading", no_wrap=True)]
    for request in report.requests:
        usage = request.usage
        speed = request.tokens_per_second
        row = f"{request.number:>7}  {request.attempts:>5}  {request.sent:>7.3f} s  {format_seconds(request.ttft):>9}"
        if usage is None:
            row += f"  {'-':>7}  {'-':>7}  {'-':>7}  {'-':>7}  {'no usage (cut off)':>13}"
            lines.append(Text(row + f"  {'':<10}  {inert(request.model)}", no_wrap=True))
            continue
        cached = usage.cache_read_tokens + usage.cache_write_tokens
        cache = f"{usage.cache_read_tokens}r/{usage.cache_write_tokens}w" if cached else "0"
        row += (
            f"  {usage.input_tokens:>7}  {usage.output_tokens:>7}  {cache:>7}"
            f"  {f'{speed:.0f}' if speed is not None else '-':>7}  {format_cost(usage.cost):>13}"
            f"  {inert(usage.finish_reason or '-'):<10}  {inert(usage.model_name or request.model)}"
        )
        lines.append(Text(row, no_wrap=True, style="" if usage.cost is not None else ""))
    tokens_in, tokens_out = report.tokens()
    total = Text(
        f"{'total':>7}  {'':>5}  {'':>9}  {'':>9}  {tokens_in:>7}  {tokens_out:>7}", style="bold", no_wrap=True
    )
    total.append(f"  {'':>7}  {'':>7}  {format_cost(report.cost):>13}")
    lines.append(total)
    if report.cost is None:
        lines.append(Text(""))
        lines.append(
            Text(
                "cost unknown: genai-prices (through pydantic-ai) has no price for this model or provider; xsus "
                "doesn't guess.",
                style="insp.dim",
            )
        )
    stats = getattr(report.ending, "stats", None)
    if stats is not None:
        speed = stats.tokens_per_second
        lines.append(Text(""))
        lines.append(
            Text(
                f"The turn: {stats.requests} request{'' if stats.requests == 1 else 's'}, first token "
                f"{format_seconds(stats.ttft)}, {format_seconds(stats.duration)} in all"
                + (f", {speed:.0f} tokens/s" if speed is not None else ""),
                style="insp.dim",
            )
        )
    return lines


def request_texts(report: TurnReport) -> list[Text]:
    lines: list[Text] = []
    previous: tuple[Any, ...] = ()
    before = None  # the request before, for what it shares with it
    for request in report.requests:
        sent = request.request
        head = Text(f"Request {request.number}", style="insp.heading")
        tries = f" · sent {request.attempts} times (retried)" if request.attempts > 1 else ""
        head.append(f" · {inert(request.model)} · at {request.last_sent:.3f} s{tries}", style="insp.dim")
        lines.append(head)
        if sent is None:
            lines += [Text("  not recorded", style="insp.dim"), Text("")]
            continue
        if sent.settings:
            lines.append(Text(f"  Settings: {inert(json.dumps(sent.settings, ensure_ascii=False, default=repr))}"))
        lines.append(Text("  Instructions:", style="insp.accent"))
        if before is not None and sent.instructions == before.instructions:
            lines.append(Text("    the same as the request before's", style="insp.dim"))
        else:
            lines += _indented(sent.instructions or "(none)", "    ")
        lines.append(Text(f"  Tools ({len(sent.tools)}):", style="insp.accent"))
        if before is not None and sent.tools == before.tools:
            lines.append(Text("    the same as the request before's", style="insp.dim"))
        else:
            for tool in sent.tools:
                line = Text(f"    {inert(str(tool.get('name')))}", style="bold")
                line.append(f" ({inert(str(tool.get('kind', 'function')))})", style="insp.dim")
                if tool.get("description"):
                    line.append(f": {inert(str(tool['description']))}")
                lines.append(line)
                parameters = json.dumps(tool.get("parameters"), ensure_ascii=False, default=repr)
                lines.append(Text(f"      parameters: {inert(parameters)}", style="insp.dim"))
        messages = sent.messages
        same = shared_prefix(previous, messages)
        previous, before = messages, sent
        lines.append(Text(f"  Messages ({len(messages)}):", style="insp.accent"))
        if same:
            lines.append(Text(f"    the first {same} are those of the request before; then:", style="insp.dim"))
        for who, text in message_lines(messages[same:]):
            body = _indented(text, "      ")
            line = Text(f"    {who}: ", style="insp.accent")
            line.append_text(body[0][6:] if body else Text(""))
            lines += [line, *body[1:]]
        lines.append(Text(""))
    if not lines:
        lines.append(Text("No request was recorded.", style="insp.dim"))
    return lines


def _indented(text: str, indent: str) -> list[Text]:
    """`text` (inert) a line each, indented (so that a wrapped or multi-line message stays under its label)."""
    return [Text(indent + inert(line)) for line in text.split("\n")] if text else [Text(indent)]


@contextlib.contextmanager
def paused_collector() -> Iterator[None]:
    """The garbage collector held off while the report is built: its objects are new and alive, so a collection
    would find nothing to free, and a full one walks everything the chat holds (tens of milliseconds)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# -- opening it from the chat --------------------------------------------------------------------------------


async def inspect_turn_of(screen: ChatScreen, user: UserMessage | None) -> None:
    """Open the inspector on `user`'s turn (None: the last turn in the chat), or say in one line why not."""
    from ..widgets.user_message import UserMessage

    if user is None:
        users = [widget for widget in screen.chat.query(UserMessage) if widget.display]
        if not users:
            screen.notify("There is no turn to inspect yet.")
            return
        user = users[-1]
    recording = await find_recording(screen, user)
    if isinstance(recording, str):
        screen.notify(recording)
        return
    screen.app.push_screen(InspectorScreen(recording))


async def find_recording(screen: ChatScreen, user: UserMessage) -> Recording | str:
    """The recording of `user`'s turn: from memory for the latest turn this process ran, else from the store.
    A string says why there is none."""
    session = screen.session
    user = _turn_started_by(screen, user)
    number = user.number
    recorded = getattr(screen, "recorded", None)
    recorder = None
    if recorded is not None and recorded[0] is user:
        recorder = recorded[1]
    elif screen.turn_running and session.busy and user is _last_user(screen):
        recorder = session.last_recording  # the turn streaming now: what it has done so far
    if recorder is not None:
        return Recording(
            prompt=user.prompt,
            events=tuple(recorder.events),
            conversation_id=session.conversation.conversation_id,
            turn=number,
            model=session.chat_agent.label,
            agent=session.chat_agent.target,
        )
    if number is None:
        return "That prompt was never sent, so there is nothing to inspect."
    store = session.store
    if store is None or not hasattr(store, "recordings") or session.conversation.revision is None:
        return f"Turn {number} has no recording: this chat keeps no history database."
    try:
        recordings = await store.recordings(session.conversation.conversation_id, turn=number)
    except StoreError as error:
        return f"Turn {number}'s recording can't be read: {error}"
    except Exception as error:  # a damaged recording: say so, in one line
        return f"Turn {number}'s recording can't be read ({type(error).__name__}: {error})."
    found = next((recording for recording in recordings if recording.turn == number), None)
    if found is None:
        return f"Turn {number} has no recording (it ran before xsus recorded turns, or its recording wasn't saved)."
    return found


def _turn_started_by(screen: ChatScreen, user: UserMessage) -> UserMessage:
    """A message delivered into a running turn (steering) is recorded with the turn it was sent into: the prompt
    before it that was not steered."""
    if not getattr(user, "steered", False):
        return user
    from ..widgets.user_message import UserMessage

    users = list(screen.chat.query(UserMessage))
    index = users.index(user) if user in users else -1
    while index > 0 and users[index].steered:
        index -= 1
    return users[index] if index >= 0 else user


def _last_user(screen: ChatScreen) -> UserMessage | None:
    from ..widgets.user_message import UserMessage

    users = list(screen.chat.query(UserMessage))
    return users[-1] if users else None
