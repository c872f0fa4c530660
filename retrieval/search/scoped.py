"""Several collections searched as one: each one's candidates, fused and ranked together on one scale.

Each collection's hybrid retriever gathers its own candidates (its Chroma vectors, its BM25 index); the
union is then fused as one collection's candidates are, normalised by the best meaning and BM25 score over
all of them, so the best passage of a collection that does not hold the answer is not lifted to the top
the way ranking each collection alone and interleaving would lift it. Question words are weighed by their
rarity over the union (document frequencies summed), as they would be in one collection holding it all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from retrieval.lexical.index import LexicalIndex
from retrieval.search.hybrid import Hit, HybridRetriever, to_document
from retrieval.search.indexed_chunk import IndexedChunk


def union_idf(indexes: Sequence[LexicalIndex]) -> Callable[[str], float]:
    """LexicalIndex.idf over the union of several indexes' chunks (their document frequencies summed)."""
    size = sum(index.size for index in indexes)

    def idf(word: str) -> float:
        df = sum(index.df.get(word, 0) for index in indexes)
        return math.log(1.0 + (size - df + 0.5) / (df + 0.5))

    return idf


class ScopedRetriever(BaseRetriever):
    """The hybrid retrievers of several collections, ranked as one (a citation keeps its collection)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retrievers: list[HybridRetriever]
    k: int = 5

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """The top k chunks for a query over every collection."""
        k = k or self.k
        chunks: dict[tuple[str, str], IndexedChunk] = {}
        meaning: dict[tuple[str, str], float] = {}
        bm25_of: dict[tuple[str, str], float] = {}
        for retriever in self.retrievers:
            found, close, lexical = retriever.signals(query, max(retriever.candidates, k))
            name = retriever.store.location.collection
            for cid, chunk in found.items():
                chunks[(name, cid)] = chunk
                meaning[(name, cid)] = close[cid]
                if cid in lexical:
                    bm25_of[(name, cid)] = lexical[cid]
        idf = union_idf([r.corpus.lexical for r in self.retrievers])
        return self.retrievers[0].fused(query, chunks, meaning, bm25_of, k, idf)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [to_document(hit) for hit in self.search(query)]
