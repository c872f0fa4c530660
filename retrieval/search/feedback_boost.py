"""Votes on answers as a bounded nudge to the ranking: a document voted right for a similar question rises,
one voted wrong sinks, within MAX_ADJUSTMENT of the fused score.

A vote says: for this question (the query retrieval searched), this document of this collection was right
(+1) or wrong (-1). For a new question, each vote counts by how close its question is in meaning (cosine of
the question vectors the engine computes anyway), nothing below SIMILAR. One voter counts once per document:
their most similar vote on it. The votes of every voter on a document add up to a net, and the adjustment is
MAX_ADJUSTMENT * tanh(net / SATURATION): never more than MAX_ADJUSTMENT either way, however many vote.

Fused scores lie in [0, 1]; an adjustment of at most MAX_ADJUSTMENT only reorders candidates whose scores lie
within 2 * MAX_ADJUSTMENT of each other (one up, one down), so a document that clearly leads is never hidden
from anyone by feedback, and no candidate is ever removed from the pool. With no votes the ranking is left
exactly as it was (the same list object is returned).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

# Not tuned on data: bench/feedback.py (votes from half of the articles, the other half asked) changed no
# answer at these values, on SQuAD or SciFact (bench/results/feedback.json), so it favours no other bound.
# 0.04 is 4% of the fused score's [0, 1] scale: it reorders near-ties (the two guest-wifi notes of
# tests/bot/slack/test_feedback_ranking.py are 0.002 apart) and never a passage that leads by more than 0.08.
MAX_ADJUSTMENT = 0.04
# all-MiniLM-L6-v2 cosines measured on the test questions: paraphrases 0.92-0.97, unrelated questions
# 0.13-0.16; a vote counts from 0.6 up, so a question must be about the same thing to feel it.
SIMILAR = 0.6
# Two fully similar voters in agreement reach tanh(1) = 76% of the bound; a crowd cannot pass the bound.
SATURATION = 2.0

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Vote:
    """One voter's verdict on one document cited for one question."""

    query: str
    collection: str
    source: str
    value: int  # +1: the document was right for the question; -1: it was wrong
    voter: str


class VoteSource(Protocol):
    """Where the votes come from (the door reads them; the same tuple back while nothing changed)."""

    def __call__(self) -> Sequence[Vote]: ...


class Placed(Protocol):
    """What the adjustment needs of a candidate: which document of which collection it belongs to."""

    @property
    def source(self) -> str: ...

    @property
    def collection(self) -> str: ...


def adjustment(net: float) -> float:
    """The score change for a net of similarity-weighted votes: bounded by MAX_ADJUSTMENT either way."""
    return MAX_ADJUSTMENT * math.tanh(net / SATURATION)


def weight(cosine: float) -> float:
    """How much a vote counts for a question this close to its own: 0 below SIMILAR, 1 for the same one."""
    return min(max((cosine - SIMILAR) / (1.0 - SIMILAR), 0.0), 1.0)


class _Indexed:
    """One set of votes, ready for questions: each distinct query's unit vector, the votes by document."""

    def __init__(self, votes: Sequence[Vote], embed: Callable[[str], Sequence[float]]) -> None:
        queries = list(dict.fromkeys(vote.query for vote in votes))
        row = {query: n for n, query in enumerate(queries)}
        matrix = np.asarray([embed(query) for query in queries], dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self.vectors = matrix / np.maximum(norms, 1e-12)
        # (collection, source) -> voter -> [(query row, value)]
        self.by_document: dict[tuple[str, str], dict[str, list[tuple[int, int]]]] = {}
        for vote in votes:
            voters = self.by_document.setdefault((vote.collection, vote.source), {})
            voters.setdefault(vote.voter, []).append((row[vote.query], 1 if vote.value > 0 else -1))

    def nets(self, question: np.ndarray, documents: set[tuple[str, str]]) -> dict[tuple[str, str], float]:
        """Each voted document among these: its net of similarity-weighted votes for the question."""
        voted = documents & self.by_document.keys()
        if not voted:
            return {}
        unit = question / max(float(np.linalg.norm(question)), 1e-12)
        cosines = self.vectors @ unit
        out: dict[tuple[str, str], float] = {}
        for document in voted:
            net = 0.0
            for votes in self.by_document[document].values():
                # One voter counts once per document: their vote on the question most like this one.
                row, value = max(votes, key=lambda vote: float(cosines[vote[0]]))
                net += value * weight(float(cosines[row]))
            if net:
                out[document] = net
        return out


class FeedbackBoost:
    """The votes of a VoteSource applied to a ranking; re-indexed only when the source's votes change."""

    def __init__(self, source: VoteSource, embed: Callable[[str], Sequence[float]]) -> None:
        self.source = source
        self.embed = embed
        self._seen: Sequence[Vote] | None = None
        self._indexed: _Indexed | None = None
        self._vectors: dict[str, Sequence[float]] = {}  # a voted query is embedded once per process

    def _index(self) -> _Indexed | None:
        """The current votes, indexed (None: there are none)."""
        votes = self.source()
        if votes is not self._seen:
            self._seen = votes
            self._indexed = _Indexed(votes, self._vector) if votes else None
        return self._indexed

    def _vector(self, query: str) -> Sequence[float]:
        vector = self._vectors.get(query)
        if vector is None:
            vector = self._vectors[query] = self.embed(query)
        return vector

    def adjust(
        self,
        question: Callable[[], Sequence[float]],
        ranked: list[tuple[K, float]],
        chunks: Callable[[K], Placed],
        collection: str = "",
    ) -> list[tuple[K, float]]:
        """ranked (key, score), best first, with each voted document's adjustment added and re-sorted;
        ranked itself when no candidate's document has a vote (question is then never embedded).

        collection: the one a chunk that names none belongs to.
        """
        indexed = self._index()
        if indexed is None or not ranked:
            return ranked
        places = {key: chunks(key) for key, _ in ranked}
        document = {key: (p.collection or collection, p.source) for key, p in places.items()}
        if not set(document.values()) & indexed.by_document.keys():
            return ranked
        nets = indexed.nets(np.asarray(question(), dtype=np.float32), set(document.values()))
        if not nets:
            return ranked
        adjusted = [(key, score + adjustment(nets.get(document[key], 0.0))) for key, score in ranked]
        return sorted(adjusted, key=lambda item: -item[1])


def standing_adjustments(votes: Sequence[Vote]) -> list[dict[str, object]]:
    """Per collection and document: the voters for and against, the net and the most it can move a score
    (for a question the same as the voted ones; a less similar one moves it less)."""
    latest: dict[tuple[str, str, str], int] = {}
    for vote in votes:  # one voter counts once per document: the sign of their votes on it together
        key = (vote.collection, vote.source, vote.voter)
        latest[key] = latest.get(key, 0) + (1 if vote.value > 0 else -1)
    table: dict[tuple[str, str], list[int]] = {}
    for (name, source, _), total in latest.items():
        counts = table.setdefault((name, source), [0, 0])
        if total:
            counts[0 if total > 0 else 1] += 1
    rows = []
    for (name, source), (up, down) in sorted(table.items()):
        net = up - down
        rows.append(
            {
                "collection": name,
                "document": source,
                "helpful": up,
                "not_helpful": down,
                "net": net,
                "adjustment": round(adjustment(net), 4),
            }
        )
    return rows
