"""Resolving `--model` (and the configured default) into a pydantic-ai Agent."""

from __future__ import annotations

import re
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Any

from pydantic_ai import Agent, Tool
from pydantic_ai.agent import AbstractAgent
from pydantic_ai.exceptions import UserError
from pydantic_ai.models import Model, infer_model
from pydantic_ai.providers import Provider, infer_provider

from . import compat
from .agent_loader import load_agent
from .demo import DEMO_MODEL_NAME, TripPlan, demo_model
from .demo_tools import DEMO_TOOLS, save_note
from .errors import describe_error

KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "openai-chat": "OPENAI_API_KEY",
    "openai-responses": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "google-gla": "GOOGLE_API_KEY",
    "groq": "GROQ_API_KEY",
    "mistral": "MISTRAL_API_KEY",
}

DEMO_INSTRUCTIONS = "You are the xsus demo model. Answer in markdown."
DEFAULT_INSTRUCTIONS = "You are a helpful assistant in a terminal chat. Answer in concise markdown."


class ModelChoiceError(Exception):
    """A model id that cannot be used; the message is one line for the user."""


@dataclass
class ChatAgent:
    """The agent a chat runs, and what the UI needs to know about it."""

    _: KW_ONLY
    agent: AbstractAgent[Any, Any]
    """The pydantic-ai agent each turn runs."""
    label: str
    """How the header and status line name the model, e.g. `demo (offline)`."""
    is_demo: bool = False
    """Whether this is the embedded offline demo model."""
    output_tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The agent's output tools by name, each with its JSON schema (for the structured-output panel)."""
    key_env: str | None = None
    """The environment variable holding the model's API key (for error messages), when known."""
    model: Model | None = None
    """The model to run instead of the agent's own (`--model` with `--agent`, or the configured default)."""
    target: str | None = None
    """The `--agent` target it was loaded from, so Ctrl+R can load it again."""
    agent_name: str | None = None
    """The user's agent's name, for the header."""
    instructions: str | None = None
    """The plain chat agent's configured instructions, kept when `/model` switches models."""
    text_output: dict[str, Any] | None = None
    """JSON schema of a structured output the model writes as text (NativeOutput / PromptedOutput)."""


def text_output_schema(agent: AbstractAgent[Any, Any]) -> dict[str, Any] | None:
    """The output's JSON schema when the model writes it as text (NativeOutput or PromptedOutput)."""
    schema = compat.output_schema(agent)
    object_def = getattr(schema, "object_def", None)
    if getattr(schema, "mode", None) not in ("native", "prompted") or object_def is None:
        return None
    return {"title": object_def.name, **object_def.json_schema}


def output_tools(agent: AbstractAgent[Any, Any]) -> dict[str, dict[str, Any]]:
    """The output tools a pydantic-ai Agent offers the model, by name, with their argument schemas.

    pydantic-ai has no public accessor for these, so this reads the agent's output toolset and falls
    back to an empty mapping; the translator then recognises the output call by its FinalResultEvent.
    """
    tool_defs = compat.output_tool_defs(agent)
    return {tool.name: tool.parameters_json_schema for tool in tool_defs if hasattr(tool, "parameters_json_schema")}


def _provider_factory(name: str) -> Provider[Any]:
    """pydantic-ai's provider for `name`, with the SDK's own retries off where we can: xsus retries
    requests itself (core/retrying.py), and two layers would turn one prompt into a storm of requests."""
    provider = infer_provider(name)
    client = getattr(provider, "client", None)
    if getattr(client, "max_retries", 0) and hasattr(client, "with_options"):
        quiet = client.with_options(max_retries=0)
        if type(provider).__name__ == "OpenAIProvider":
            from pydantic_ai.providers.openai import OpenAIProvider

            return OpenAIProvider(openai_client=quiet)
        if type(provider).__name__ == "AnthropicProvider":
            from pydantic_ai.providers.anthropic import AnthropicProvider

            return AnthropicProvider(anthropic_client=quiet)
    return provider


def make_model(model_id: str) -> Model:
    """A pydantic-ai model for `model_id`, or ModelChoiceError saying what is missing."""
    try:
        return infer_model(model_id, provider_factory=_provider_factory)
    except ImportError as error:
        extra = model_id.split(":", 1)[0].removesuffix("-chat")
        raise ModelChoiceError(
            f"model {model_id!r} needs an optional package: pip install 'pydantic-ai-slim[{extra}]'"
        ) from error
    except UserError as error:
        text = describe_error(error)
        if text.startswith("Unknown model"):
            text = f"unknown model {model_id!r}: use provider:name, e.g. {_suggestion(model_id)}, or 'demo'"
        elif match := re.search(r"Set the `(\w+)` environment variable", text):
            variable = match.group(1)
            text = f"model {model_id!r} needs the {variable} environment variable"
            if variable == "OPENAI_API_KEY":
                text += " (or OPENAI_BASE_URL pointing at a local OpenAI-compatible server)"
        raise ModelChoiceError(text) from error
    except ValueError as error:
        if "Unknown provider" in str(error):
            provider = model_id.split(":", 1)[0]
            raise ModelChoiceError(
                f"unknown model provider {provider!r} in {model_id!r}: use provider:name, "
                "e.g. openai-chat:gpt-4o-mini, anthropic:claude-sonnet-4-5, or 'demo'"
            ) from error
        raise ModelChoiceError(f"cannot use model {model_id!r}: {describe_error(error)}") from error
    except Exception as error:
        raise ModelChoiceError(f"cannot use model {model_id!r}: {describe_error(error)}") from error


def _suggestion(model_id: str) -> str:
    name = model_id.lower()
    if ":" not in name and name.startswith(("gpt", "o1", "o3", "o4", "chatgpt")):
        return f"openai-chat:{model_id}"
    if ":" not in name and name.startswith("claude"):
        return f"anthropic:{model_id}"
    return "openai-chat:gpt-4o-mini"


def _model_for(model_id: str) -> Model:
    return demo_model() if model_id == DEMO_MODEL_NAME else make_model(model_id)


def build_user_agent(target: str, *, model_id: str | None = None, default_model: str | None = None) -> ChatAgent:
    """The user's own agent from `--agent TARGET`; `model_id` overrides its model, `default_model`
    stands in when it has none. Raises AgentLoadError or ModelChoiceError with one line."""
    agent, parsed = load_agent(target)
    if model_id:
        label, model = model_id, _model_for(model_id)
    elif isinstance(agent.model, str):
        label, model = agent.model, make_model(agent.model)  # our provider settings (no SDK retries)
    elif agent.model is not None:
        label, model = f"{agent.model.system}:{agent.model.model_name}", None
    elif default_model:
        label, model = default_model, _model_for(default_model)
    else:
        raise ModelChoiceError(f"agent {parsed} has no model: pass --model, or set model in config.toml")
    name = agent.name or parsed.name
    return ChatAgent(
        agent=agent,
        label=label,
        is_demo=label == DEMO_MODEL_NAME,
        output_tools=output_tools(agent),
        key_env=KEY_ENV.get(label.split(":", 1)[0]),
        model=model,
        target=str(parsed),
        agent_name=name,
        text_output=text_output_schema(agent),
    )


def switch_model(current: ChatAgent, model_id: str) -> ChatAgent:
    """The same chat on another model (`/model`): the user's agent with its model overridden, or the
    plain chat agent rebuilt for it. Raises ModelChoiceError with one line."""
    if current.target is not None:  # the loaded agent stays as it is (no re-import): only its model changes
        return replace(
            current,
            model=_model_for(model_id),
            label=model_id,
            is_demo=model_id == DEMO_MODEL_NAME,
            key_env=KEY_ENV.get(model_id.split(":", 1)[0]),
        )
    return build_chat_agent(model_id, instructions=current.instructions)


def reload_user_agent(current: ChatAgent) -> ChatAgent:
    """Import `current`'s agent file again (after an edit), keeping its model choice."""
    assert current.target is not None
    return build_user_agent(current.target, model_id=None if current.model is None else current.label)


def configured_instructions(chat_agent: ChatAgent) -> str | None:
    """The instructions the plain chat agent was built with (the configured ones, or the default or the demo's).
    None for a user's agent (`--agent`): pydantic-ai has no public way to read them before a request."""
    if chat_agent.target is not None:
        return None
    return chat_agent.instructions or (DEMO_INSTRUCTIONS if chat_agent.is_demo else DEFAULT_INSTRUCTIONS)


def build_chat_agent(model_id: str | None = None, *, instructions: str | None = None) -> ChatAgent:
    """The plain chat agent for a model id; `None` or `demo` gives the embedded demo model."""
    if model_id in (None, "", DEMO_MODEL_NAME):
        agent = Agent(
            demo_model(),
            output_type=[str, TripPlan],
            tools=[*DEMO_TOOLS, Tool(save_note, requires_approval=True)],
            instructions=instructions or DEMO_INSTRUCTIONS,
            name="demo",
        )
        return ChatAgent(
            agent=agent,
            label="demo (offline)",
            is_demo=True,
            output_tools=output_tools(agent),
            instructions=instructions,
        )
    model = make_model(model_id)
    agent = Agent(model, instructions=instructions or DEFAULT_INSTRUCTIONS, name="chat")
    key_env = KEY_ENV.get(model_id.split(":", 1)[0])
    return ChatAgent(
        agent=agent, label=model_id, output_tools=output_tools(agent), key_env=key_env, instructions=instructions
    )
