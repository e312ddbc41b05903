"""Canaries for the private parts of Textual that xsus touches through xsus_tui/ui/compat.py."""

from __future__ import annotations

import inspect

from textual.drivers import linux_driver

from xsus_tui.ui import compat


def test_the_linux_driver_still_decodes_input_through_its_module_s_getincrementaldecoder() -> None:
    source = inspect.getsource(linux_driver.LinuxDriver)
    assert 'getincrementaldecoder("utf-8")' in source, (
        "Textual's LinuxDriver decodes input another way now: update ui/compat.tolerate_invalid_utf8"
    )
    compat.tolerate_invalid_utf8()
    decode = linux_driver.getincrementaldecoder("utf-8")().decode
    assert decode(b"caf\xe9 \xed\xa0\x80", final=True) == "caf\ufffd \ufffd\ufffd\ufffd"
