"""What the demo model says. Kept apart from its streaming logic in demo.py."""

from __future__ import annotations

HELP = """\
## What the demo can show

I am the **embedded demo model**: I run offline, inside xsus, so everything below works without a
key or a network. Try one of these prompts:

| Prompt | What you will see |
|---|---|
| `hello` | a markdown reply: headings, a list, a table and a code block, after a thinking block |
| `tools` | real tool calls: two at once (calculator, current time), one that **fails** and is recovered |
| `note` | a tool that **asks for approval** before it saves a file: approve or deny in its panel |
| `structured` | a `TripPlan` streamed field by field into the structured-output panel, then validated |
| `long` | a long reply, so you can press **Esc** to interrupt it (the partial reply is kept) |
| `fail` | a stream that breaks off mid-sentence: the partial text stays, with an error |
| `recap` | what I received of our earlier conversation (try it after `xsus --continue`) |

Keys: **Enter** sends, **Shift+Enter** or **Ctrl+J** adds a new line, **Esc** interrupts a reply,
**Ctrl+Q** quits. To use a real model, start `xsus --model openai-chat:gpt-4o-mini` (or any
pydantic-ai model id).
"""

SHOWCASE_THINKING = (
    "The user greeted me. I'll answer with a short tour of what a streamed markdown reply looks like: "
    "a heading, a list, a table and some code."
)


def showcase(prompt: str) -> str:
    said = prompt.strip().splitlines()[0][:80] if prompt.strip() else "nothing"
    return f"""\
# Hello from the demo model

You said *{said}*. I am an offline model built into **xsus**, streaming this reply token by token
so you can watch the markdown take shape.

## What streams here

- **Text** like this paragraph, rendered as markdown while it arrives
- **Thinking**, shown dimmed above (click it to fold it away)
- **Tool calls** as live panels: ask me for `tools`
- **Structured output** filling in field by field: ask for `structured`

## A table

| Feature | Demo prompt | Panel |
|---|---|---|
| Markdown | `hello` | reply |
| Tools | `tools` | tool call |
| Structured output | `structured` | output |
| Interrupt | `long`, then Esc | reply, marked |

## Some code

```python
from pydantic_ai import Agent

agent = Agent("openai-chat:gpt-4o-mini", instructions="Be concise.")
result = agent.run_sync("What is the capital of France?")
print(result.output)
```

Type `help` for the full list of demonstrations.
"""


TOOLS_THINKING = (
    "Two independent lookups: the arithmetic and the clock. I can call both tools in the same step, "
    "then check the results."
)


def tools_summary(fixed: str, system: str) -> str:
    return f"""\
Fixed: **1 / (7 − 6) = {fixed}**.

| Tool | Called with | Outcome |
|---|---|---|
| `calculator` | `(17*23)+4**3` | ok |
| `current_time` | `UTC` | ok |
| `calculator` | `1/(7-7)` | **failed**: division by zero |
| `calculator` | `1/(7-6)` | ok |
| `system_info` | | ok |

Your machine, according to `system_info`: `{system}`.

Each call above is a real Python function that ran on your machine; the failed one came back to me
as an error, and I recovered by correcting the expression.
"""


TRIP_PLAN = {
    "destination": "Lisbon, Portugal",
    "days": 4,
    "budget_eur": 1150.0,
    "highlights": [
        "Alfama and the Castelo de São Jorge at sunset",
        "Belém: the tower, the monastery and a pastel de nata",
        "A day trip to the palaces of Sintra",
        "LX Factory and a fado evening in Bairro Alto",
    ],
    "packing": ["comfortable shoes for the hills", "a light jacket", "sunscreen"],
}

_LONG_SECTIONS = [
    (
        "Why streaming matters",
        "A reply that appears token by token lets you read while the model is still thinking, and stop it "
        "the moment it goes wrong. A good client keeps up with any model, never loses a token, and never "
        "makes you wait for the whole answer before showing the first word.",
    ),
    (
        "Keeping up",
        "Rendering markdown incrementally means finished blocks should cost nothing: only the block that is "
        "still growing needs to be parsed again. Re-rendering the whole reply for every delta makes the cost "
        "grow with the reply, and long answers slow to a crawl.",
    ),
    (
        "Interrupting",
        "Pressing Esc should stop the reply at once: the connection is closed, the partial answer stays on "
        "screen marked as interrupted, and it is saved, so the model sees it next time you continue.",
    ),
    (
        "History",
        "Every conversation is kept on disk in pydantic-ai's own message format, so it can be resumed, "
        "searched and exported without losing tool calls, thinking or structured output.",
    ),
]


def long_reply(rounds: int = 6) -> str:
    """A reply of roughly 10 KB of markdown (about 1,500 tokens)."""
    parts = ["# A long reply\n\nPress **Esc** at any moment: the text so far stays and is saved.\n"]
    for round_ in range(1, rounds + 1):
        for title, body in _LONG_SECTIONS:
            parts.append(f"\n## {round_}. {title}\n\n{body}\n")
        parts.append(f"\n- point {round_}.1: streaming\n- point {round_}.2: interrupting\n- point {round_}.3: saving\n")
    parts.append("\nThat is the end of the long reply.\n")
    return "".join(parts)
