"""What the app run by `xsus serve` (in a browser) needs to know; standard library only (the CLI's fast path).

The server side is `serving.py`; the driver the app runs with there is `ui/web_driver.py`.
"""

from __future__ import annotations

import os

WEB_DRIVER = "textual.drivers.web_driver:WebDriver"
"""What textual-serve puts in TEXTUAL_DRIVER for the app it runs: Textual then draws on stdout in packets."""
CONVERSATION_META = "xsus_conversation"
"""The meta packet in which the app tells the server, as it stops, which conversation it had."""
RESUMED_CUT_ENV = "XSUS_SERVE_RESUMED"
"""Set by the server for a browser session that reopens a conversation cut off in an earlier one."""


def in_browser() -> bool:
    """Whether this process is an app textual-serve runs for a browser (no terminal needed)."""
    return os.environ.get("TEXTUAL_DRIVER") == WEB_DRIVER


def resumed_notice() -> str | None:
    """The one line shown when the server reopened a conversation cut off in an earlier browser session."""
    if not in_browser() or not os.environ.get(RESUMED_CUT_ENV):
        return None
    return (
        "Continued the conversation that was cut off when its browser tab closed (nothing was lost). "
        "Ctrl+N starts a new one."
    )
