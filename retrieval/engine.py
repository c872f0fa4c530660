"""The engine as the doors see it: one object built from settings, owning the store, model and chain."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable

from retrieval.answering import AnswerSettings, ExtractiveAnswerer
from retrieval.chain import Answerer, build_chain
from retrieval.citations import Answer, CitedPassage, look_up
from retrieval.conversation import Question, Turn
from retrieval.corpus import Corpus
from retrieval.embedding import Embedder
from retrieval.indexing import Indexer, IngestSummary, Progress
from retrieval.llm import LLMConfig, chat_model
from retrieval.llm_answering import LLMAnswerer
from retrieval.prompts import load_prompts
from retrieval.search import HybridRetriever
from retrieval.store import ChunkStore, StoreLocation

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"


@dataclass(frozen=True)
class EngineConfig:
    """Everything the engine needs, decided by the door that builds it."""

    location: StoreLocation
    model: str = ""
    device: str = "auto"
    k: int = 5
    chunk_chars: int = 1000
    ingest_batch: int = 256
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    llm: LLMConfig | None = None
    prompts: Path = PROMPTS


class Engine:
    """Store, model and chain for one store location; the model loads on first use."""

    def __init__(self, config: EngineConfig, create: bool = True) -> None:
        self.config = config
        self.store = ChunkStore(config.location, create=create)
        self.embedder = Embedder(config.model, config.device)
        # Prompt files are checked when the engine starts, not at the first question.
        self.prompts = load_prompts(config.prompts) if config.llm else None
        self._chain: Runnable[Any, Answer] | None = None
        self._corpus: Corpus | None = None

    @property
    def corpus(self) -> Corpus:
        """The snapshot of committed chunks searched by the chain (built on first use)."""
        if self._corpus is None:
            self._corpus = Corpus(self.store)
        return self._corpus

    def ingest(self, paths: Iterable[Path], progress: Progress | None = None) -> IngestSummary:
        """Index the files under paths, then let the chain see the new state."""
        try:
            indexer = Indexer(
                self.store,
                self.embedder,
                max_chars=self.config.chunk_chars,
                batch_chunks=self.config.ingest_batch,
            )
            return indexer.ingest(paths, progress)
        finally:
            self._chain = None
            self._corpus = None

    def is_empty(self) -> bool:
        """Whether nothing is indexed yet."""
        return self.store.document_count() == 0

    def retriever(self, k: int | None = None) -> HybridRetriever:
        """The hybrid retriever over the current snapshot."""
        return HybridRetriever(
            corpus=self.corpus, store=self.store, embedder=self.embedder, k=k or self.config.k
        )

    def chain(self) -> Runnable[Any, Answer]:
        """The shared question -> Answer chain."""
        if self._chain is None:
            extractive = ExtractiveAnswerer(
                self.corpus.lexical.idf, self.embedder.embed_query, self.config.answer
            )
            answerer: Answerer = extractive
            if self.config.llm and self.prompts:
                answerer = LLMAnswerer(chat_model(self.config.llm), self.prompts, extractive, self.config.llm)
            self._chain = build_chain(self.retriever(), answerer)
        return self._chain

    def set_k(self, k: int) -> None:
        """Retrieve k passages per question from now on."""
        self.config = replace(self.config, k=k)
        self._chain = None

    def ask(
        self, question: str, history: list[Turn] | None = None, on_token: Callable[[str], None] | None = None
    ) -> Answer:
        """Answer a question (earlier turns give follow-ups their context; on_token receives a stream)."""
        if on_token is None:
            return self.chain().invoke(Question(text=question, history=history or []))
        return self.chain().invoke({"text": question, "history": history or [], "on_token": on_token})

    def cite(self, citation: str) -> CitedPassage:
        """Look up a citation id in the indexed files."""
        return look_up(citation, self.store.documents())

    def status(self) -> dict[str, Any]:
        """What is indexed, where, with which model."""
        manifest = self.store.documents()
        return {
            "store": self.config.location.describe(),
            "documents": len(manifest),
            "chunks": sum(len(r.chunk_ids) for r in manifest.values()),
            "model": self.embedder.name,
            "last_ingested": self.store.last_ingested(),
        }
