"""Coverage: how much of a question a text's words hold, weighted by rarity, and how near they stand."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet


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
