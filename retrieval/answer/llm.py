"""The language-model peer: an OpenAI-compatible or Ollama chat endpoint, through LangChain chat models."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from retrieval.errors import CitebotError
from retrieval.text.redaction import redact_url

Provider = Literal["openai", "ollama"]
DEFAULT_URLS: dict[str, str] = {"openai": "https://api.openai.com/v1", "ollama": "http://127.0.0.1:11434"}

# Why the model failed, as a user reads it in the fallback note. Never a word of the endpoint's error body:
# endpoints echo what they were sent (one echoed the API key), and a body can be pages of HTML.
KEY_REFUSED = "the model endpoint refused the API key ({status})"
KEY_MISSING = "the model endpoint asks for an API key and none was sent ({status})"
NO_MODEL = "the model endpoint has no model named {model}, or {url} is not its API ({status})"
RATE_LIMITED = "the model endpoint is rate-limiting ({status})"
SERVER_FAILED = "the model endpoint failed ({status})"
REQUEST_REJECTED = "the model endpoint rejected the request ({status})"
FAILED_MID_REPLY = "the model endpoint reported an error while replying"
TIMED_OUT = "the model endpoint did not answer within {seconds:g} s"
UNREACHABLE = "cannot reach the model endpoint at {url}"
UNREADABLE = "the model endpoint's reply could not be read"


class LLMError(CitebotError):
    """The model could not be reached, timed out or failed."""


@dataclass(frozen=True)
class LLMConfig:
    """Which endpoint, which model, how long to wait, and what to do with sentences that cite nothing."""

    provider: Provider
    model: str
    base_url: str | None = None
    api_key: str | None = None
    timeout: float = 30.0
    uncited: Literal["flag", "drop"] = "flag"


def chat_model(config: LLMConfig) -> Any:
    """A LangChain chat model for the endpoint (deterministic: temperature 0, no silent retries)."""
    if config.provider == "ollama":
        from langchain_ollama import ChatOllama

        return ChatOllama(
            model=config.model,
            base_url=endpoint_url(config),
            temperature=0,
            client_kwargs={"timeout": config.timeout},
        )
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=config.model,
        base_url=config.base_url,
        api_key=config.api_key or "not-needed",
        timeout=config.timeout,
        max_retries=0,
        temperature=0,
    )


def endpoint_url(config: LLMConfig) -> str:
    """The endpoint the model is asked at: the configured URL or the provider's default."""
    return config.base_url or DEFAULT_URLS[config.provider]


def complete(
    model: Any, config: LLMConfig, system: str, user: str, on_token: Callable[[str], None] | None = None
) -> str:
    """The model's reply; streamed token by token to on_token when given."""
    from langchain_core.messages import HumanMessage, SystemMessage

    messages = [SystemMessage(system), HumanMessage(user)]
    try:
        if on_token is None:
            return str(model.invoke(messages).content)
        parts: list[str] = []
        for chunk in model.stream(messages):
            text = str(chunk.content)
            if text:
                parts.append(text)
                on_token(text)
        return "".join(parts)
    except Exception as exc:  # any transport, HTTP or parsing failure of the peer
        raise LLMError(failure_reason(exc, config)) from exc


def failure_reason(exc: BaseException, config: LLMConfig) -> str:
    """A short, safe reason for a failed model call: the HTTP status or the kind of failure, no body text."""
    chain = list(_causes(exc))
    status = next((code for e in chain if (code := _status_code(e)) is not None), None)
    if status is not None:
        return _status_reason(status, config)
    if any(isinstance(e, _loaded(_TIMEOUTS)) for e in chain):
        return TIMED_OUT.format(seconds=config.timeout)
    if any(isinstance(e, _loaded(_UNREACHABLE)) for e in chain):
        return UNREACHABLE.format(url=redact_url(endpoint_url(config)))
    if any(isinstance(e, _loaded(_STREAM_ERRORS)) for e in chain):
        return FAILED_MID_REPLY
    return UNREADABLE


def _status_reason(status: int, config: LLMConfig) -> str:
    if status == 401:
        sent = config.api_key and config.provider == "openai"  # chat_model gives Ollama no key
        return (KEY_REFUSED if sent else KEY_MISSING).format(status=status)
    if status == 404:
        return NO_MODEL.format(model=config.model, url=redact_url(endpoint_url(config)), status=status)
    if status == 429:
        return RATE_LIMITED.format(status=status)
    if status >= 500:
        return SERVER_FAILED.format(status=status)
    return REQUEST_REJECTED.format(status=status)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and those it was raised from or during (LangChain wraps openai wraps httpx)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _status_code(exc: BaseException) -> int | None:
    """The HTTP error status an SDK error carries: openai's and ollama's .status_code, httpx's .response."""
    code = getattr(exc, "status_code", None)
    if code is None:
        code = getattr(getattr(exc, "response", None), "status_code", None)
    # openai's APIResponseValidationError carries 200: the reply came but was not what it should be.
    return code if isinstance(code, int) and 400 <= code <= 599 else None


# (module, class) of the SDK exceptions that mean a timeout, an unreachable endpoint, a failure mid-stream.
# Looked up in sys.modules, not imported: an exception of a class exists only once its module is loaded, so
# the provider not in use need not be imported to rule it out. Timeouts first: they are transport errors too.
_TIMEOUTS = (
    ("builtins", "TimeoutError"),
    ("openai", "APITimeoutError"),
    ("httpx", "TimeoutException"),
    ("httpx2", "TimeoutException"),
)
_UNREACHABLE = (
    ("builtins", "ConnectionError"),
    ("openai", "APIConnectionError"),
    ("httpx", "TransportError"),
    ("httpx2", "TransportError"),
)
_STREAM_ERRORS = (("ollama", "ResponseError"),)  # status -1: an error line inside the stream


def _loaded(names: tuple[tuple[str, str], ...]) -> tuple[type[BaseException], ...]:
    classes = (getattr(sys.modules.get(module), name, None) for module, name in names)
    return tuple(c for c in classes if isinstance(c, type) and issubclass(c, BaseException))
