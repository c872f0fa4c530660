"""The LCEL chain every door shares: question (+ earlier questions) -> retrieve -> answer -> Answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from langchain_core.runnables import Runnable, RunnableLambda

from retrieval.conversation import Question, Turn, is_follow_up, retrieval_query
from retrieval.errors import InputError
from retrieval.search.hybrid import Hit, HybridRetriever
from retrieval.search.scoped import ScopedRetriever
from retrieval.types import Answer

MAX_QUESTION_CHARS = 2000


class Answerer(Protocol):
    """What the chain's last step calls: the extractive answerer or the LLM one."""

    def answer(
        self,
        question: str,
        hits: list[Hit],
        query: str | None = None,
        previous: list[str] | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer: ...


def _prepare(value: Question | str | dict[str, Any]) -> dict[str, Any]:
    on_token = value.pop("on_token", None) if isinstance(value, dict) else None
    question = (
        value
        if isinstance(value, Question)
        else (Question(text=value) if isinstance(value, str) else Question.model_validate(value))
    )
    text = " ".join(question.text.split())
    if not text:
        raise InputError("The question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise InputError(f"The question is too long ({len(text)} characters; at most {MAX_QUESTION_CHARS})")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        # A terminal in another encoding hands click undecodable bytes as lone surrogates.
        raise InputError(f"The question is not valid UTF-8 text (character {exc.start + 1})") from exc
    follow_up = is_follow_up(text, question.history)
    return {
        "question": text,
        "query": retrieval_query(text, question.history),
        "previous": question.history[-1].cited if follow_up else [],
        "on_token": on_token,
        "began": time.perf_counter(),
    }


def build_chain(retriever: HybridRetriever | ScopedRetriever, answerer: Answerer) -> Runnable[Any, Answer]:
    """question -> Answer, as one Runnable."""

    def retrieve(state: dict[str, Any]) -> dict[str, Any]:
        began = time.perf_counter()
        documents = retriever.invoke(state["query"])
        return {
            **state,
            "hits": retriever.hits(documents),
            "retrieve_ms": (time.perf_counter() - began) * 1000,
        }

    def answer(state: dict[str, Any]) -> Answer:
        began = time.perf_counter()
        result = answerer.answer(
            state["question"],
            state["hits"],
            query=state["query"],
            previous=state["previous"],
            on_token=state["on_token"],
        )
        done = time.perf_counter()
        result.retrieval_query = state["query"]
        result.timings_ms = {
            "retrieve": round(state["retrieve_ms"], 2),
            "answer": round((done - began) * 1000, 2),
            "total": round((done - state["began"]) * 1000, 2),
        }
        return result

    return RunnableLambda(_prepare) | RunnableLambda(retrieve) | RunnableLambda(answer)


def ask_chain(
    chain: Runnable[Any, Answer],
    question: str,
    history: list[Turn] | None = None,
    on_token: Callable[[str], None] | None = None,
) -> Answer:
    """Invoke the chain with a question, its earlier turns and, for a streamed answer, the token sink."""
    if on_token is None:
        answer: Answer = chain.invoke(Question(text=question, history=history or []))
        return answer
    streamed: Answer = chain.invoke({"text": question, "history": history or [], "on_token": on_token})
    return streamed
