"""Making model and tool text inert before it reaches a terminal.

Model output, tool arguments and tool results may contain terminal control sequences (title
changes, screen clears, cursor moves). Every C0/C1 control character except newline and tab is
replaced by a visible stand-in (ESC becomes `␛`, BEL `␇`), so such a sequence shows up as harmless
text (`␛[2J`) and can never take effect, even when it arrives split across two deltas.

Text can also disguise itself without a control character: bidi overrides and isolates reorder
what follows (`U+202E` makes `exe.txt` read `txt.exe`), zero-width characters hide inside words
(`pay\u200bpal`), and U+2028/U+2029 break lines where a terminal shows none. Those are shown as
`‹U+202E›`. The zero-width (non-)joiners U+200C/U+200D also shape Persian, Indic scripts and emoji
sequences (👨‍👩‍👧), so they stay as they are after a character outside ASCII, and are shown after an
ASCII one, or at the start of a piece of text, where they have no use but to hide.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
_JOINERS = re.compile(r"(?:^|(?<=[\x00-\x7f]))[\u200c\u200d]")
_PICTURES = {code: chr(0x2400 + code) for code in range(32)} | {0x7F: "␡"}
_PICTURES |= {code: "�" for code in range(0x80, 0xA0)}
_PICTURES |= {code: f"‹U+{code:04X}›" for code in (0x200B, 0x2028, 0x2029, 0x2060, 0xFEFF, *range(0x202A, 0x202F))}
_PICTURES |= {code: f"‹U+{code:04X}›" for code in range(0x2066, 0x206A)}
del _PICTURES[0x0A], _PICTURES[0x09]


def inert(text: str) -> str:
    """`text` with its control characters (newline and tab aside) and its invisible reorderings and
    separators shown as visible symbols."""
    if text.isascii():
        return text.translate(_PICTURES) if _CONTROL.search(text) else text
    if _CONTROL.search(text):
        text = text.translate(_PICTURES)
    if "\u200c" in text or "\u200d" in text:
        text = _JOINERS.sub(lambda match: f"‹U+{ord(match.group()):04X}›", text)
    return text


# -- storable text ------------------------------------------------------------------------------------
# A provider may escape an emoji as a surrogate pair (`\ud83d\ude00`) and split the pair across two
# chunks: each chunk then decodes to a lone surrogate, which no UTF-8 file, terminal or JSON encoder
# accepts. Text is made storable where it enters: halves that pair up become their character, the rest
# U+FFFD.

_HIGH = range(0xD800, 0xDC00)


def storable(text: str) -> str:
    """`text` as valid Unicode: surrogate halves that pair up joined into one character, lone ones as U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


class SurrogateJoiner:
    """Makes streamed text storable delta by delta, holding a high surrogate at a delta's end back for the
    low one that may start the next delta (an emoji split across two chunks)."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, text: str) -> str:
        if self._held:
            text, self._held = self._held + text, ""
        if text and ord(text[-1]) in _HIGH:
            text, self._held = text[:-1], text[-1]
        return storable(text)

    def flush(self) -> str:
        """What is still held (a high surrogate no low one followed): U+FFFD, or nothing."""
        held, self._held = self._held, ""
        return storable(held)


def storable_value(value: Any, *, deep: bool = False) -> Any:
    """`value` (a message, part, event, or plain data) with every string in it made `storable`.

    Returns `value` itself when nothing needed a change. `deep` also turns values that JSON can't hold
    into their `repr` (for a tool result of an unknown type that failed to save).
    """
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list | tuple):
        items = [storable_value(item, deep=deep) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else type(value)(items)
    if isinstance(value, dict):
        pairs = [(storable_value(k, deep=deep), storable_value(v, deep=deep)) for k, v in value.items()]
        if all(nk is k and nv is v for (nk, nv), (k, v) in zip(pairs, value.items(), strict=True)):
            return value
        return dict(pairs)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for field in dataclasses.fields(value):
            if not field.init:
                continue
            old = getattr(value, field.name)
            new = storable_value(old, deep=deep)
            if new is not old:
                changes[field.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    if deep and not isinstance(value, _PLAIN):
        try:
            import pydantic_core

            return storable_value(pydantic_core.to_jsonable_python(value, fallback=repr))
        except Exception:
            return storable(repr(value))
    return value


_PLAIN = (type(None), bool, int, float, bytes, bytearray, datetime.datetime, datetime.date)
