"""Words: the content words of a text, lower-cased and stemmed, for BM25 and for scoring sentences."""

from __future__ import annotations

import functools
import re

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
