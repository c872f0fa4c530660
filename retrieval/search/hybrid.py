"""Hybrid retrieval: BM25 and dense vectors fused by a weighted sum of normalised scores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from retrieval.inference.embedder import Embedder
from retrieval.lexical.coverage import distinctive_coverage
from retrieval.search.corpus import Corpus, IndexedChunk
from retrieval.search.feedback_boost import FeedbackBoost
from retrieval.store.chunk_store import ChunkStore
from retrieval.text.words import tokens

# A candidate's key: its chunk id within one collection, (collection, id) across several.
K = TypeVar("K", str, tuple[str, str])


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the signals behind it."""

    chunk: IndexedChunk
    score: float
    dense: float
    bm25: float


def to_document(hit: Hit) -> Document:
    """A hit as a LangChain Document (metadata carries offsets and scores)."""
    c = hit.chunk
    return Document(
        page_content=c.text,
        id=c.id,
        metadata={
            "source": c.source,
            "path": c.path,
            "start": c.start,
            "end": c.end,
            "title": c.title,
            "collection": c.collection,
            "line": c.line,
            "score": hit.score,
            "dense": hit.dense,
            "bm25": hit.bm25,
        },
    )


class HybridRetriever(BaseRetriever):
    """BM25 (beside Chroma, over the same committed chunks) plus Chroma's dense search, fused."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    corpus: Corpus
    store: ChunkStore
    embedder: Embedder
    k: int = 5
    candidates: int = 40
    dense_weight: float = 1.0
    lexical_weight: float = 0.7
    sentence_weight: float = 0.7
    # The fused top few are lifted by how much of the question their best sentence holds (words weighted by
    # rarity): a passage whose words are spread over several sentences is less likely to state the answer.
    coverage_weight: float = 0.3
    rerank_depth: int = 10
    # Votes on earlier answers, a bounded nudge after the rerank (feedback_boost.py); None: no votes read.
    feedback: FeedbackBoost | None = None

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """The top k chunks for a query."""
        k = k or self.k
        chunks, meaning, bm25_of = self.signals(query, max(self.candidates, k))
        return self.fused(query, chunks, meaning, bm25_of, k)

    def signals(
        self, query: str, pool: int
    ) -> tuple[dict[str, IndexedChunk], dict[str, float], dict[str, float]]:
        """The candidates for a query (by id) with their meaning score and their BM25 score (0 for none)."""
        if not len(self.corpus):
            return {}, {}, {}
        vector = self.embedder.embed_query(query)
        dense = [(cid, s) for cid, s in self.store.nearest(vector, pool) if cid in self.corpus.position]
        lexical = [(self.corpus.ids[i], s) for i, s in self.corpus.lexical.search(query, pool)]
        # One read for every candidate; a chunk a newer version has removed since is left out.
        chunks = self.corpus.chunks_for([cid for cid, _ in dense] + [cid for cid, _ in lexical])
        dense = [(cid, s) for cid, s in dense if cid in chunks]
        meaning = self._meaning(np.asarray(vector, dtype=np.float32), chunks, dict(dense))
        bm25_of = {cid: s for cid, s in lexical if cid in chunks}
        return chunks, meaning, bm25_of

    def fused(
        self,
        query: str,
        chunks: dict[K, IndexedChunk],
        meaning: dict[K, float],
        bm25_of: dict[K, float],
        k: int,
        idf: Callable[[str], float] | None = None,
    ) -> list[Hit]:
        """The top k of the candidates by fused score, the first few lifted by their best sentence."""
        # Convex combination of max-normalised scores (it keeps score gaps that RRF's ranks throw away;
        # SEE: Bruch et al. 2023, "An Analysis of Fusion Functions for Hybrid Retrieval").
        top_dense = max(max(meaning.values(), default=0.0), 1e-9)
        top_bm25 = max(max(bm25_of.values(), default=0.0), 1e-9)
        weight = self.dense_weight + self.lexical_weight
        fused = {
            key: (
                self.dense_weight * max(meaning[key], 0.0) / top_dense
                + self.lexical_weight * bm25_of.get(key, 0.0) / top_bm25
            )
            / weight
            for key in chunks
        }
        ordered = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
        ranked = self._rerank(query, ordered, chunks, idf)
        if self.feedback is not None:
            # The question's vector is the one signals() embedded (the embedder remembers recent ones).
            ranked = self.feedback.adjust(
                lambda: self.embedder.embed_query(query),
                ranked,
                chunks.__getitem__,
                self.store.location.collection,
            )
        ranked = ranked[:k]
        return [Hit(chunks[key], score, meaning[key], bm25_of.get(key, 0.0)) for key, score in ranked]

    def _rerank(
        self,
        query: str,
        ranked: list[tuple[K, float]],
        chunks: dict[K, IndexedChunk] | None = None,
        idf: Callable[[str], float] | None = None,
    ) -> list[tuple[K, float]]:
        """The first rerank_depth candidates rescored with their best sentence's share of the question."""
        if not self.coverage_weight:
            return ranked
        if chunks is None:  # keys are this collection's chunk ids
            found = self.corpus.chunks_for(str(key) for key, _ in ranked[: self.rerank_depth])
            chunks = {key: found[str(key)] for key, _ in ranked[: self.rerank_depth]}
        top = [chunks[key] for key, _ in ranked[: self.rerank_depth]]
        # Rarity among these passages' sentences too: the words every candidate holds do not tell them apart.
        sentences = [words for chunk in top for words in chunk.sentence_words]
        cover = distinctive_coverage(tokens(query), idf or self.corpus.lexical.idf, sentences)
        lifted = []
        for (key, score), chunk in zip(ranked[: self.rerank_depth], top, strict=True):
            best = max((cover(words) for words in chunk.sentence_words), default=0.0)
            # Divided so scores stay in [0, 1].
            lifted.append((key, (score + self.coverage_weight * best) / (1 + self.coverage_weight)))
        tail = [(key, score / (1 + self.coverage_weight)) for key, score in ranked[self.rerank_depth :]]
        return sorted(lifted, key=lambda item: (-item[1], item[0])) + tail

    def _meaning(
        self, query: np.ndarray, chunks: dict[str, IndexedChunk], dense_of: dict[str, float]
    ) -> dict[str, float]:
        """How close each candidate is in meaning: its vector's cosine, mixed with its best sentence's."""
        floor = min(dense_of.values(), default=0.0)
        out: dict[str, float] = {}
        for cid, chunk in chunks.items():
            sentences = chunk.sentences
            if sentences is None:
                # Without sentence vectors, a chunk outside the dense list is at most as close as its last.
                out[cid] = dense_of.get(cid, floor)
                continue
            chunk_cos = float(chunk.unit_vector @ query)
            best_sentence = float(sentences.similarities(query).max())
            out[cid] = (1 - self.sentence_weight) * chunk_cos + self.sentence_weight * best_sentence
        return out

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [to_document(hit) for hit in self.search(query)]
