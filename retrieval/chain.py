"""The LCEL chain every door shares: question (+ earlier questions) -> retrieve -> answer -> Answer."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, Field

from retrieval.answering import ExtractiveAnswerer
from retrieval.citations import Answer
from retrieval.errors import InputError
from retrieval.search import HybridRetriever, from_document

MAX_QUESTION_CHARS = 2000


class Question(BaseModel):
    """A question, with the conversation's earlier questions (oldest first) for follow-ups."""

    text: str
    history: list[str] = Field(default_factory=list)


def _prepare(value: Question | str | dict[str, Any]) -> dict[str, Any]:
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
    return {"question": text, "query": text, "began": time.perf_counter()}


def build_chain(retriever: HybridRetriever, answerer: ExtractiveAnswerer) -> Runnable[Any, Answer]:
    """question -> Answer, as one Runnable."""

    def retrieve(state: dict[str, Any]) -> dict[str, Any]:
        began = time.perf_counter()
        documents = retriever.invoke(state["query"])
        return {
            **state,
            "hits": [from_document(d) for d in documents],
            "retrieve_ms": (time.perf_counter() - began) * 1000,
        }

    def answer(state: dict[str, Any]) -> Answer:
        began = time.perf_counter()
        result = answerer.answer(state["question"], state["hits"])
        done = time.perf_counter()
        result.retrieval_query = state["query"]
        result.timings_ms = {
            "retrieve": round(state["retrieve_ms"], 2),
            "answer": round((done - began) * 1000, 2),
            "total": round((done - state["began"]) * 1000, 2),
        }
        return result

    return RunnableLambda(_prepare) | RunnableLambda(retrieve) | RunnableLambda(answer)
