"""The pydantic adapters that turn messages into JSON and back, shared by the store and the recordings,
and built on first use.

Building the messages' adapter walks pydantic-ai's whole message schema (30-75 ms of CPU, more on a busy
machine). Built at import, as the adapters were, it sat on the path to the chat being ready
(docs/architecture.md, Start-up); now it is built once, by `warm()` in a daemon thread once the chat is on
screen, or by its first use if that comes first.
"""

from __future__ import annotations

from typing import Any

import pydantic
from pydantic_ai.conversation_store import ConversationRecord
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter

MESSAGES: pydantic.TypeAdapter[list[ModelMessage]] = ModelMessagesTypeAdapter
"""Messages to JSON and back: pydantic-ai's own adapter (bytes, an image's data, as base64), the only one built.
One message goes through it as a list of one (the functions below; the same JSON, as fast): a second adapter
for `ModelMessage` alone cost as much to build again (30-40 ms of CPU in every process that both read and saved).
"""
RECORD: pydantic.TypeAdapter[ConversationRecord] = pydantic.TypeAdapter(ConversationRecord)
"""A conversation's record (its id, title, times) as the store keeps it (a model: cheap, built at once)."""


def message_json(message: ModelMessage) -> str:
    """One message as pydantic-ai's JSON (a row of the store's `entries`)."""
    return MESSAGES.dump_json([message])[1:-1].decode()


def message_from_json(text: str) -> ModelMessage:
    """The message `message_json` wrote."""
    return MESSAGES.validate_json("[" + text + "]")[0]


def message_to_python(message: ModelMessage) -> Any:
    """One message as JSON-ready Python (a message in a recording)."""
    return MESSAGES.dump_python([message], mode="json")[0]


def message_from_python(item: Any) -> ModelMessage:
    return MESSAGES.validate_python([item])[0]


def warm() -> None:
    """Build the adapter now (in a daemon thread after start-up), so the first save doesn't."""
    MESSAGES.rebuild()
