"""Turning exceptions into one line a user can act on."""

from __future__ import annotations

from pydantic_ai import exceptions as exc

_ENV_KEYS = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "google": "GOOGLE_API_KEY",
    "groq": "GROQ_API_KEY",
    "mistral": "MISTRAL_API_KEY",
}


def _first_sentence(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    # pydantic-ai appends tutorial hints after the first sentence; keep the actionable part.
    for stop in (". To try", ". See https"):
        if stop in line:
            line = line.split(stop)[0] + "."
    return line


def describe_error(error: BaseException, *, key_env: str | None = None, mid_reply: bool = False) -> str:
    """A one-line explanation of what went wrong and, where we know it, what to do.

    `key_env` names the environment variable holding the model's API key, when the caller knows it;
    `mid_reply` says the reply had already started streaming.
    """
    if mid_reply and isinstance(error, exc.ModelConnectionError | ConnectionError):
        cause = error.__cause__ or error
        return f"The connection to the model server dropped in the middle of the reply ({_first_sentence(str(cause))})"
    if isinstance(error, exc.ModelAPIError) and str(error).startswith("Failed to decode response"):
        return f"The model server sent a malformed chunk: {_first_sentence(str(error)).split(': ', 1)[-1]}"
    if isinstance(error, exc.ModelAuthenticationError) or (
        isinstance(error, exc.ModelHTTPError) and error.status_code in (401, 403)
    ):
        key = key_env or _ENV_KEYS.get(_provider_of(getattr(error, "model_name", "")), "the API key")
        status = f" (HTTP {error.status_code})" if isinstance(error, exc.ModelHTTPError) else ""
        said = _body_message(getattr(error, "body", None))
        status = f" (HTTP {error.status_code}: {said})" if said and isinstance(error, exc.ModelHTTPError) else status
        return f"The provider refused the credentials{status}: check that {key} is set and valid."
    if isinstance(error, exc.ModelHTTPError):
        body = _body_message(error.body)
        return f"{error.model_name} answered HTTP {error.status_code}" + (f": {body}" if body else "")
    if isinstance(error, exc.ModelConnectionError):
        cause = error.__cause__ or error
        where = _request_url(cause)
        return f"Could not reach the model server{' at ' + where if where else ''} ({_first_sentence(str(cause))})"
    if isinstance(error, exc.ModelAPIError):
        return _first_sentence(str(error)) or type(error).__name__
    if isinstance(error, exc.UnexpectedModelBehavior):
        return f"The model's answer could not be used: {_first_sentence(error.message)}"
    if isinstance(error, exc.UsageLimitExceeded):
        return f"Usage limit reached: {_first_sentence(str(error))}"
    if isinstance(error, exc.UserError):
        return _first_sentence(str(error))
    if isinstance(error, ConnectionError | OSError):
        return f"Connection failed: {error}"
    if isinstance(error, ValueError) and type(error).__name__ == "JSONDecodeError":
        return f"The model server sent a chunk that is not valid JSON ({error})."
    text = _first_sentence(str(error))
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _request_url(error: BaseException) -> str:
    try:
        request = getattr(error, "request", None)
        url = getattr(request, "url", None)
    except Exception:  # some SDK errors raise when a request was never attached
        return ""
    if url is None:
        return ""
    text = str(url)
    return text.split("?", 1)[0]


def _provider_of(model_name: str) -> str:
    name = model_name.lower()
    for provider in _ENV_KEYS:
        if provider in name:
            return provider
    if name.startswith(("gpt", "o1", "o3", "o4")):
        return "openai"
    if name.startswith("claude"):
        return "anthropic"
    return ""


def _body_message(body: object) -> str:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            message = inner.get("message")
            if isinstance(message, str):
                return _first_sentence(message)
        elif isinstance(inner, str):
            return _first_sentence(inner)
    if isinstance(body, str):
        return _first_sentence(body)[:200]
    return ""
