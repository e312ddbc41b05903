"""`--agent TARGET`: files and modules, factories, and one clear line for every way it can fail."""

from __future__ import annotations

import sys
import textwrap

import pytest

from xsus_tui.core import events as ev
from xsus_tui.core.agent_loader import AgentLoadError, load_agent
from xsus_tui.core.agents import ModelChoiceError, build_user_agent, reload_user_agent
from xsus_tui.core.session import ChatSession

from .helpers import collect, text_of

AGENT_FILE = textwrap.dedent(
    """
    from pydantic import BaseModel
    from pydantic_ai import Agent
    from pydantic_ai.models.function import DeltaToolCall, FunctionModel

    GREETING = "hello"

    class Ticket(BaseModel):
        title: str
        priority: int

    async def stream(messages, info):
        if any(part.part_kind == "user-prompt" for part in messages[-1].parts):
            yield {0: DeltaToolCall(name="lookup", json_args='{"order": 42}', tool_call_id="l")}
        else:
            yield {0: DeltaToolCall(name=info.output_tools[0].name, json_args='{"title": "Late", "priority": 2}')}

    support = Agent(FunctionModel(stream_function=stream), output_type=Ticket, name="support")

    @support.tool_plain
    def lookup(order: int) -> str:
        return f"order {order}: {GREETING}"

    def make_agent():
        return Agent(FunctionModel(stream_function=stream), output_type=Ticket, name="made")

    bare = Agent(output_type=str, name="bare")
    not_an_agent = 3
    """
)


@pytest.fixture
def agent_file(tmp_path):
    path = tmp_path / "myagent.py"
    path.write_text(AGENT_FILE)
    return path


async def test_a_file_agent_runs_with_its_tools_and_structured_output(agent_file, tmp_path):
    chat_agent = build_user_agent(f"{agent_file}:support")
    assert chat_agent.agent_name == "support" and chat_agent.target == f"{agent_file}:support"
    events = await collect(ChatSession(chat_agent, None), "my order is late")
    finished = {e.call_id: e for e in events if isinstance(e, ev.ToolCallFinished)}
    assert finished["l"].result == "order 42: hello"
    assert [e.value for e in events if isinstance(e, ev.OutputValidated)] == [{"title": "Late", "priority": 2}]


def test_a_factory_function_is_called(agent_file):
    agent, target = load_agent(f"{agent_file}:make_agent")
    assert agent.name == "made" and target.name == "make_agent"


def test_a_module_target(tmp_path, monkeypatch):
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "agents.py").write_text(AGENT_FILE)
    monkeypatch.syspath_prepend(str(tmp_path))
    agent, _ = load_agent("mypkg.agents:support")
    assert agent.name == "support"
    sys.modules.pop("mypkg.agents", None)
    sys.modules.pop("mypkg", None)


async def test_model_override_and_the_configured_default(agent_file):
    chat_agent = build_user_agent(f"{agent_file}:support", model_id="demo")
    assert chat_agent.label == "demo" and chat_agent.model is not None
    bare = build_user_agent(f"{agent_file}:bare", default_model="demo")
    assert bare.label == "demo"
    with pytest.raises(ModelChoiceError, match="has no model: pass --model"):
        build_user_agent(f"{agent_file}:bare")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("{file}", "must be FILE.py:NAME or package.module:NAME"),
        ("{dir}/missing.py:agent", "no such file: {dir}/missing.py"),
        ("{file}:nope", "has no 'nope' (agents it defines: bare, support)"),
        ("{file}:not_an_agent", "is a int, not a pydantic-ai Agent"),
        ("{file}:GREETING", "is a str, not a pydantic-ai Agent"),
        ("no_such_module_xyz:agent", "no module named 'no_such_module_xyz'"),
    ],
)
def test_bad_targets_give_one_clear_line(agent_file, target, expected):
    text = target.format(file=agent_file, dir=agent_file.parent)
    with pytest.raises(AgentLoadError) as error:
        load_agent(text)
    message = str(error.value)
    assert expected.format(dir=agent_file.parent) in message and "\n" not in message


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("from pydantic_ai import Agent\n\nagent = Agent(\n    'test',\n  name=)\n")
    with pytest.raises(AgentLoadError) as error:
        load_agent(f"{path}:agent")
    assert str(error.value).startswith(f"{path}:5: syntax error")


def test_an_exception_while_importing_names_where(tmp_path):
    path = tmp_path / "raises.py"
    path.write_text("x = 1\nraise RuntimeError('no database configured')\n")
    with pytest.raises(AgentLoadError) as error:
        load_agent(f"{path}:agent")
    assert "RuntimeError: no database configured" in str(error.value) and f"{path}:2" in str(error.value)


async def test_reload_picks_up_an_edit(agent_file):
    chat_agent = build_user_agent(f"{agent_file}:support")
    agent_file.write_text(AGENT_FILE.replace('GREETING = "hello"', 'GREETING = "edited"'))
    reloaded = reload_user_agent(chat_agent)
    events = await collect(ChatSession(reloaded, None), "again")
    assert [e.result for e in events if isinstance(e, ev.ToolCallFinished)] == ["order 42: edited"]
    assert text_of(events) == ""
