"""Making model and tool text inert before it reaches a terminal.

Model output, tool arguments and tool results may contain terminal control sequences (title
changes, screen clears, cursor moves). Removing every C0/C1 control character except newline and tab
leaves such a sequence as harmless visible text ("[2J") and can never let one through, even when it
arrives split across two deltas.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def inert(text: str) -> str:
    """`text` without control characters (newline and tab kept)."""
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text
