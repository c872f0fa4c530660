"""The BM25 index's opening costs on a bench.scale store: a whole build, a mapped base, a delta, and search.

Run as `python -m bench.scale_lexical [SIZE]` after `make bench-scale` has built the store of SIZE chunks
(default 100000) in bench/.scale-cache; prints one line per figure and removes the store's persisted BM25
bases first (the next opening builds one again). The delta figures index chunks of the store as if they
had been committed since the base (their words read from the word cache, then a segment built): what
every opening of a version pays per chunk added since, which lexical_delta.REBUILD_SHARE weighs against a
whole build. Search latency is timed against bm25s's own index over the same words, and their top 40
compared.
"""

from __future__ import annotations

import functools
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.scale import CACHE
from bench.scale_corpus import PARAGRAPHS, questions
from retrieval.lexical.segment import EMPTY, Segment
from retrieval.search.corpus import Corpus
from retrieval.store.chunk_store import ChunkStore, StoreLocation
from retrieval.text.words import tokens

DELTAS = (1000, 5000)
POOL = 40  # about what the retriever asks BM25 for (search.py's pool)


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    """work()'s result and its seconds."""
    began = time.perf_counter()
    result = work()
    return result, time.perf_counter() - began


def latencies(search: Callable[[str], Any], asked: list[str]) -> str:
    """p50 / p95 milliseconds of search over asked."""
    ms = sorted(timed(functools.partial(search, q))[1] * 1000 for q in asked)
    return f"p50 {statistics.median(ms):.1f} ms, p95 {ms[int(0.95 * len(ms)) - 1]:.1f} ms"


def delta_of(corpus: Corpus, ids: list[str]) -> Segment:
    """A segment of these chunks, their words read from the word cache (what a delta costs an opening)."""
    return Segment.build(corpus._lexical_words(ids, None)[0])


def main() -> None:
    """Print the figures for the store of the size given."""
    import bm25s

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    store = ChunkStore(StoreLocation(CACHE / f"chunks-{size}" / "store"), create=False)
    shutil.rmtree(store.location.layout.bm25_bases(store.location.collection), ignore_errors=True)
    built, seconds = timed(lambda: Corpus(store))
    print(f"{size} chunks, opening with no base (manifest, word cache, build, persist): {seconds:.2f} s")
    mapped, seconds = timed(lambda: Corpus(store))
    print(f"opening with the base mapped: {seconds:.2f} s (of which the manifest read)", end=" ")
    print(f"{timed(store.documents)[1]:.2f} s")
    (words, _), read = timed(lambda: built._lexical_words(built.ids, None))
    _, build = timed(lambda: Segment.build(words))
    print(f"every chunk's words read: {read:.2f} s, indexed: {build:.2f} s")
    for count in DELTAS:
        ids = built.ids[:: size // count][:count]
        _, seconds = timed(functools.partial(delta_of, built, ids))
        print(f"delta of {count} chunks: {seconds:.3f} s ({seconds / count * 1e6:.0f} us a chunk)")
    reference = bm25s.BM25()
    _, seconds = timed(lambda: reference.index([w or [EMPTY] for w in words], show_progress=False))
    print(f"bm25s's index over the same words: {seconds:.2f} s")
    asked = [q.text for q in questions(50, size // PARAGRAPHS)]
    print(f"search, base mapped: {latencies(lambda q: mapped.lexical.search(q, POOL), asked)}")

    def bm25s_search(question: str) -> list[tuple[int, float]]:
        words = [w for w in tokens(question) if w in mapped.lexical.df]
        found, scores = reference.retrieve([words], k=POOL, show_progress=False, n_threads=1)
        return [(int(i), float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0]

    print(f"search, bm25s: {latencies(bm25s_search, asked)}")
    same = all(mapped.lexical.search(q, POOL) == bm25s_search(q) for q in asked)
    print(f"the same top {POOL} (ids, scores, order) as bm25s for all {len(asked)} questions: {same}")


if __name__ == "__main__":
    main()
