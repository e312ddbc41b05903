"""Textual's terminal driver, made to survive the terminal going away (Textual's private touches are here).

When the terminal is closed (the window, `tmux kill-session`), writes to it fail with EIO. Textual's
writer thread dies on the first one; its queue then fills and the next frame blocks the event loop
forever, so the partial reply could never be saved. Here a failed write is dropped instead: the app
goes on to quit (on the SIGHUP that comes with it) as if the terminal were still there.
"""

from __future__ import annotations

from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver


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
