"""Words: tokenising for BM25 and for scoring sentences, and the BM25 index over the committed chunks."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np
import Stemmer

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


# What BM25 indexes for a chunk with no words: bm25s cannot index an empty document.
EMPTY = "\u2205"


class DocFrequencies(Mapping[str, int]):
    """word -> how many chunks hold it, read from the BM25 matrix (CSC: each word's chunks are one run)."""

    def __init__(self, vocabulary: Mapping[str, int], indptr: np.ndarray) -> None:
        self._vocabulary = vocabulary
        self._indptr = indptr
        # bm25s adds "" to its vocabulary past the matrix's last column: no chunk holds it.
        self._columns = max(len(indptr) - 1, 0)

    def _column(self, word: str) -> int | None:
        column = self._vocabulary.get(word)
        return column if column is not None and column < self._columns else None

    def __getitem__(self, word: str) -> int:
        column = self._column(word)
        if column is None:
            raise KeyError(word)
        return int(self._indptr[column + 1] - self._indptr[column])

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self._column(word) is not None

    def __iter__(self) -> Iterator[str]:
        return (w for w, column in self._vocabulary.items() if column < self._columns)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class LexicalIndex:
    """BM25 over chunk texts (bm25s), plus the document frequencies used to weigh question words."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._build([tokens(t) for t in texts])

    @classmethod
    def from_words(cls, words: Sequence[Sequence[str]]) -> LexicalIndex:
        """The index of texts already tokenised (as tokens() gives them: the word cache's rows)."""
        index = cls.__new__(cls)
        index._build(words)
        return index

    @classmethod
    def from_bm25(cls, bm25: Any, size: int) -> LexicalIndex:
        """The index over a bm25s index of size chunks built before (loaded from disk: lexical_store.py)."""
        index = cls.__new__(cls)
        index._wrap(bm25, size)
        return index

    def _build(self, words: Sequence[Sequence[str]]) -> None:
        import bm25s

        tokenised = [list(w) or [EMPTY] for w in words]
        bm25 = bm25s.BM25()
        if tokenised:
            bm25.index(tokenised, show_progress=False)
        self._wrap(bm25, len(tokenised))

    def _wrap(self, bm25: Any, size: int) -> None:
        self.bm25 = bm25
        self.size = size
        indptr = bm25.scores["indptr"] if size else np.zeros(1, dtype=np.int32)
        self.df = DocFrequencies(bm25.vocab_dict if size else {}, indptr)

    def idf(self, word: str) -> float:
        """Inverse document frequency, smoothed; unseen words weigh most."""
        df = self.df.get(word, 0)
        return math.log(1.0 + (self.size - df + 0.5) / (df + 0.5))

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top chunk positions for a query with their BM25 scores (only scores above zero)."""
        words = [w for w in tokens(query) if w in self.df]
        if not words or not self.size:
            return []
        k = min(k, self.size)
        found, scores = self.bm25.retrieve([words], k=k, show_progress=False, n_threads=1)
        return [(int(i), float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0]

    def scores(self, query: str) -> np.ndarray:
        """BM25 scores for every chunk."""
        words = [w for w in tokens(query) if w in self.df]
        if not words:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.bm25.get_scores(words))
