"""The pydantic adapters that turn messages into JSON and back, shared by the store and the recordings,
and built on first use.

Building one walks pydantic-ai's whole message schema (50-75 ms of CPU each, more on a busy machine).
Built at import, as they were, the store's three and the recording's one sat on the path to the chat
being ready (docs/architecture.md, Start-up); now each is built once, by `warm()` in a daemon thread
once the chat is on screen, or by its first use if that comes first.
"""

from __future__ import annotations

import pydantic
from pydantic_ai.conversation_store import ConversationRecord
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter

JSON = pydantic.ConfigDict(defer_build=True, ser_json_bytes="base64", val_json_bytes="base64")
"""Bytes (an image's data) as base64 in JSON, as pydantic-ai's own `ModelMessagesTypeAdapter` writes them."""

MESSAGE: pydantic.TypeAdapter[ModelMessage] = pydantic.TypeAdapter(ModelMessage, config=JSON)
"""One message (a row of the store's `entries`, a message in a recording)."""
MESSAGES: pydantic.TypeAdapter[list[ModelMessage]] = ModelMessagesTypeAdapter
"""A list of messages: pydantic-ai's own adapter (the same settings as `JSON`), so it is built once in all."""
RECORD: pydantic.TypeAdapter[ConversationRecord] = pydantic.TypeAdapter(ConversationRecord)
"""A conversation's record (its id, title, times) as the store keeps it (a model: cheap, built at once)."""


def warm() -> None:
    """Build every adapter now (in a daemon thread after start-up), so the first save doesn't."""
    for adapter in (MESSAGE, MESSAGES):
        adapter.rebuild()
