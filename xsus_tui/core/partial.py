"""Partial structured output: what a half-streamed JSON value holds so far.

pydantic-ai only validates a BaseModel output once every required field has arrived, so while it
streams we parse the raw JSON leniently (`pydantic_core.from_json(..., allow_partial=...)`) to show
fields as they arrive, and compare the keys with the schema's `required` list.
"""

from __future__ import annotations

from typing import Any

import pydantic_core


def parse_partial(raw: str) -> Any:
    """The value a possibly incomplete JSON text holds so far (`None` while nothing is parseable).

    Trailing strings are kept, so a long string field fills in character by character.
    """
    if not raw.strip():
        return None
    try:
        return pydantic_core.from_json(raw, allow_partial="trailing-strings")
    except ValueError:
        return None


def missing_fields(value: Any, schema: dict[str, Any] | None) -> tuple[str, ...]:
    """Required top-level fields of an object schema that `value` does not have yet."""
    if not schema:
        return ()
    required = schema.get("required")
    if not required:
        return ()
    present = value.keys() if isinstance(value, dict) else ()
    return tuple(name for name in required if name not in present)
