"""The language-model peer: an OpenAI-compatible or Ollama chat endpoint, through LangChain chat models."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from retrieval.errors import CitebotError
from retrieval.text.redaction import redact

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
TOO_LONG = "the model endpoint's reply passed {limit} and was cut off"

# The most of a reply that is read. The prompt asks for four short sentences (a few hundred characters);
# a reasoning model's visible thinking can run to thousands. Past MAX_REPLY_CHARS a reply is cut there
# (and the answer says so); past MAX_REPLY_BYTES on the wire, framing included (a streamed token costs
# about 200 bytes of JSON), the endpoint is not read further at all, so a 5 MB reply never sits in memory
# or on a screen whole. (No token limit is sent: a reasoning model's hidden thinking counts against it, and
# a limit it spends on thinking leaves an empty answer.)
MAX_REPLY_CHARS = 32_000
MAX_REPLY_BYTES = 4 * 1024 * 1024


class LLMError(CitebotError):
    """The model could not be reached, timed out or failed."""


class ReplyTooLong(Exception):
    """The endpoint sent more than MAX_REPLY_BYTES in one response; nothing past them was read."""


class Reply(NamedTuple):
    """The model's reply as read, and whether it was cut at MAX_REPLY_CHARS or MAX_REPLY_BYTES."""

    text: str
    cut: bool = False


@dataclass(frozen=True)
class LLMConfig:
    """Which endpoint, which model, how long to wait, and what to do with sentences that cite nothing."""

    provider: Provider
    model: str
    base_url: str | None = None
    api_key: str | None = None
    timeout: float = 30.0
    # A sentence citing no passage is left out ("drop"), or shown marked [no source] ("flag").
    uncited: Literal["flag", "drop"] = "drop"

    def __repr__(self) -> str:
        """The settings as a log line or traceback may show them: the key left out, the URL masked."""
        return (
            f"LLMConfig(provider={self.provider!r}, model={self.model!r}, base_url={shown_url(self)!r}, "
            f"api_key={'***' if self.api_key else None}, timeout={self.timeout!r}, uncited={self.uncited!r})"
        )


def chat_model(config: LLMConfig) -> Any:
    """A LangChain chat model for the endpoint (deterministic: temperature 0, no silent retries)."""
    if config.provider == "ollama":
        from langchain_ollama import ChatOllama

        return ChatOllama(
            model=config.model,
            base_url=endpoint_url(config),
            temperature=0,
            client_kwargs={"timeout": config.timeout, "event_hooks": {"response": [bound_reply]}},
        )
    from langchain_openai import ChatOpenAI
    from openai import DefaultHttpxClient

    return ChatOpenAI(
        model=config.model,
        base_url=config.base_url,
        api_key=config.api_key or "not-needed",
        timeout=config.timeout,
        max_retries=0,
        temperature=0,
        http_client=DefaultHttpxClient(event_hooks={"response": [bound_reply]}),
    )


def bound_reply(response: Any) -> None:
    """An HTTP response hook (httpx's, or httpx2's for the OpenAI SDK): the body is read to MAX_REPLY_BYTES.

    Called before the body is read, so a longer body raises ReplyTooLong at the limit, streamed or not.
    """
    response.stream = _bounded_class(type(response).__module__.partition(".")[0])(response.stream)


@functools.cache
def _bounded_class(library: str) -> type:
    """A byte stream of that HTTP library (its response reader checks the class) that stops at the limit."""
    base: type = sys.modules[library].SyncByteStream

    class Bounded(base):  # type: ignore[misc]
        def __init__(self, stream: Any) -> None:
            self.inner = stream

        def __iter__(self) -> Iterator[bytes]:
            seen = 0
            for chunk in self.inner:
                seen += len(chunk)
                if seen > MAX_REPLY_BYTES:
                    raise ReplyTooLong(f"more than {MAX_REPLY_BYTES} bytes")
                yield chunk

        def close(self) -> None:
            self.inner.close()

    return Bounded


def endpoint_url(config: LLMConfig) -> str:
    """The endpoint the model is asked at: the configured URL or the provider's default."""
    return config.base_url or DEFAULT_URLS[config.provider]


def shown_url(config: LLMConfig) -> str:
    """The endpoint's URL as it may be printed or posted: any key in it (userinfo, query, path) masked."""
    return redact(endpoint_url(config), [config.api_key])


def complete(
    model: Any, config: LLMConfig, system: str, user: str, on_token: Callable[[str], None] | None = None
) -> Reply:
    """The model's reply, MAX_REPLY_CHARS at most; streamed token by token to on_token when given.

    A streamed reply is read until it passes the limit and the connection is then closed; on_token never
    receives more than the limit. A reply that passes MAX_REPLY_BYTES unstreamed cannot be parsed, and fails.
    """
    from langchain_core.messages import HumanMessage, SystemMessage

    messages = [SystemMessage(system), HumanMessage(user)]
    parts: list[str] = []
    try:
        if on_token is None:
            text = str(model.invoke(messages).content)
            return Reply(text[:MAX_REPLY_CHARS], len(text) > MAX_REPLY_CHARS)
        room = MAX_REPLY_CHARS
        stream = model.stream(messages)
        try:
            for chunk in stream:
                text = str(chunk.content)[:room]
                if text:
                    parts.append(text)
                    on_token(text)
                    room -= len(text)
                if room <= 0:
                    return Reply("".join(parts), True)
        finally:
            stream.close()  # and with it the connection: nothing past the limit is read
        return Reply("".join(parts))
    except Exception as exc:  # any transport, HTTP or parsing failure of the peer
        if parts and any(isinstance(e, ReplyTooLong) for e in _causes(exc)):
            return Reply("".join(parts), True)
        raise LLMError(failure_reason(exc, config)) from exc


def failure_reason(exc: BaseException, config: LLMConfig) -> str:
    """A short, safe reason for a failed model call: the HTTP status or the kind of failure, no body text."""
    chain = list(_causes(exc))
    if any(isinstance(e, ReplyTooLong) for e in chain):
        return TOO_LONG.format(limit=f"{MAX_REPLY_BYTES // (1024 * 1024)} MiB")
    status = next((code for e in chain if (code := _status_code(e)) is not None), None)
    if status is not None:
        return _status_reason(status, config)
    if any(isinstance(e, _loaded(_TIMEOUTS)) for e in chain):
        return TIMED_OUT.format(seconds=config.timeout)
    if any(isinstance(e, _loaded(_UNREACHABLE)) for e in chain):
        return UNREACHABLE.format(url=shown_url(config))
    if any(isinstance(e, _loaded(_STREAM_ERRORS)) for e in chain):
        return FAILED_MID_REPLY
    return UNREADABLE


def _status_reason(status: int, config: LLMConfig) -> str:
    if status == 401:
        sent = config.api_key and config.provider == "openai"  # chat_model gives Ollama no key
        return (KEY_REFUSED if sent else KEY_MISSING).format(status=status)
    if status == 404:
        return NO_MODEL.format(model=config.model, url=shown_url(config), status=status)
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
