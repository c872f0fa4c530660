"""Words: tokenising for BM25 and for scoring sentences, and the BM25 index over the committed chunks."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import numpy as np
import Stemmer

from retrieval.bm25_segment import Segment

# U.S., e.g., U.K.: the same word as US, eg, UK.
_DOTTED_ACRONYM = re.compile(r"\b(?:[A-Za-z]\.){2,}")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
# Words of bm25s's English list (NLTK's) that a question can turn on: "Who won the Super Bowl?" (the list
# has "won" for "won't", which tokens() cuts to "won" anyway), and single letters and names that its
# tokeniser's split contractions leave ("I'd", "I'm") but ours do not: "vitamin D", "5 m", "Y. pestis",
# "Jack Ma". Answer-sentence accuracy on SQuAD is the same with the letters kept, without them and with
# the hand-written list this replaced (BENCHMARKS.md, "What moved the figures (issue 13, groundwork)").
_KEPT = frozenset(["won", "d", "m", "o", "y", "ma"])
# Words the list lacks that say as little as "should" does.
_ADDED = frozenset(["also", "could", "may", "might", "must", "shall", "would"])
_STEMMER = Stemmer.Stemmer("english")
_STEMMER.maxCacheSize = 200_000


def stem(word: str) -> str:
    """The Snowball (Porter 2) stem of a lower-case word."""
    return str(_STEMMER.stemWord(word))


@functools.cache
def stopwords() -> frozenset[str]:
    """The words tokens() drops (loaded on first use: importing bm25s costs half a second)."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return (frozenset(STOPWORDS_EN_PLUS) - _KEPT) | _ADDED


def tokens(text: str) -> list[str]:
    """Content words of a text, lower-cased and stemmed, stop words dropped."""
    out = []
    stop = stopwords()
    text = _DOTTED_ACRONYM.sub(lambda m: m.group().replace(".", ""), text)
    for match in _WORD.finditer(text.lower()):
        word = match.group().replace("’", "'")
        word = word.split("'")[0] if word.endswith(("'s", "'t")) else word
        if word not in stop:
            out.append(stem(word))
    return out


def coverage(
    question_words: Iterable[str], idf: Callable[[str], float]
) -> Callable[[AbstractSet[str]], float]:
    """A scorer of how much of the question a text's words hold: the rarity-weighted share of its words."""
    weights = {w: idf(w) for w in set(question_words)}
    total = sum(weights.values()) or 1.0
    return lambda found: sum(weights[w] for w in weights.keys() & found) / total


def distinctive_coverage(
    question_words: Iterable[str], idf: Callable[[str], float], pool: Sequence[AbstractSet[str]]
) -> Callable[[AbstractSet[str]], float]:
    """A coverage scorer whose words weigh their rarity in the corpus times their rarity among pool's texts.

    Why: a question word found in most of the texts (the article's subject, say) tells them apart no better
    than a common word does, however rare it is in the corpus.
    """
    words = set(question_words)
    local_df = Counter(w for found in pool for w in words & found)
    n = len(pool)
    return coverage(words, lambda w: idf(w) * math.log((n + 1) / (local_df[w] + 0.5)))


def proximity(
    question_words: Iterable[str], idf: Callable[[str], float], reach: int = 2
) -> Callable[[Sequence[str]], float]:
    """A scorer of how many pairs of question words a text holds within reach words of each other.

    Each pair weighs the rarity of both its words. Why: a sentence holding "white" and "Jacksonville" side
    by side is about the white population of Jacksonville; one holding them twenty words apart may not be.
    """
    words = list(dict.fromkeys(question_words))
    pairs = [(a, b, idf(a) + idf(b)) for i, a in enumerate(words) for b in words[i + 1 :]]
    total = sum(weight for *_, weight in pairs) or 1.0
    wanted = set(words)

    def score(text_words: Sequence[str]) -> float:
        at: dict[str, list[int]] = {}
        for i, word in enumerate(text_words):
            if word in wanted:
                at.setdefault(word, []).append(i)
        if len(at) < 2:
            return 0.0
        near = sum(
            weight
            for a, b, weight in pairs
            if a in at and b in at and any(abs(i - j) <= reach for i in at[a] for j in at[b])
        )
        return near / total

    return score


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
    built over those chunks at once gives, bit for bit (tests/test_lexical_persist.py).
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
