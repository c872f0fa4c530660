"""The LCEL chain every door shares: question (+ earlier questions) -> retrieve -> answer -> Answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Asked:
    """A question made ready: its text, the query retrieval searches for, what it follows on from."""

    question: str
    query: str
    previous: list[str]
    on_token: Callable[[str], None] | None
    began: float


@dataclass(frozen=True)
class Retrieved:
    """A question with the passages retrieved for it."""

    asked: Asked
    hits: list[Hit]
    retrieve_ms: float


def _prepare(value: Question | str | dict[str, Any]) -> Asked:
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
    return Asked(
        question=text,
        query=retrieval_query(text, question.history),
        previous=question.history[-1].cited if follow_up else [],
        on_token=on_token,
        began=time.perf_counter(),
    )


def build_chain(retriever: HybridRetriever | ScopedRetriever, answerer: Answerer) -> Runnable[Any, Answer]:
    """question -> Answer, as one Runnable."""

    # The hits go to the answerer as they are: the retriever's LangChain face (invoke -> Documents) is for
    # outside callers, and a round trip through it would look every chunk up again.
    def retrieve(asked: Asked) -> Retrieved:
        began = time.perf_counter()
        hits = retriever.search(asked.query)
        return Retrieved(asked, hits, (time.perf_counter() - began) * 1000)

    def answer(retrieved: Retrieved) -> Answer:
        asked = retrieved.asked
        began = time.perf_counter()
        result = answerer.answer(
            asked.question,
            retrieved.hits,
            query=asked.query,
            previous=asked.previous,
            on_token=asked.on_token,
        )
        done = time.perf_counter()
        result.retrieval_query = asked.query
        result.timings_ms = {
            "retrieve": round(retrieved.retrieve_ms, 2),
            "answer": round((done - began) * 1000, 2),
            "total": round((done - asked.began) * 1000, 2),
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
