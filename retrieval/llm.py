"""The language-model peer: an OpenAI-compatible or Ollama chat endpoint, through LangChain chat models."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from retrieval.errors import CitebotError

Provider = Literal["openai", "ollama"]


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
            base_url=config.base_url or "http://127.0.0.1:11434",
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


def complete(model: Any, system: str, user: str, on_token: Callable[[str], None] | None = None) -> str:
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
        raise LLMError(f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from exc
