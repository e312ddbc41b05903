"""Textual's terminal driver, made to survive the terminal going away and to take Esc at once (Textual's private
touches for both are here).

When the terminal is closed (the window, `tmux kill-session`), writes to it fail with EIO. Textual's
writer thread dies on the first one; its queue then fills and the next frame blocks the event loop
forever, so the partial reply could never be saved. Here a failed write is dropped instead: the app
goes on to quit (on the SIGHUP that comes with it) as if the terminal were still there.

Input that is not valid UTF-8 (a paste from a Latin-1 file, a lone surrogate's bytes) is decoded with U+FFFD:
Textual's strict decoder raised in its input thread and ended the app, with what was typed lost.

Esc: a terminal sends Esc as a lone ESC byte, which also starts every escape sequence (arrows, Alt+key), so the
parser waits ESCDELAY (Textual: 100 ms) for more before taking it as the key, and Textual's input thread only
checks that wait each time its `select` returns, every 0.1 s: a shorter delay was not honoured. Here the input
thread wakes when the wait is due, and the delay is 50 ms (neovim's `ttimeoutlen`) unless ESCDELAY says
otherwise: terminals write each sequence whole. Esc to the reply shown interrupted, in a pseudo-terminal
(benchmarks/interrupt.py): p50 131 -> 79 ms.
"""

from __future__ import annotations

import os
import selectors
import signal
from codecs import getincrementaldecoder
from typing import IO, Any

from textual import constants
from textual.drivers.linux_driver import LinuxDriver

from . import compat

ESCAPE_DELAY_MS = 50
"""How long a lone ESC waits for the rest of a sequence before it is the Esc key, unless ESCDELAY is set."""

IDLE_WAKE = 0.1
"""The input thread's `select` timeout while no escape is pending (Textual's: it checks `exit_event` as often)."""


def set_escape_delay() -> None:
    """ESCAPE_DELAY_MS, unless the user set ESCDELAY (Textual reads it once, into `constants.ESCAPE_DELAY`, which
    its parser looks up at each escape)."""
    if "ESCDELAY" not in os.environ:
        constants.ESCAPE_DELAY = ESCAPE_DELAY_MS / 1000  # type: ignore[misc]  # Final in Textual


class TerminalOutput:
    """The file Textual's writer thread writes to, with writes to a terminal that has gone dropped."""

    def __init__(self, file: IO[str]) -> None:
        self.file = file
        self.gone = False
        """A write failed: the terminal has gone (everything written from now on is dropped)."""

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self.file.write(text)
            except (OSError, ValueError):
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.file.flush()
            except (OSError, ValueError):
                self.gone = True

    def fileno(self) -> int:
        return self.file.fileno()

    def isatty(self) -> bool:
        return not self.gone and self.file.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)


class HangupSafeDriver(LinuxDriver):
    """LinuxDriver whose output survives a hung-up terminal (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # LinuxDriver keeps the file it draws on (sys.__stderr__) here and hands it to its WriterThread
        # when the app starts (tests/ui/test_quitting.py checks this is still so).
        self._file = TerminalOutput(self._file)
        set_escape_delay()
        signal.signal(signal.SIGCONT, self._continued)  # in place of Textual's handler, which it calls

    def _continued(self, *_: Any) -> None:
        """SIGCONT. Textual resumes application mode, which starts another input thread: after a SIGCONT that no
        Ctrl+Z came before (`kill -CONT`, a SIGSTOP, which can't be caught), two threads read the terminal and
        quitting waited on the one blocked in `read` until one more key. Application mode is left first then,
        as Ctrl+Z leaves it, so there is one input thread and the terminal's modes are set again."""
        if compat.input_thread_alive(self):
            self.suspend_application_mode()
        compat.resume_on_sigcont(self)

    def run_input_thread(self) -> None:
        """LinuxDriver's (Textual 8.2, tests/ui/test_compat.py checks it is unchanged), but `select` waits only
        until the parser's pending escape is due, not a fixed 0.1 s, and invalid UTF-8 is U+FFFD (see the module's
        docstring)."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        fileno, read = self.fileno, os.read
        parser = compat.xterm_parser(self)
        feed, tick = parser.feed, parser.tick
        decode = getincrementaldecoder("utf-8")(errors="replace").decode

        def timeout() -> float:
            due_in = compat.escape_due_in(parser)  # None: no escape pending
            return IDLE_WAKE if due_in is None else min(IDLE_WAKE, due_in)

        def process_selector_events(selector_events: list[tuple[selectors.SelectorKey, int]], final: bool = False):
            for index, (_key, mask) in enumerate(selector_events):
                if mask & selectors.EVENT_READ:
                    unicode_data = decode(read(fileno, 1024 * 4), final=final and index == len(selector_events) - 1)
                    if not unicode_data:  # stdin is a pipe
                        break
                    for event in feed(unicode_data):
                        self.process_message(event)
            for event in tick():
                self.process_message(event)

        try:
            while not self.exit_event.is_set():
                process_selector_events(selector.select(timeout()))
            selector.unregister(self.fileno)
            process_selector_events(selector.select(IDLE_WAKE), final=True)
        finally:
            selector.close()
            try:
                for _event in feed(""):
                    pass
            except (EOFError, compat.parse_errors()):
                pass
