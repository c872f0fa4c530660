"""Scores: passage and citation hits by character offsets, SQuAD answer matching, nDCG and recall."""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Sequence

Span = tuple[int, int]

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def covers(span: Span, gold: Iterable[Span]) -> bool:
    """Whether a returned span contains any gold answer span entirely."""
    start, end = span
    return any(start <= g_start and g_end <= end for g_start, g_end in gold)


def hit_at(k: int, spans: Sequence[tuple[str, int, int]], source: str, gold: Iterable[Span]) -> bool:
    """Whether one of the first k (source, start, end) passages covers a gold span of the right file."""
    gold = list(gold)
    return any(s == source and covers((a, b), gold) for s, a, b in spans[:k])


def contains_answer(sentence: str, answers: Iterable[str]) -> bool:
    """Whether a sentence contains a gold answer, after SQuAD normalisation."""
    norm = f" {normalize(sentence)} "
    return any(f" {normalize(a)} " in norm for a in answers if normalize(a))


def first_sentence(answer: str) -> str:
    """The answer's first sentence: up to its first citation marker."""
    return re.split(r"\s*\[\d+\]", answer, maxsplit=1)[0]


def ndcg_at(k: int, ranked: Sequence[str], relevant: Iterable[str]) -> float:
    """nDCG@k with binary relevance (BEIR's protocol)."""
    relevant = set(relevant)
    dcg = sum(1.0 / math.log2(i + 2) for i, doc in enumerate(ranked[:k]) if doc in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def recall_at(k: int, ranked: Sequence[str], relevant: Iterable[str]) -> float:
    """Share of the relevant documents in the first k."""
    relevant = set(relevant)
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile by nearest rank (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]
