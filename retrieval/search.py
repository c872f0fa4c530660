"""Hybrid retrieval: BM25 and dense vectors fused by a weighted sum of normalised scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from retrieval.corpus import Corpus, IndexedChunk
from retrieval.embedding import Embedder
from retrieval.lexical import distinctive_coverage, tokens
from retrieval.store import ChunkStore


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

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """The top k chunks for a query."""
        k = k or self.k
        if not len(self.corpus):
            return []
        vector = self.embedder.embed_query(query)
        pool = max(self.candidates, k)
        dense = [(cid, s) for cid, s in self.store.nearest(vector, pool) if cid in self.corpus.position]
        lexical = [(self.corpus.ids[i], s) for i, s in self.corpus.lexical.search(query, pool)]
        # One read for every candidate; a chunk a newer version has removed since is left out.
        chunks = self.corpus.chunks_for([cid for cid, _ in dense] + [cid for cid, _ in lexical])
        dense = [(cid, s) for cid, s in dense if cid in chunks]
        candidates = set(chunks)
        meaning = self._meaning(np.asarray(vector, dtype=np.float32), chunks, dict(dense))
        bm25_of = {cid: s for cid, s in lexical if cid in chunks}
        # Convex combination of max-normalised scores (it keeps score gaps that RRF's ranks throw away;
        # SEE: Bruch et al. 2023, "An Analysis of Fusion Functions for Hybrid Retrieval").
        top_dense = max(max(meaning.values(), default=0.0), 1e-9)
        top_bm25 = max(max(bm25_of.values(), default=0.0), 1e-9)
        weight = self.dense_weight + self.lexical_weight
        fused = {
            cid: (
                self.dense_weight * max(meaning[cid], 0.0) / top_dense
                + self.lexical_weight * bm25_of.get(cid, 0.0) / top_bm25
            )
            / weight
            for cid in candidates
        }
        ranked = self._rerank(query, sorted(fused.items(), key=lambda item: (-item[1], item[0])), chunks)[:k]
        return [Hit(chunks[cid], score, meaning[cid], bm25_of.get(cid, 0.0)) for cid, score in ranked]

    def _rerank(
        self, query: str, ranked: list[tuple[str, float]], chunks: dict[str, IndexedChunk] | None = None
    ) -> list[tuple[str, float]]:
        """The first rerank_depth candidates rescored with their best sentence's share of the question."""
        if not self.coverage_weight:
            return ranked
        chunks = chunks or self.corpus.chunks_for(cid for cid, _ in ranked[: self.rerank_depth])
        top = [chunks[cid] for cid, _ in ranked[: self.rerank_depth]]
        # Rarity among these passages' sentences too: the words every candidate holds do not tell them apart.
        sentences = [words for chunk in top for words in chunk.sentence_words]
        cover = distinctive_coverage(tokens(query), self.corpus.lexical.idf, sentences)
        lifted = []
        for (cid, score), chunk in zip(ranked[: self.rerank_depth], top, strict=True):
            best = max((cover(words) for words in chunk.sentence_words), default=0.0)
            # Divided so scores stay in [0, 1].
            lifted.append((cid, (score + self.coverage_weight * best) / (1 + self.coverage_weight)))
        tail = [(cid, score / (1 + self.coverage_weight)) for cid, score in ranked[self.rerank_depth :]]
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

    def hits(self, documents: list[Document]) -> list[Hit]:
        """The hits behind documents this retriever returned (chunks looked up in its snapshot)."""
        chunks = self.corpus.chunks_for(str(d.id) for d in documents)
        return [
            Hit(
                chunks[str(d.id)],
                float(d.metadata["score"]),
                float(d.metadata["dense"]),
                float(d.metadata["bm25"]),
            )
            for d in documents
            if str(d.id) in chunks
        ]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [to_document(hit) for hit in self.search(query)]
