"""Quitting while starting, the start-up screen's progress line, and the driver that survives a closed terminal.

The process-level behaviour (signals, hanging servers and tools, a real pseudo-terminal) is tested in
tests/test_signals.py, tests/test_quit.py and tests/test_agent_loading.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import pty
import signal
import sys

from textual.drivers.linux_driver import LinuxDriver

from xsus_tui.ui.app import XsusApp
from xsus_tui.ui.driver import HangupSafeDriver, TerminalOutput
from xsus_tui.ui.screens.startup import StartupScreen, StartupStatus

from .helpers import SIZE, screen_text, wait_for


def loading_app() -> tuple[XsusApp, asyncio.Event]:
    """An app whose loader says it is loading an agent, and never finishes."""
    never = asyncio.Event()
    app: XsusApp

    async def loader():
        app.show_progress("loading agent app.py:support")
        await never.wait()

    app = XsusApp(loader=loader)
    return app, never


async def test_the_start_up_screen_counts_the_seconds_of_a_slow_load():
    app, _ = loading_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "loading agent app.py:support" in screen_text(app))
        assert "loading the chat" not in screen_text(app)
        status = app.screen.query_one(StartupStatus)
        status.since -= 3.2  # as if it had started 3.2 s ago
        await wait_for(pilot, lambda: "loading agent app.py:support · 3 s" in screen_text(app))


async def test_ctrl_c_while_loading_an_agent_abandons_it():
    app, _ = loading_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "loading agent" in screen_text(app))
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 130
    assert app.abandoned is not None and app.abandoned.startswith("loading agent app.py:support (")


async def test_ctrl_q_while_loading_the_chat_quits_quietly():
    never = asyncio.Event()

    async def loader():
        await never.wait()

    app = XsusApp(loader=loader)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, StartupScreen)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0 and app.abandoned is None


async def test_ctrl_c_with_text_selected_on_the_start_up_screen_copies_it():
    app, _ = loading_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"hello")
        app.screen.prompt.select_all()
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.return_code is None and isinstance(app.screen, StartupScreen)
        assert app.clipboard == "hello"


async def test_textual_still_draws_through_the_file_the_driver_wraps():
    """A canary for the private attribute HangupSafeDriver wraps (`LinuxDriver._file`)."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGTSTP, signal.SIGCONT)}
    try:
        driver = HangupSafeDriver(XsusApp(loader=asyncio.sleep))
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)
    assert isinstance(driver._file, TerminalOutput) and driver._file.file is sys.__stderr__
    assert "WriterThread(self._file)" in inspect.getsource(LinuxDriver.start_application_mode)
    assert XsusApp(loader=asyncio.sleep).get_driver_class() is HangupSafeDriver


def test_writes_to_a_terminal_that_hung_up_are_dropped():
    main, secondary = pty.openpty()
    output = TerminalOutput(os.fdopen(secondary, "w", buffering=1))
    try:
        output.write("frame one\n")
        output.flush()
        assert os.read(main, 100) == b"frame one\r\n"
        os.close(main)  # the terminal window closed
        for _ in range(3):
            assert output.write("frame two\n" * 1000) == 10000
            output.flush()
        assert output.gone and not output.isatty()
    finally:
        with contextlib.suppress(OSError):  # what is left in its buffer can't be written any more
            output.file.close()
