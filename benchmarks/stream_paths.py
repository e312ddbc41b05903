"""The no-UI side of benchmarks/terminal_render.py: the reply, the loopback server, and the consumers.

    python -m benchmarks.stream_paths serve --kb 30              # prints `URL <base_url>`, then a line a reply
    python -m benchmarks.stream_paths consume events --base-url URL --kb 30   # one timed run, as JSON

The server (tests/e2e/loopback.py, on 127.0.0.1 only) streams `reply_markdown(kb)` in chunks of about
CHUNK_CHARS characters as fast as the client reads them. For every reply it prints one JSON line with
the `time.monotonic()` (CLOCK_MONOTONIC: comparable across processes) of the request's arrival, of its
first chunk and of its end, so that every consumer, the app in its terminal included, is timed from
the same moment: the server writing the first chunk.

The consumers, each reading the same stream through the real `openai` client:
  sdk      the openai SDK alone (`chat.completions.create(stream=True)`): the floor
  model    pydantic-ai's model layer alone (`OpenAIChatModel.request_stream`), no agent
  events   `agent.run_stream_events()` (the issue's no-UI baseline; what xsus used before it had its own run task)
  iter     `agent.iter()` with `node.stream()` on each model-request and call-tools node
  handler  `agent.run(event_stream_handler=...)`
  session  xsus's engine without a UI: `ChatSession.run_turn()` (`runner.BackgroundRun` + translation)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

CHUNK_CHARS = 5.5
"""Characters per streamed chunk, as a real provider sends them (a token is 4-6 characters)."""
MODEL_NAME = "bench"
FINAL_WORDS = "Zqxv final words of the benchmark reply."
"""The reply's last line: found in the terminal's bytes, it means the whole reply is on screen."""
MODES = ("sdk", "model", "events", "iter", "handler", "session")

_WORDS = (
    "stream terminal frame render delta markdown table heading quote list code parser layout widget "
    "buffer cursor reply token event handler server client socket chunk line width style theme"
).split()


def _sentence(seed: int, words: int) -> str:
    picked = [_WORDS[(seed * 13 + i * i * 7 + i) % len(_WORDS)] for i in range(words)]
    for at, form in ((2, "**{}**"), (5, "`{}()`"), (8, "*{}*")):
        if at < words:
            picked[at] = form.format(picked[at])
    return " ".join(picked).capitalize() + "."


def _section(n: int) -> str:
    """About 1.4 KB of markdown: heading, paragraphs, a list, and in turn a code block, table or quote."""
    parts = [f"## {n}. {_WORDS[n % len(_WORDS)].title()} and {_WORDS[(n * 5) % len(_WORDS)]}\n"]
    parts.append(" ".join(_sentence(n * 3 + k, 14) for k in range(4)) + "\n")
    parts.append("".join(f"- {_sentence(n + k, 7)}\n" + f"  - nested {k}: {_sentence(n * k, 5)}\n" for k in range(3)))
    kind = n % 4
    if kind == 0:
        body = "".join(f"def step_{n}_{k}(value: int) -> int:\n    return value * {k} + {n}\n\n" for k in range(4))
        parts.append(f"```python\n{body.rstrip()}\n```\n")
    elif kind == 1:
        rows = "".join(f"| {_WORDS[(n + k) % len(_WORDS)]} | {k * n} | {k / 7:.3f} | `x{k}` |\n" for k in range(6))
        parts.append("| name | count | ratio | code |\n|---|---:|---:|---|\n" + rows)
    elif kind == 2:
        parts.append("".join(f"> {_sentence(n + k * 2, 12)}\n" for k in range(3)) + ">\n> -- a quoted source\n")
    else:
        parts.append("".join(f"{k}. {_sentence(n * 2 + k, 9)}\n" for k in range(1, 5)))
        parts.append(f'```json\n{{"section": {n}, "items": [1, 2, 3], "ok": true}}\n```\n')
    return "\n".join(parts) + "\n"


def reply_markdown(kb: float) -> str:
    """About `kb` KB of varied markdown (headings, lists, code, tables, quotes), ending with FINAL_WORDS."""
    target = int(kb * 1024) - len(FINAL_WORDS) - 2
    text, n = "", 1
    while len(text) < target:
        text += _section(n)
        n += 1
    cut = text.rfind("\n\n", 0, max(target, 2))  # end on a block boundary, never inside a code block
    while text[:cut].count("```") % 2:
        cut = text.rfind("\n\n", 0, cut)
    return text[:cut] + "\n\n" + FINAL_WORDS


def chunk_count(text: str) -> int:
    return max(1, round(len(text) / CHUNK_CHARS))


# -- the server ------------------------------------------------------------------------------------------


async def serve(kb: float) -> None:
    from tests.e2e import loopback

    text = reply_markdown(kb)
    reply = loopback.text_reply(text, chunks=chunk_count(text))
    stream = loopback._stream  # wrapped to note when the body starts and ends (this process only)

    async def timed(frames, exchange, hangup, writer):
        first = time.monotonic()
        outcome = await stream(frames, exchange, hangup, writer)
        line = {"received": exchange.received_at, "first_chunk": first, "last_chunk": time.monotonic()}
        print(json.dumps(line | {"events": exchange.events_sent, "outcome": outcome}), flush=True)
        return outcome

    loopback._stream = timed
    async with loopback.OpenAICompatServer(lambda body: reply, model=MODEL_NAME) as server:
        print(f"URL {server.base_url}", flush=True)
        await asyncio.Event().wait()  # until the parent terminates this process


# -- the consumers ---------------------------------------------------------------------------------------


def _agent():
    from pydantic_ai import Agent

    return Agent(f"openai-chat:{MODEL_NAME}")


async def consume(mode: str, prompt: str = "go") -> dict:
    """Read one whole reply through `mode`; the monotonic times of its first and last event, and the count."""
    times: list[float] = []
    text: list[str] = []

    def seen(piece: str | None = None) -> None:
        times.append(time.monotonic())
        if piece:
            text.append(piece)

    if mode == "sdk":
        from openai import AsyncOpenAI

        client = AsyncOpenAI()
        stream = await client.chat.completions.create(
            model=MODEL_NAME, messages=[{"role": "user", "content": prompt}], stream=True
        )
        async for chunk in stream:
            seen(chunk.choices[0].delta.content if chunk.choices else None)
        await client.close()
    elif mode == "model":
        from pydantic_ai.messages import ModelRequest, PartDeltaEvent, PartStartEvent
        from pydantic_ai.models import ModelRequestParameters
        from pydantic_ai.models.openai import OpenAIChatModel

        model = OpenAIChatModel(MODEL_NAME)
        messages = [ModelRequest.user_text_prompt(prompt)]
        async with model.request_stream(messages, None, ModelRequestParameters()) as response:
            async for event in response:
                if isinstance(event, PartStartEvent):
                    seen(getattr(event.part, "content", None))
                elif isinstance(event, PartDeltaEvent):
                    seen(getattr(event.delta, "content_delta", None))
                else:
                    seen()
    elif mode in ("events", "iter", "handler"):
        await _consume_agent(mode, prompt, seen)
    elif mode == "session":
        from xsus_tui.core.agents import build_chat_agent
        from xsus_tui.core.events import TextDelta
        from xsus_tui.core.session import ChatSession

        async for event in ChatSession(build_chat_agent(f"openai-chat:{MODEL_NAME}"), None).run_turn(prompt):
            seen(event.text if isinstance(event, TextDelta) else None)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    return {"mode": mode, "first": times[0], "last": times[-1], "events": len(times), "text": "".join(text)}


async def _consume_agent(mode: str, prompt: str, seen) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.messages import PartDeltaEvent, PartStartEvent

    def note(event) -> None:
        if isinstance(event, PartStartEvent):
            seen(getattr(event.part, "content", None))
        elif isinstance(event, PartDeltaEvent):
            seen(getattr(event.delta, "content_delta", None))
        else:
            seen()

    agent = _agent()
    if mode == "events":
        async with agent.run_stream_events(prompt) as events:
            async for event in events:
                note(event)
    elif mode == "iter":
        async with agent.iter(prompt) as run:
            async for node in run:
                if Agent.is_model_request_node(node) or Agent.is_call_tools_node(node):
                    async with node.stream(run.ctx) as stream:
                        async for event in stream:
                            note(event)
        seen()  # the run's end, as events' AgentRunResultEvent
    else:

        async def handler(ctx, events) -> None:
            async for event in events:
                note(event)

        await agent.run(prompt, event_stream_handler=handler)
        seen()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="role", required=True)
    serving = sub.add_parser("serve")
    serving.add_argument("--kb", type=float, required=True)
    consuming = sub.add_parser("consume")
    consuming.add_argument("mode", choices=MODES)
    consuming.add_argument("--base-url", required=True)
    consuming.add_argument("--kb", type=float, required=True)
    args = parser.parse_args()
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
    if args.role == "serve":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        asyncio.run(serve(args.kb))
        return
    os.environ["OPENAI_BASE_URL"], os.environ["OPENAI_API_KEY"] = args.base_url, "dummy"
    result = asyncio.run(consume(args.mode))
    result["complete"] = result.pop("text") == reply_markdown(args.kb)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
