"""Peak memory and time of building a whole BM25 base: every chunk's words at once, or BUILD_PIECE at a time.

Run as `python -m bench.scale_build [SIZE]` (default 1000000 chunks). Each way runs in a process of its
own, so that each peak (ru_maxrss) is its own. The chunks are bench.scale_corpus's: about 82 content words
each (what tokens() keeps of one of its paragraphs), Zipf-drawn over its vocabulary, each word a string of
its own as the word cache's rows give them. No store is read: this measures what corpus.py holds while it
builds, which was 10.9 GB at 1M chunks when every chunk's words were held at once.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np

from bench.scale_corpus import ZIPF_SHIFT, vocabulary
from retrieval.lexical.segment import Pieces, Segment
from retrieval.search.corpus import BUILD_PIECE

WORDS_PER_CHUNK = 82  # tokens() of bench.scale_corpus.document(0)'s paragraphs, on average
SEED = 16
BLOCK = 1000  # chunks drawn at once; BUILD_PIECE is a multiple of it


def chunk_words(begin: int, count: int) -> Iterator[list[str]]:
    """Chunks begin..begin+count's words (begin a multiple of BLOCK), the same however they are pieced."""
    words = vocabulary()
    weights = 1.0 / (np.arange(len(words)) + ZIPF_SHIFT)
    weights /= weights.sum()
    for block in range(begin // BLOCK, -(-(begin + count) // BLOCK)):
        drawn = np.random.default_rng((SEED, block)).choice(len(words), (BLOCK, WORDS_PER_CHUNK), p=weights)
        for row in drawn[: begin + count - block * BLOCK]:
            # Joined and split: a new string per word, as TokenCache.get's rows are.
            yield " ".join(words[i] for i in row).split()


def build(way: str, size: int) -> None:
    """Build a base of size chunks one way; print its seconds, peak RSS and postings."""
    began = time.perf_counter()
    if way == "whole":
        segment = Segment.build(list(chunk_words(0, size)))
    else:
        pieces = Pieces()
        for begin in range(0, size, BUILD_PIECE):
            pieces.add(Segment.build(list(chunk_words(begin, min(BUILD_PIECE, size - begin)))))
        segment = pieces.segment()
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"{way:6} {size} chunks: {seconds:.1f} s, peak RSS {peak:.2f} GB, {len(segment.docs)} postings")


def main() -> None:
    """Each way in its own process."""
    if len(sys.argv) > 2:
        build(sys.argv[1], int(sys.argv[2]))
        return
    size = sys.argv[1] if len(sys.argv) > 1 else "1000000"
    for way in ("pieces", "whole"):
        subprocess.run([sys.executable, "-m", "bench.scale_build", way, size], check=True)


if __name__ == "__main__":
    main()
