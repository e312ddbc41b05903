"""`xsus replay SOURCE [--speed realtime|N|max]`: recorded turns played back through the real app, offline.

SOURCE is an NDJSON file of recordings (`xsus history export ID --format events`, or `-` for stdin) or a stored
conversation's id (or a unique prefix), either one optionally followed by `:TURN`. Without a turn, every turn the
source holds is played in order (from the first of the last run of consecutive recorded turns); with one, that turn
alone. The chat opens on the history before the first turn played, and each recorded prompt is sent at once to a
`core.playback.Playback` of its recording: no provider is called, and nothing is stored (the session has no store).

Everything that can be checked without a terminal is checked first (the speed, the file or the conversation, the
recordings in it, the turn), each problem one line and exit status 2; then the terminal, then the app.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import paths
from .loading import CliError, open_store, read_source
from .process import missing_terminal, run_bounded

if TYPE_CHECKING:
    from .core.recording import Recording
    from .ui.app import ChatSetup, XsusApp

MAX = math.inf
"""`--speed max`: nothing waits (core.playback.MAX, without importing pydantic-ai to parse an option)."""
_TURN = re.compile(r"^(?P<source>.+):(?P<turn>\d+)$")


def parse_speed(text: str) -> float:
    """`realtime` (1), `max` (`MAX`) or a positive number (2 = twice as fast, 0.5 = half); CliError otherwise."""
    word = text.strip().lower()
    if word == "realtime":
        return 1.0
    if word == "max":
        return MAX
    try:
        value = float(word.removesuffix("x"))
    except ValueError:
        raise CliError(f"--speed must be realtime, max or a number such as 2 or 0.5, not {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise CliError(f"--speed must be a number above 0 (or realtime, or max), not {text!r}")
    return value


def speed_label(speed: float) -> str:
    return "max" if speed == MAX else ("realtime" if speed == 1 else f"{speed:g}x")


def add_parser(commands: Any) -> None:
    """The `replay` subcommand (cli.build_parser calls this)."""
    replay = commands.add_parser(
        "replay",
        help="play recorded turns back through the app, offline (a file from `history export -f events`, or an id)",
    )
    replay.add_argument(
        "source",
        metavar="SOURCE",
        help="an NDJSON file of recordings (- for stdin) or a conversation id (or unique prefix), with :TURN for "
        "one turn; without it every turn it holds, in order",
    )
    replay.add_argument(
        "--speed",
        default="realtime",
        help="realtime (as recorded, the default), N (2 = twice as fast, 0.5 = half) or max (no waiting)",
    )


def replay(args: argparse.Namespace) -> int:
    speed = parse_speed(args.speed)
    recordings, what = _recordings(args.source)
    if args.source == "-" or args.source.startswith("-:"):
        _keys_from_the_terminal()
    if (missing := missing_terminal()) is not None:
        raise CliError(
            f"a replay needs a terminal, and {missing}; to read the recording without one, use "
            "`xsus history export ID --format events`"
        )
    from .config import ConfigError, load_settings

    try:
        theme = load_settings(paths.config_file()).theme
    except ConfigError as error:
        raise CliError(str(error)) from error
    from .ui.app import XsusApp

    loader = _ReplayLoader(recordings, speed, what)
    app = XsusApp(loader=loader, theme=theme, quit_on_signals=True)
    loader.app = app
    run_bounded(app.run_async())
    if app.startup_error is not None:
        raise CliError(app.startup_error)
    return app.return_code or 0


def _keys_from_the_terminal() -> None:
    """The recording came on stdin (`... | xsus replay -`): read the keys from the controlling terminal instead,
    as `less` does. Without one, stdin stays as it is and the terminal check says so."""
    with contextlib.suppress(OSError):
        if not os.isatty(0):
            tty = os.open("/dev/tty", os.O_RDWR)
            os.dup2(tty, 0)
            os.close(tty)


# -- the recordings --------------------------------------------------------------------------------------------


def _recordings(source: str) -> tuple[list[Recording], str]:
    """The recordings SOURCE names, to be played in order, and a few words saying what they are."""
    from .core.recording import RecordingError, from_ndjson

    turn: int | None = None
    name = source
    if source != "-" and not Path(source).exists() and (match := _TURN.match(source)):
        name, turn = match.group("source"), int(match.group("turn"))
    if name == "-" or Path(name).exists() or "/" in name or name.endswith((".ndjson", ".jsonl", ".json")):
        label = "stdin" if name == "-" else name
        if Path(name).is_dir():
            raise CliError(f"{name} is a folder, not a recording")
        text = read_source(name)
        try:
            found = from_ndjson(text)
        except RecordingError as error:
            raise CliError(f"{label}: {error}") from None
        return _chosen(found, turn, label), label
    return _stored(name, turn)


def _stored(prefix: str, turn: int | None) -> tuple[list[Recording], str]:
    if not paths.history_db().exists():
        raise CliError(f"no file or conversation {prefix!r} (there are no stored conversations yet)")
    from .core.db import StoreError

    store = open_store(reading=True)
    try:
        try:
            conversation_id = store.resolve_id(prefix)
        except KeyError as error:
            raise CliError(f"no file named {prefix!r}, and {error.args[0]}") from None
        try:
            found = asyncio.run(store.recordings(conversation_id))
        except StoreError as error:
            raise CliError(str(error)) from error
    finally:
        store.close()
    short = conversation_id[:13]
    if not found:
        raise CliError(f"conversation {short} has no recorded turns (turns from before recordings have none)")
    return _chosen(found, turn, f"conversation {short}"), f"conversation {short}"


def _chosen(found: list[Recording], turn: int | None, label: str) -> list[Recording]:
    if turn is not None:
        matching = [r for r in found if r.turn == turn]
        if not matching:
            turns = ", ".join(str(r.turn) for r in found if r.turn is not None) or "none numbered"
            raise CliError(f"{label} has no recording of turn {turn} (recorded turns: {turns})")
        return matching[-1:]
    run = [found[-1]]  # the last run of consecutive turns: each one follows the one before on screen
    for recording in reversed(found[:-1]):
        after = run[0]
        if recording.conversation_id != after.conversation_id or (
            recording.turn is not None and after.turn is not None and recording.turn + 1 != after.turn
        ):
            break
        run.insert(0, recording)
    return run


# -- the app ---------------------------------------------------------------------------------------------------


class _ReplayLoader:
    """Builds the replay's chat (no store: nothing is written) and, once the chat screen is up, sends each recorded
    prompt in turn to the playback of its recording."""

    def __init__(self, recordings: list[Recording], speed: float, what: str) -> None:
        self.recordings = recordings
        self.speed = speed
        self.what = what
        self.app: XsusApp | None = None
        self._driver: asyncio.Task[None] | None = None

    async def __call__(self) -> ChatSetup:
        from pydantic_ai.conversation import Conversation

        from .core.playback import Playback
        from .core.session import ChatSession
        from .ui.app import ChatSetup

        playbacks = [Playback(recording, speed=self.speed) for recording in self.recordings]
        first = playbacks[0]
        history = list(first.recording.history or ())[:-1]  # the prompt is sent again
        session = ChatSession(
            first.chat_agent,
            None,
            conversation=Conversation(messages=history),
            retries=first.retries,
            idle_timeout=max(p.idle_timeout for p in playbacks),
            model_settings=first.model_settings,
        )
        first.attach(session)
        self._driver = asyncio.create_task(self._drive(session, playbacks))
        return ChatSetup(session, [self._notice(playbacks)], None)

    def _notice(self, playbacks: list[Any]) -> str:
        recording = playbacks[0].recording
        turns = [p.recording.turn for p in playbacks]
        if len(playbacks) == 1:
            which = f"turn {turns[0]}" if turns[0] is not None else "a turn"
        elif None not in turns:
            which = f"turns {turns[0]}-{turns[-1]}"
        else:
            which = f"{len(playbacks)} turns"
        when = f", recorded {recording.started_at[:16].replace('T', ' ')} UTC" if recording.started_at else ""
        model = recording.model or "an unknown model"
        return (
            f"Replay of {which} of {self.what} ({model}{when}) at speed {speed_label(self.speed)}: "
            "offline, and nothing is stored."
        )

    async def _drive(self, session: Any, playbacks: list[Any]) -> None:
        """Send each recorded prompt once the chat screen is ready, the next when the turn before has ended."""
        app = self.app
        assert app is not None
        from .ui.screens.chat import ChatScreen

        while not (isinstance(app.screen, ChatScreen) and app.screen.is_mounted):
            if app.quitting:
                return
            await asyncio.sleep(0.02)
        screen = app.screen
        await asyncio.sleep(0)  # let the screen finish mounting (its prompt focused)
        for playback in playbacks:
            if app.quitting:
                return
            session.chat_agent = playback.chat_agent
            playback.attach(session)
            worker = screen.turn_worker = screen.run_turn(playback.recording.prompt)
            with contextlib.suppress(Exception):
                await worker.wait()
        if not app.quitting:
            screen.show_notice("The replay has ended. Ctrl+Q quits.")
