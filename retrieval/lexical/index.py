"""The BM25 index over the committed chunks."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.lexical.segment import Segment
from retrieval.text.words import tokens

# bm25s's defaults ("lucene" BM25), which the index was built with before it kept its own counts: the ranking
# the benchmark measured (BENCHMARKS.md) is unchanged.
K1, B = 1.5, 0.75
# What bm25s's arithmetic runs in: its per-chunk length term (a float64 scalar) plus a float32 count array.
_ARITHMETIC = (np.float64(1.0) + np.ones(1, dtype=np.float32)).dtype


@dataclass(frozen=True)
class Part:
    """A segment's chunks as positions of an index (positions None: its own order; -1: not in the index)."""

    segment: Segment
    positions: np.ndarray | None = None

    def postings(self, word: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The index positions of the chunks holding word, its counts there and those chunks' lengths."""
        found = self.segment.postings(word)
        if found is None:
            return None
        docs, counts = found
        lengths = self.segment.lengths[docs]
        if self.positions is None:
            return docs, counts, lengths
        at = self.positions[docs]
        kept = at >= 0
        return at[kept], counts[kept], lengths[kept]

    def count(self, word: str) -> int:
        """How many of the index's chunks from this part hold word."""
        found = self.segment.postings(word)
        if found is None:
            return 0
        if self.positions is None:
            return len(found[0])
        return int(np.count_nonzero(self.positions[found[0]] >= 0))


class DocFrequencies(Mapping[str, int]):
    """word -> how many of the index's chunks hold it (words no chunk holds are absent)."""

    def __init__(self, parts: Sequence[Part]) -> None:
        self._parts = parts
        self._counted: dict[str, int] = {}

    def __getitem__(self, word: str) -> int:
        found = self._counted.get(word)
        if found is None:
            found = sum(part.count(word) for part in self._parts)
            self._counted[word] = found
        if not found:
            raise KeyError(word)
        return found

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.get(word, 0) > 0

    def __iter__(self) -> Iterator[str]:
        words = dict.fromkeys(w for part in self._parts for w in part.segment.words)
        return (w for w in words if w in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class LexicalIndex:
    """BM25 over chunk texts, plus the document frequencies used to weigh question words.

    Its chunks may come from several segments (a persisted one and one of the chunks committed since): every
    score is worked out at question time from counts, in bm25s's arithmetic, so it equals what one index
    built over those chunks at once gives, bit for bit (tests/retrieval/lexical/test_lexical_persist.py).
    """

    def __init__(self, texts: Sequence[str]) -> None:
        self._join([Part(Segment.build([tokens(t) for t in texts]))], len(texts))

    @classmethod
    def from_words(cls, words: Sequence[Sequence[str]]) -> LexicalIndex:
        """The index of texts already tokenised (as tokens() gives them: the word cache's rows)."""
        return cls.from_parts([Part(Segment.build(words))], len(words))

    @classmethod
    def from_parts(cls, parts: Sequence[Part], size: int) -> LexicalIndex:
        """The index of size chunks that these parts place (each position by exactly one part)."""
        index = cls.__new__(cls)
        index._join(parts, size)
        return index

    def _join(self, parts: Sequence[Part], size: int) -> None:
        self.parts = [p for p in parts if len(p.segment)] if size else []
        self.size = size
        total = 0
        for part in self.parts:
            lengths = part.segment.lengths
            total += int(lengths.sum() if part.positions is None else lengths[part.positions >= 0].sum())
        # As bm25s's np.mean of the lengths: an exact integer sum, one division.
        self._average = np.float64(total) / size if size else np.float64(1.0)
        self.df = DocFrequencies(self.parts)

    def idf(self, word: str) -> float:
        """Inverse document frequency, smoothed; unseen words weigh most."""
        df = self.df.get(word, 0)
        return math.log(1.0 + (self.size - df + 0.5) / (df + 0.5))

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top chunk positions for a query with their BM25 scores (only scores above zero)."""
        from bm25s.selection import topk

        words = [w for w in tokens(query) if w in self.df]
        if not words or not self.size:
            return []
        # bm25s's own selection: the same order among equal scores as its retrieve gave.
        scores, found = topk(self._scores(words), k=min(k, self.size), backend="auto", sorted=True)
        return [(int(i), float(s)) for i, s in zip(found, scores, strict=True) if s > 0]

    def scores(self, query: str) -> np.ndarray:
        """BM25 scores for every chunk."""
        return self._scores([w for w in tokens(query) if w in self.df])

    def _scores(self, words: Sequence[str]) -> np.ndarray:
        """Each chunk's BM25 score for these words (in order, repeats counted), as bm25s computed it."""
        out = np.zeros(self.size, dtype=np.float32)
        for word in words:
            found = [p for part in self.parts if (p := part.postings(word)) is not None]
            df = sum(len(at) for at, _, _ in found)
            if not df:
                continue
            # bm25s's "lucene" idf (in double, kept as float32) times its term-frequency part.
            weight = np.float32(math.log(1 + (self.size - df + 0.5) / (df + 0.5)))
            for at, counts, lengths in found:
                norm = (K1 * ((1 - B) + B * lengths / self._average)).astype(_ARITHMETIC, copy=False)
                out[at] += (weight * (counts / (norm + counts))).astype(np.float32)
        return out
