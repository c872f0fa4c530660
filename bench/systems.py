"""The systems compared: citebot (and its retrieval ablations) and the textbook LangChain pipeline."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from evaluation.metrics import first_sentence
from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.answer.learned_scorer import MODELS, AnswerScorer
from retrieval.chain import build_chain
from retrieval.engine import Engine, EngineConfig
from retrieval.inference.embedder import Embedder, resolve_model_path
from retrieval.inference.model_cache import default_model_cache
from retrieval.search.hybrid import HybridRetriever
from retrieval.store.chunk_store import StoreLocation
from retrieval.types import Answer

Place = tuple[str, int, int]


@dataclass(frozen=True)
class Result:
    """What one system returned for one question, reduced to what is scored."""

    passages: list[Place]
    citation: Place | None
    quote: str
    first_sentence: str
    abstained: bool


def result_of(answer: Answer) -> Result:
    """An Answer reduced to what is scored: passages, first citation, first sentence, abstained."""
    citation = answer.citations[0] if answer.citations else None
    return Result(
        [(p.source, p.start, p.end) for p in answer.passages],
        (citation.source, citation.start, citation.end) if citation else None,
        citation.quote if citation else "",
        "" if answer.abstained else first_sentence(answer.answer),
        answer.abstained,
    )


@dataclass(frozen=True)
class IngestStats:
    """How long ingest took and how much it made."""

    seconds: float
    chars: int
    chunks: int


class System(Protocol):
    """A question-answering pipeline under test."""

    name: str

    def answer(self, question: str) -> Result: ...

    def rank_documents(self, question: str, k: int) -> list[str]: ...


def corpus_chars(folder: Path) -> int:
    """Characters of text in a corpus folder."""
    return sum(len(p.read_text(encoding="utf-8")) for p in folder.glob("*.txt"))


def _unique_sources(places: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for source in places:
        seen.setdefault(source, None)
    return list(seen)


class Citebot:
    """citebot through the chain users get; weights select the hybrid retriever or an ablation."""

    def __init__(
        self,
        engine: Engine,
        name: str = "citebot",
        dense: float = 1.0,
        lexical: float = 0.7,
        scorer: bool = False,
        **options: Any,
    ) -> None:
        self.name = name
        self.engine = engine
        self.retriever = HybridRetriever(
            corpus=engine.corpus,
            store=engine.store,
            embedder=engine.embedder,
            k=engine.config.k,
            dense_weight=dense,
            lexical_weight=lexical,
            **options,
        )
        answerer = ExtractiveAnswerer(
            engine.corpus.lexical.idf,
            engine.embedder.embed_query,
            engine.config.answer,
            shipped_scorer() if scorer else None,
        )
        self.chain = build_chain(self.retriever, answerer)

    @staticmethod
    def build(store: Path, corpus: Path, variant: str | None = None) -> tuple[Engine, IngestStats]:
        """A fresh store with the corpus ingested the normal way (variant None: the one this CPU runs)."""
        engine = Engine(EngineConfig(StoreLocation(store), device="cpu"))
        if variant:
            engine.embedder = Embedder(device="cpu", variant=variant, cache=engine.config.model_cache)
        summary = engine.ingest([corpus])
        return engine, IngestStats(summary.seconds, corpus_chars(corpus), summary.chunks)

    def answer(self, question: str) -> Result:
        """Ask through the chain."""
        return result_of(self.chain.invoke(question))

    def rank_documents(self, question: str, k: int) -> list[str]:
        """Documents in the order their best chunk ranks."""
        return _unique_sources([h.chunk.source for h in self.retriever.search(question, k)])[:k]


@functools.cache
def shipped_scorer() -> AnswerScorer:
    """The answer scorer citebot ships, loaded once for every system that uses it."""
    return AnswerScorer(MODELS, resolve_model_path(""), default_model_cache())


@contextmanager
def own_process_threads() -> Iterator[None]:
    """torch's threads as the textbook pipeline's own process would have them: one per core.

    citebot's encoder sets torch's process-wide count to 1 for answering; in the same process, the textbook
    pipeline would otherwise ingest and search on one thread and look slower than it is.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Textbook:
    """The pipeline from LangChain's docs: 1,000/200 recursive splits, MiniLM via HuggingFaceEmbeddings,
    langchain-chroma similarity_search(k=5), its top chunk taken as the citation."""

    name = "textbook"

    def __init__(self, store: Any) -> None:
        self.store = store

    @staticmethod
    def build(persist: Path, corpus: Path) -> tuple[Textbook, IngestStats]:
        """Split, embed and store the corpus the textbook way."""
        from langchain_chroma import Chroma
        from langchain_core.documents import Document
        from langchain_huggingface import HuggingFaceEmbeddings
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        began = time.perf_counter()
        documents = [
            Document(page_content=p.read_text(encoding="utf-8"), metadata={"source": p.name})
            for p in sorted(corpus.glob("*.txt"))
        ]
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
        chunks = splitter.split_documents(documents)
        embeddings = HuggingFaceEmbeddings(model_name=str(resolve_model_path("")))
        with own_process_threads():
            store = Chroma.from_documents(
                chunks, embeddings, persist_directory=str(persist), collection_name="textbook"
            )
        stats = IngestStats(
            time.perf_counter() - began, sum(len(d.page_content) for d in documents), len(chunks)
        )
        return Textbook(store), stats

    def _places(self, question: str, k: int) -> list[tuple[Place, str]]:
        with own_process_threads():
            found = self.store.similarity_search(question, k=k)
        return [
            (
                (
                    d.metadata["source"],
                    d.metadata["start_index"],
                    d.metadata["start_index"] + len(d.page_content),
                ),
                d.page_content,
            )
            for d in found
        ]

    def answer(self, question: str) -> Result:
        """Top 5 chunks; the first is the citation and its first sentence the answer a reader sees first."""
        places = self._places(question, 5)
        top = places[0] if places else None
        sentence = top[1].split(". ")[0] if top else ""
        return Result([p for p, _ in places], top[0] if top else None, top[1] if top else "", sentence, False)

    def rank_documents(self, question: str, k: int) -> list[str]:
        """Documents in the order their best chunk ranks."""
        return _unique_sources([p[0] for p, _ in self._places(question, k)])[:k]
