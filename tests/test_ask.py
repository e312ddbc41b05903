"""`xsus ask` from outside: the real command in a subprocess, the real openai client against the loopback server.

Each run gets its own session (`start_new_session`): no controlling terminal, so nothing can be asked on the
terminal the tests run in, and a signal reaches the child only.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart

from xsus_tui.core import events as ev
from xsus_tui.core.recording import from_ndjson
from xsus_tui.headless import MAX_STDIN, compose_prompt
from xsus_tui.headless_output import RenderedOutput

from .e2e.loopback import OpenAICompatServer, error_reply, messages_with_role, text_reply, tool_call_reply
from .terminal_helpers import latest_messages, spawn, wait_exit

ROOT = Path(__file__).resolve().parent.parent
MODEL = "openai-chat:test-model"
AGENT = '''
from pydantic_ai import Agent, Tool


def shout(text: str) -> str:
    """Say it louder."""
    return text.upper() + "!"


def erase(path: str) -> str:
    """Erase a file (asks first)."""
    return f"erased {path}"


agent = Agent(tools=[shout, Tool(erase, requires_approval=True)])
'''


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stderr.strip().splitlines()


def environment(home: Path, server: OpenAICompatServer | None = None, **extra: str) -> dict[str, str]:
    env = {**os.environ, "XSUS_HOME": str(home), "PYDANTIC_AI_NO_BANNER": "1", "XSUS_DEMO_DELAY": "0", **extra}
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(name, None)
    if server is not None:
        env |= {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "dummy"}
    return env


async def start(home: Path, server: OpenAICompatServer | None, *args: str, stdin: bytes | None = None, **env: str):
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "xsus_tui",
        "ask",
        *args,
        stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(home, server, **env),
        cwd=ROOT,
        start_new_session=True,
    )


async def ask(home: Path, server: OpenAICompatServer | None, *args: str, stdin: bytes | None = None) -> Ran:
    process = await start(home, server, *args, stdin=stdin)
    out, err = await asyncio.wait_for(process.communicate(stdin), 60)
    return Ran(process.returncode, out.decode(), err.decode())


def ask_sync(home: Path, *args: str, stdin: bytes | None = None, **env: str) -> Ran:
    result = subprocess.run(
        [sys.executable, "-m", "xsus_tui", "ask", *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        env=environment(home, **env),
        cwd=ROOT,
        timeout=60,
        start_new_session=True,
    )
    return Ran(result.returncode, result.stdout.decode(), result.stderr.decode())


async def stored(home: Path) -> list:
    """The latest conversation's messages (read on a thread: the store runs its own event loop)."""
    return await asyncio.to_thread(latest_messages, home)


def reply_text(message: ModelResponse) -> str:
    return "".join(part.content for part in message.parts if isinstance(part, TextPart))


@pytest.fixture
async def server():
    async with OpenAICompatServer() as started:
        yield started


@pytest.fixture
def agent_file(tmp_path: Path) -> str:
    path = tmp_path / "tools_agent.py"
    path.write_text(AGENT)
    return f"{path}:agent"


# -- text, JSON, tools ----------------------------------------------------------------------------------


async def test_piped_stdout_is_the_reply_and_it_is_saved(xsus_home, server):
    reply = "Hello **there**.\n\nA second paragraph, with `code`."
    server.script = [text_reply(reply, chunks=6)]
    ran = await ask(xsus_home, server, "say", "hello", "--model", MODEL)
    assert ran.code == 0, ran.stderr
    assert ran.stdout == reply + "\n"  # as streamed; a newline ends the output
    assert ran.stderr == ""
    assert messages_with_role(server.requests[0], "user")[-1]["content"] == "say hello"
    messages = await stored(xsus_home)
    assert messages[0].parts[0].content == "say hello" and reply_text(messages[-1]) == reply


async def test_escape_sequences_in_the_reply_are_made_inert(xsus_home, server):
    server.script = [text_reply("Title\x1b]0;owned\x07 and \x1b[2J done", chunks=4)]
    ran = await ask(xsus_home, server, "hi", "--model", MODEL)
    assert ran.code == 0, ran.stderr
    assert "\x1b" not in ran.stdout and "\x07" not in ran.stdout
    assert ran.stdout == "Title␛]0;owned␇ and ␛[2J done\n"


async def test_json_is_the_recording_of_the_turn(xsus_home, server):
    reply = "One, two, three."
    server.script = [text_reply(reply, chunks=3)]
    ran = await ask(xsus_home, server, "count", "--json", "--model", MODEL)
    assert ran.code == 0, ran.stderr
    lines = [json.loads(line) for line in ran.stdout.splitlines()]
    header, events = lines[0], lines[1:]
    assert header["type"] == "recording" and header["version"] == 1 and header["prompt"] == "count"
    assert header["model"] == MODEL and header["turn"] == 1 and header["history"]
    types = [line["type"] for line in events]
    assert types[0] == "request" and types[-1] == "finished" and types.count("finished") == 1
    assert "".join(line["text"] for line in events if line["type"] == "text") == reply
    times = [line["t"] for line in events]
    assert times == sorted(times)
    (recording,) = from_ndjson(ran.stdout)
    assert recording.prompt == "count" and recording.ending.output == reply
    assert recording.history[-1].parts[0].content == "count"
    # The same as the recording the store keeps for the turn.
    exporting = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "xsus_tui", "history", "export", "--latest", "--format", "events"),
        stdout=subprocess.PIPE,
        env=environment(xsus_home),
        cwd=ROOT,
    )
    exported, _ = await asyncio.wait_for(exporting.communicate(), 60)
    stored = [json.loads(line) for line in exported.decode().splitlines()]
    assert len(stored) == len(lines)
    for ours, theirs in zip(lines, stored, strict=True):
        assert ours.pop("t", 0) == pytest.approx(theirs.pop("t", 0), abs=2e-6)
        assert ours == theirs


async def test_tool_calls_go_to_stderr(xsus_home, server, agent_file):
    server.script = [tool_call_reply("shout", {"text": "hey"}), text_reply("Shouted.", chunks=2)]
    ran = await ask(xsus_home, server, "shout hey", "--agent", agent_file, "--model", MODEL)
    assert ran.code == 0, ran.stderr
    assert ran.stdout == "Shouted.\n"
    assert ran.lines == ['xsus: tool shout {"text": "hey"}', "xsus: tool shout → HEY!"]


async def test_a_tool_that_needs_approval_is_denied_without_a_terminal(xsus_home, server, agent_file):
    server.script = [tool_call_reply("erase", {"path": "x.txt"}), text_reply("Not erased.", chunks=2)]
    ran = await ask(xsus_home, server, "erase x.txt", "--agent", agent_file, "--model", MODEL)
    assert ran.code == 0, ran.stderr
    assert ran.lines == [
        'xsus: tool erase {"path": "x.txt"}',
        "xsus: erase needs approval and there is no terminal to ask on: denied (--approve allows it)",
        "xsus: tool erase denied: The user was not there to approve this tool call.",
    ]
    tool_results = messages_with_role(server.requests[1], "tool")
    assert "erased" not in tool_results[0]["content"]


async def test_approve_runs_a_tool_that_needs_approval(xsus_home, server, agent_file):
    server.script = [tool_call_reply("erase", {"path": "x.txt"}), text_reply("Erased.", chunks=2)]
    ran = await ask(xsus_home, server, "erase x.txt", "--approve", "--agent", agent_file, "--model", MODEL)
    assert ran.code == 0, ran.stderr
    assert ran.lines[1:] == ["xsus: erase needs approval: approved (--approve)", "xsus: tool erase → erased x.txt"]
    assert messages_with_role(server.requests[1], "tool")[0]["content"] == "erased x.txt"


def test_structured_output_is_json_on_stdout(xsus_home):
    ran = ask_sync(xsus_home, "plan", "a", "trip", "--model", "demo")
    assert ran.code == 0, ran.stderr
    text, _, value = ran.stdout.partition("\n{")
    assert text == "Here is a plan as a validated `TripPlan`:"
    assert json.loads("{" + value)["destination"] == "Lisbon, Portugal"


# -- exit codes ---------------------------------------------------------------------------------------------


async def test_a_model_failure_exits_1_with_one_line(xsus_home, server):
    server.script = [error_reply(400, "that model does not exist")]
    ran = await ask(xsus_home, server, "hi", "--model", MODEL)
    assert ran.code == 1
    assert ran.stdout == ""
    assert len(ran.lines) == 1 and ran.lines[0].startswith("xsus: error: "), ran.lines
    assert "that model does not exist" in ran.lines[0]


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        ([], None, "nothing to ask"),
        ([], b" \n", "nothing to ask"),
        (["hi", "--model", "nonsense:model"], None, "unknown model provider 'nonsense'"),
        (["hi", "--model", "openai-chat:gpt-4o-mini"], None, "needs the OPENAI_API_KEY environment variable"),
        (["hi", "--agent", "broken.py:agent"], None, "broken.py"),
        (["hi", "--agent", "no-colon"], None, "no-colon"),
        (["hi", "--resume", "nosuchid"], None, "nosuchid"),
        (["hi"], b"x" * (MAX_STDIN + 1), "more than 1,000,000 bytes"),
        (["hi"], b"\xff\xfe\x00binary", "not UTF-8"),
    ],
    ids=[
        "no-prompt",
        "blank-stdin",
        "unknown-model",
        "no-key",
        "broken-agent",
        "bad-target",
        "bad-resume",
        "huge-stdin",
        "binary-stdin",
    ],
)
def test_bad_usage_exits_2_with_one_line(xsus_home, tmp_path, monkeypatch, args, stdin, expected):
    (tmp_path / "broken.py").write_text("from pydantic_ai import Agent\nagent = Agent(\n")
    monkeypatch.chdir(tmp_path)
    args = [str(tmp_path / arg) if arg == "broken.py:agent" else arg for arg in args]
    ran = ask_sync(xsus_home, *args, stdin=stdin)
    assert ran.code == 2, ran.stderr
    assert len(ran.lines) == 1 and ran.lines[0].startswith("xsus: error: "), ran.lines
    assert expected in ran.lines[0]
    assert "Traceback" not in ran.stderr


def test_approve_and_deny_together_is_bad_usage(xsus_home):
    ran = ask_sync(xsus_home, "hi", "--approve", "--deny")
    assert ran.code == 2 and "not allowed with argument" in ran.stderr


@pytest.mark.parametrize(("sent", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_ctrl_c_saves_the_partial_reply_and_exits_130(xsus_home, server, sent, status):
    words = [f"word{n} " for n in range(60)]
    server.script = [text_reply("".join(words), chunks=60, delay=0.1)]
    process = await start(xsus_home, server, "go on", "--model", MODEL)
    first = await asyncio.wait_for(process.stdout.readuntil(b"word1 "), 30)  # it is streaming
    process.send_signal(sent)
    rest, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == status, err.decode()
    shown = (first + rest).decode()
    assert shown.startswith("word0 word1 ") and len(shown) < len("".join(words))
    assert err.decode().strip().splitlines() == ["xsus: interrupted; the partial reply is kept"]
    messages = await stored(xsus_home)
    assert isinstance(messages[-1], ModelResponse)
    assert reply_text(messages[-1]).startswith("word0 word1 ")
    assert shown.rstrip("\n") == reply_text(messages[-1])  # what was shown is what was saved
    await server.wait_all_closed()


# -- the conversation and stdin -----------------------------------------------------------------------------


async def test_continue_sends_the_previous_turns(xsus_home, server):
    server.script = [text_reply("The first answer.", chunks=2), text_reply("The second answer.", chunks=2)]
    assert (await ask(xsus_home, server, "first question", "--model", MODEL)).code == 0
    ran = await ask(xsus_home, server, "second question", "-c", "--model", MODEL)
    assert ran.code == 0, ran.stderr
    sent = [(m["role"], m["content"]) for m in server.requests[1]["messages"] if m["role"] in ("user", "assistant")]
    assert sent == [
        ("user", "first question"),
        ("assistant", "The first answer."),
        ("user", "second question"),
    ]
    messages = await stored(xsus_home)  # one conversation of two turns
    assert [m.parts[0].content for m in messages if isinstance(m, ModelRequest)] == [
        "first question",
        "second question",
    ]


async def test_stdin_is_the_prompt_or_context_under_it(xsus_home, server):
    server.script = [text_reply("ok", chunks=1), text_reply("ok", chunks=1)]
    assert (await ask(xsus_home, server, "--model", MODEL, stdin=b"what is 2+2?\n")).code == 0
    ran = await ask(xsus_home, server, "summarise", "this", "--model", MODEL, stdin=b"alpha\n```\nbeta\n")
    assert ran.code == 0, ran.stderr
    assert messages_with_role(server.requests[0], "user")[-1]["content"] == "what is 2+2?"
    assert (
        messages_with_role(server.requests[1], "user")[-1]["content"]
        == "summarise this\n\n````\nalpha\n```\nbeta\n````"
    )


def test_compose_prompt():
    assert compose_prompt(" question ", None) == "question"
    assert compose_prompt("", "  piped\n") == "piped"
    assert compose_prompt("q", "\n") == "q"
    assert compose_prompt("q", "  indented\n") == "q\n\n```\n  indented\n```"


# -- the process ------------------------------------------------------------------------------------------


def test_ask_never_imports_textual(xsus_home):
    code = (
        "import sys\n"
        "from xsus_tui.cli import main\n"
        "code = main(['ask', 'hello', '--model', 'demo'])\n"
        "print(code, sorted(n for n in sys.modules if n.split('.')[0] == 'textual'), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=environment(xsus_home),
        cwd=ROOT,
        timeout=60,
    )
    assert result.stderr.strip() == "0 []", result.stderr
    assert "Hello from the demo model" in result.stdout


def test_on_a_terminal_the_reply_is_rendered_markdown(xsus_home):
    with spawn(xsus_home, "ask", "hello", "--model", "demo", XSUS_DEMO_DELAY="0") as term:
        status, _ = wait_exit(term, timeout=60)
        text = term.text()
    assert status == 0, text[-2000:]
    assert "Hello from the demo model" in text
    assert "# Hello" not in text and "**xsus**" not in text and "```" not in text  # rendered, not markdown source
    assert "• Text like this paragraph" in text
    assert "xsus: saved in conversation" in text


def test_on_a_terminal_a_tool_that_needs_approval_is_asked_about(xsus_home):
    """stdout is piped or not: the question goes to the terminal (/dev/tty), and the answer comes from there."""
    with spawn(xsus_home, "ask", "save", "a", "note", "--model", "demo", XSUS_DEMO_DELAY="0") as term:
        assert term.wait_for(b"? [y/N] ", timeout=60) is not None, term.text()[-2000:]
        assert "xsus: allow save_note" in term.text()
        term.send(b"y\r")
        status, _ = wait_exit(term, timeout=60)
        text = term.text()
    assert status == 0, text[-2000:]
    assert "Done: the note was saved to" in text
    assert (xsus_home / "notes" / "xsus demo note.md").exists()


MARKDOWN = """# A title

A paragraph that runs
over two lines, with **bold** and a [link](https://example.com).

1. one
2. two

| a | b |
|---|---|
| 1 | 2 |

```python
x = 1

y = 2
```

Setext heading
--------------

- last
- list
"""


def rendered(chunks: list[str]) -> tuple[str, int]:
    """What RenderedOutput prints for a reply streamed in `chunks`, and how many times it rendered a block."""
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=60, force_terminal=True, color_system=None)
    output = RenderedOutput(console)
    renders = 0
    original = output._print

    def counting(block: str) -> None:
        nonlocal renders
        renders += 1
        original(block)

    output._print = counting
    for chunk in chunks:
        output.event(ev.TextDelta(chunk))
    output.event(ev.TurnFinished(stats=ev.TurnStats(), output=MARKDOWN))
    output.end()
    return console.file.getvalue(), renders


@pytest.mark.parametrize("size", [1, 3, 7, 40])
def test_streamed_markdown_prints_each_block_once_as_the_whole_would(size):
    whole, blocks = rendered([MARKDOWN])
    streamed, renders = rendered([MARKDOWN[i : i + size] for i in range(0, len(MARKDOWN), size)])
    assert streamed == whole
    assert renders == blocks == 7  # one render a block, however the text arrived
    assert "(https://example.com)" in whole and "**" not in whole and "```" not in whole


# -- files and usage ---------------------------------------------------------------------------------------


async def test_files_attach_by_f_and_by_at_path_and_the_model_receives_them(xsus_home, server, tmp_path):
    (tmp_path / "notes.md").write_text("alpha\nbeta\n")
    (tmp_path / "todo.txt").write_text("buy milk\n")
    server.script = [text_reply("Read both.", chunks=2)]
    ran = await ask(
        xsus_home,
        server,
        "compare",
        f"@{tmp_path}/notes.md",
        "with the other",
        "-f",
        str(tmp_path / "todo.txt"),
        "-f",
        str(tmp_path / "todo.txt"),
        "-f",
        str(tmp_path / "." / "notes.md"),
        "--model",
        MODEL,
    )  # fmt: skip  (each file named twice: sent once)
    assert ran.code == 0, ran.stderr
    content = messages_with_role(server.requests[0], "user")[-1]["content"]
    texts = [part["text"] for part in content if part["type"] == "text"]
    assert texts[0] == f"compare @{tmp_path}/notes.md with the other"  # the mention stays where it was typed
    assert any("buy milk" in text for text in texts) and any("alpha\nbeta" in text for text in texts)
    stored_prompt = (await stored(xsus_home))[0].parts[0].content
    assert [type(item).__name__ for item in stored_prompt] == ["str", "TextContent", "TextContent"]


async def test_a_file_that_cant_be_attached_is_one_line_and_nothing_is_sent(xsus_home, server, tmp_path):
    ran = await ask(xsus_home, server, "read", "-f", str(tmp_path / "missing.txt"), "--model", MODEL)
    assert ran.code == 2
    assert ran.lines == [f"xsus: error: not sent: {tmp_path}/missing.txt: no such file"], ran.lines
    assert server.requests == []


async def test_usage_prints_the_turn_s_tokens_and_cost_on_stderr(xsus_home, server):
    server.script = [text_reply("Hello there.", chunks=3)]
    ran = await ask(xsus_home, server, "hi", "--usage", "--model", MODEL)
    assert ran.code == 0, ran.stderr
    assert ran.stdout == "Hello there.\n"
    (line,) = ran.lines
    assert line.startswith("usage: ") and " in, " in line and " out tokens, " in line, line
    assert line == "usage: 10 in, 3 out tokens, cost unknown", line  # the loopback server's usage chunk


@pytest.mark.parametrize(
    ("redirect", "code", "line"),
    [
        ("> /dev/full", 1, "xsus: error: can't write the reply: no space left on device; what came is saved"),
        (">&-", 2, "xsus: error: stdout is closed: there is nowhere to write the reply (>&- ?)"),
    ],
    ids=["full-disk", "closed"],
)
def test_stdout_that_cant_be_written_is_one_line_not_a_traceback(xsus_home, redirect, code, line):
    command = f"{sys.executable} -m xsus_tui ask --model demo long {redirect}"
    ran = subprocess.run(
        ["sh", "-c", command], capture_output=False, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        env=environment(xsus_home), cwd=ROOT, timeout=60, start_new_session=True,
    )  # fmt: skip
    lines = ran.stderr.decode().strip().splitlines()
    assert ran.returncode == code and lines == [line], lines


def test_a_closed_stderr_still_runs_and_saves_the_turn(xsus_home):
    command = f"{sys.executable} -m xsus_tui ask --model demo hello 2>&- >/dev/null"
    ran = subprocess.run(
        ["sh", "-c", command], stdin=subprocess.DEVNULL, env=environment(xsus_home), cwd=ROOT, timeout=60,
        start_new_session=True,
    )  # fmt: skip
    assert ran.returncode == 0
    messages = latest_messages(xsus_home)
    assert messages[0].parts[0].content == "hello" and len(messages) == 2
