"""Every private part of Textual that xsus touches, in one place (tests/ui/test_compat.py guards each).

Each is used through this module only, so a Textual upgrade that changes one fails a named test
rather than the app, strangely.
"""

from __future__ import annotations

import codecs
import functools

from textual.drivers import linux_driver


def tolerate_invalid_utf8() -> None:
    """Decode terminal input with U+FFFD for invalid UTF-8 instead of raising.

    Textual's Linux driver decodes stdin strictly: one invalid byte in a paste (a lone surrogate's
    UTF-8 form, a Latin-1 file) raises UnicodeDecodeError in its input thread and ends the app, with
    what was typed lost. Its decoder is looked up through the module's `getincrementaldecoder`.
    """
    if getattr(linux_driver, "_xsus_tolerant", False):
        return

    def tolerant(encoding: str):
        return functools.partial(codecs.getincrementaldecoder(encoding), errors="replace")

    linux_driver.getincrementaldecoder = tolerant
    linux_driver._xsus_tolerant = True
