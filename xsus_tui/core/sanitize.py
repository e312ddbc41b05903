"""Making model and tool text inert before it reaches a terminal.

Model output, tool arguments and tool results may contain terminal control sequences (title
changes, screen clears, cursor moves). Every C0/C1 control character except newline and tab is
replaced by a visible stand-in (ESC becomes `␛`, BEL `␇`), so such a sequence shows up as harmless
text (`␛[2J`) and can never take effect, even when it arrives split across two deltas.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_PICTURES = {code: chr(0x2400 + code) for code in range(32)} | {0x7F: "␡"}
_PICTURES |= {code: "�" for code in range(0x80, 0xA0)}
del _PICTURES[0x0A], _PICTURES[0x09]


def inert(text: str) -> str:
    """`text` with its control characters (newline and tab aside) shown as visible symbols."""
    return text.translate(_PICTURES) if _CONTROL.search(text) else text
