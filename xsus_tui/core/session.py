"""One chat: its conversation, its store, and the turns it runs.

`run_turn` owns the whole life of a turn: the prompt is on disk before the model is called, the
agent's event stream is translated into `TurnEvent`s, and whatever the turn produced (a finished
reply, an interrupted one, a failed one) is saved when it ends, also when the consumer is cancelled
(the app quitting mid-stream). `cancel()` interrupts the turn from any task.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic_ai.agent import AgentRunEvents
from pydantic_ai.conversation import Conversation
from pydantic_ai.conversation_store import ConversationStore
from pydantic_ai.exceptions import UserError
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart

from .agents import ChatAgent
from .events import ERROR_METADATA_KEY, TextDelta, TurnCancelled, TurnEvent, TurnFailed
from .translate import TurnTranslator


class ChatSession:
    """A conversation with one agent, saved to a store turn by turn."""

    def __init__(
        self,
        chat_agent: ChatAgent,
        store: ConversationStore | None = None,
        *,
        conversation: Conversation | None = None,
    ) -> None:
        self.chat_agent = chat_agent
        self.store = store
        self.conversation = conversation or Conversation()
        self._events: AgentRunEvents[Any] | None = None
        self._cancel_requested = False

    @property
    def busy(self) -> bool:
        """Whether a turn is running."""
        return self._events is not None

    def cancel(self) -> None:
        """Interrupt the running turn; it ends with TurnCancelled and its partial reply is kept."""
        self._cancel_requested = True
        if self._events is not None:
            self._events.cancel()

    async def _save(self) -> None:
        if self.store is not None:
            await self.store.save(self.conversation)

    async def run_turn(self, prompt: str) -> AsyncIterator[TurnEvent]:
        """Run one turn for `prompt`, yielding its events; always ends with a Turn* ending event."""
        if self.busy:
            raise RuntimeError("a turn is already running")
        conversation = self.conversation
        conversation.messages.append(ModelRequest(parts=[UserPromptPart(prompt)]))
        await self._save()  # the prompt is on disk before the model sees it
        usage_before = dataclasses.replace(conversation.usage)
        translator = TurnTranslator(
            output_tools=self.chat_agent.output_tools, usage_before=usage_before, started_at=time.perf_counter()
        )
        self._cancel_requested = False
        stream = self.chat_agent.agent.run_stream_events(None, conversation=conversation)
        events = await stream.__aenter__()
        self._events = events
        ending: TurnCancelled | TurnFailed | None = None
        new: list[ModelMessage] = []
        try:
            if self._cancel_requested:  # Esc arrived while the prompt was being saved
                events.cancel()
            async for event in translator.transform_stream(events):
                if isinstance(event, TurnCancelled | TurnFailed):
                    ending = event  # held back until the partial reply is saved
                else:
                    yield event
        finally:
            try:
                await stream.__aexit__(None, None, None)
            finally:
                self._events = None
                new = await self._keep(events, ending)
        if ending is not None:
            ending.stats = translator.stats(self.conversation.usage if new else None)
            # The run can be one delta ahead of what was yielded when it stops; show what was kept.
            if tail := _unshown_tail(new, translator.partial_text):
                yield TextDelta(tail)
                ending.partial_text += tail
            yield ending

    async def _keep(self, events: AgentRunEvents[Any], ending: TurnCancelled | TurnFailed | None) -> list[ModelMessage]:
        """Add what the run produced to the conversation and save it (finished, cancelled or failed).

        A turn that failed before the model answered anything is taken back out of the history the
        model will see (it stays in the store as a branch), so sending the prompt again does not
        repeat it; `TurnFailed.unsent` tells the front end to offer the prompt again.
        """
        result = events.result
        try:
            new = events.new_messages()
            usage = events.usage
        except UserError:  # the run never started (cancelled at once)
            new, usage = [], self.conversation.usage
        if isinstance(ending, TurnFailed):
            if not any(isinstance(m, ModelResponse) and m.parts for m in new):
                ending.unsent = True
                await self._take_back_prompt()
                return []
            new = _with_error(new, ending.error)
        self.conversation.messages.extend(new)
        self.conversation.usage = result.usage if result is not None else usage
        await self._save()
        return new

    async def _take_back_prompt(self) -> None:
        conversation = self.conversation
        keep = len(conversation.messages) - 1
        if self.store is not None and conversation.revision is not None:
            self.conversation = await self.store.branch(
                conversation.conversation_id, at=keep, expected_revision=conversation.revision
            )
        else:
            del conversation.messages[keep:]


def _with_error(new: list[ModelMessage], error: str) -> list[ModelMessage]:
    """`new` with the failure recorded on its last response (metadata is kept but never sent to the model)."""
    for index in range(len(new) - 1, -1, -1):
        message = new[index]
        if isinstance(message, ModelResponse):
            metadata = {**(message.metadata or {}), ERROR_METADATA_KEY: error}
            return [*new[:index], dataclasses.replace(message, metadata=metadata), *new[index + 1 :]]
    return new


def _unshown_tail(new: list[ModelMessage], shown: str) -> str:
    kept = "".join(
        part.content
        for message in new
        if isinstance(message, ModelResponse)
        for part in message.parts
        if isinstance(part, TextPart)
    )
    return kept[len(shown) :] if len(kept) > len(shown) and kept.startswith(shown) else ""
