"""Canaries for the private parts of pydantic-ai that xsus touches (all read in xsus_tui/core/compat.py).

Each fails with a message naming the part when a pydantic-ai upgrade changes it.
"""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel
from pydantic_ai import Agent, NativeOutput
from pydantic_ai.conversation import Conversation
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models.test import TestModel
from pydantic_ai.ui import UIEventStream

from xsus_tui.core import compat
from xsus_tui.core.store import SQLiteConversationStore


class Answer(BaseModel):
    text: str


def test_the_stored_mark_is_where_pydantic_ai_reads_it(tmp_path) -> None:
    assert compat.STORED_MARK is not None, "pydantic_ai._conversation_marks._STORED is gone: update core/compat.py"

    async def check() -> None:
        store = SQLiteConversationStore.open(tmp_path / "h.db")
        conversation = Conversation(
            messages=[ModelRequest(parts=[UserPromptPart("a")]), ModelResponse(parts=[TextPart("b")])]
        )
        await store.save(conversation)
        loaded = await store.load(conversation.conversation_id)
        assert compat.STORED_MARK in loaded.__dict__, (
            "pydantic-ai no longer keeps the stored mark in Conversation.__dict__[_STORED]: update core/compat.py"
        )
        assert list(compat.stored_mark(loaded)) == loaded.messages, "compat.stored_mark no longer reads the mark"
        store.close()

    import asyncio

    asyncio.run(check())


def test_output_tools_are_found_on_the_agent() -> None:
    agent = Agent(TestModel(), output_type=Answer)
    schema = compat.output_schema(agent)
    assert schema is not None, "Agent._output_schema is gone: update core/compat.output_schema"
    names = [tool.name for tool in compat.output_tool_defs(agent)]
    assert names == ["final_result"], (
        f"Agent._output_schema.toolset._tool_defs changed ({names}): update core/compat.py"
    )


def test_a_native_output_schema_still_has_mode_and_object_def() -> None:
    schema = compat.output_schema(Agent(TestModel(), output_type=NativeOutput(Answer)))
    assert getattr(schema, "mode", None) == "native", "output schema `mode` changed: update agents.text_output_schema"
    assert getattr(schema, "object_def", None) is not None, "output schema `object_def` is gone: update agents.py"


def test_ui_event_streams_still_track_the_open_part() -> None:
    fields = {field.name for field in dataclasses.fields(UIEventStream)}
    assert "_open_part" in fields, "UIEventStream._open_part is gone: update core/compat.open_part"


def test_the_output_tool_return_text_is_what_a_run_stores() -> None:
    result = Agent(TestModel(), output_type=Answer).run_sync("hi")
    returns = [p for m in result.all_messages() for p in m.parts if isinstance(p, ToolReturnPart)]
    assert [p.content for p in returns] == [compat.FINAL_RESULT_PROCESSED], (
        "pydantic-ai answers output tool calls with other text now: update core/compat.FINAL_RESULT_PROCESSED"
    )


def test_a_streaming_response_keeps_its_usage_and_model_name_where_replay_sets_them() -> None:
    """core/playback.py reports a recording's usage and model on a FunctionModel's streaming response."""
    from pydantic_ai.models.function import FunctionStreamedResponse
    from pydantic_ai.usage import RequestUsage

    names = {f.name for f in dataclasses.fields(FunctionStreamedResponse)}
    assert "_usage" in names and "_model_name" in names, (
        "FunctionStreamedResponse no longer has _usage / _model_name: update compat.report_usage"
    )

    async def check() -> None:
        async def stream(messages, info):
            yield "hi"

        from pydantic_ai.models.function import FunctionModel

        model = FunctionModel(stream_function=stream)
        from pydantic_ai.models import ModelRequestParameters

        async with model.request_stream(
            [ModelRequest(parts=[UserPromptPart("x")])], None, ModelRequestParameters()
        ) as r:
            async for _ in r:
                pass
            compat.report_usage(r, RequestUsage(input_tokens=7, output_tokens=3), "gpt-4o-mini")
            got = r.get()
        assert (got.usage.input_tokens, got.usage.output_tokens, got.model_name) == (7, 3, "gpt-4o-mini"), (
            "setting _usage / _model_name no longer changes what the response reports: update compat.report_usage"
        )

    import asyncio

    asyncio.run(check())


def test_the_context_a_response_leaves_is_pydantic_ais_measure() -> None:
    from pydantic_ai.usage import RequestUsage

    assert compat._context_tokens is not None, (
        "pydantic_ai._context_size.context_tokens is gone: update compat.context_tokens (the context meter)"
    )
    response = ModelResponse(parts=[TextPart("x")], usage=RequestUsage(input_tokens=100, output_tokens=5))
    assert compat.context_tokens(response) == 105
    from pydantic_ai._context_size import mark_context_input_tokens

    mark_context_input_tokens(response, 40)  # a response whose usage sums several requests
    assert compat.context_tokens(response) == 45, "pydantic-ai no longer reads its marked context input tokens"
