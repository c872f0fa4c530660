"""The extractive answerer: the best-supported sentences of the retrieved passages, each cited; or abstain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from retrieval.chunking import sentence_spans
from retrieval.citations import Answer, Passage, citation_id, parse_citation_id
from retrieval.errors import InputError
from retrieval.lexical import tokens
from retrieval.search import Hit

ABSTAIN_TEXT = "I could not find this in the documents."


@dataclass(frozen=True)
class AnswerSettings:
    """How the extractive answerer chooses sentences and when it abstains."""

    sentences: int = 2
    passages_scanned: int = 3
    lexical_weight: float = 0.45
    meaning_weight: float = 0.35
    passage_weight: float = 0.2
    second_sentence_ratio: float = 0.85
    min_coverage: float = 0.3
    min_dense: float = 0.2
    continuity_bonus: float = 0.15


@dataclass(frozen=True)
class _Candidate:
    hit: Hit
    start: int
    end: int
    coverage: float
    meaning: float
    score: float
    support: float
    repeated: bool


class ExtractiveAnswerer:
    """Scores the sentences of the top passages by the question's weighted words and by meaning."""

    def __init__(
        self,
        idf: Callable[[str], float],
        embed_query: Callable[[str], list[float]],
        settings: AnswerSettings | None = None,
    ) -> None:
        self.idf = idf
        self.embed_query = embed_query
        self.settings = settings or AnswerSettings()

    def _coverage(self, words: set[str]) -> Callable[[set[str]], float]:
        weights = {w: self.idf(w) for w in words}
        total = sum(weights.values()) or 1.0
        return lambda found: sum(weights[w] for w in words & found) / total

    def _candidates(
        self, question: str, query: str, hits: list[Hit], previous: list[str]
    ) -> list[_Candidate]:
        coverage_of = self._coverage(set(tokens(question)))
        query_coverage = self._coverage(set(tokens(query)))
        vector = np.asarray(self.embed_query(question), dtype=np.float32)
        cfg = self.settings
        given: set[tuple[str, int, int]] = set()
        for cited in previous:
            try:
                given.add(parse_citation_id(cited))
            except InputError:
                continue
        found: list[_Candidate] = []
        for rank, hit in enumerate(hits[: cfg.passages_scanned]):
            text = hit.chunk.text
            prior = hit.score / (1 + rank * 0.25)
            if hit.chunk.sentences is not None:
                spans = list(hit.chunk.sentences.spans)
                meanings = [float(x) for x in hit.chunk.sentences.similarities(vector)]
            else:
                spans = sentence_spans(text, 0, len(text))
                meanings = [0.0] * len(spans)
            after_given = False
            for (s, e), meaning in zip(spans, meanings, strict=True):
                repeated = (hit.chunk.source, hit.chunk.start + s, hit.chunk.start + e) in given
                words = set(tokens(text[s:e]))
                coverage = coverage_of(words)
                score = (
                    cfg.lexical_weight * coverage + cfg.meaning_weight * meaning + cfg.passage_weight * prior
                )
                score += cfg.continuity_bonus if after_given else 0.0
                after_given = repeated
                found.append(
                    _Candidate(
                        hit,
                        hit.chunk.start + s,
                        hit.chunk.start + e,
                        coverage,
                        meaning,
                        score,
                        max(coverage, query_coverage(words)),
                        repeated,
                    )
                )
        return sorted(found, key=lambda c: (-c.score, c.start))

    def _abstains(self, candidates: list[_Candidate], hits: list[Hit]) -> bool:
        """Too little of the question (a follow-up: with the previous one) is found, or nothing is near."""
        if not candidates:
            return True
        support = max(c.support for c in candidates)
        return support < self.settings.min_coverage or max(h.dense for h in hits) < self.settings.min_dense

    def answer(
        self,
        question: str,
        hits: list[Hit],
        query: str | None = None,
        previous: list[str] | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        """An Answer from the hits for question, retrieved by query; previous: citation ids not to repeat.

        on_token is accepted for the chain's sake; an extractive answer has no tokens to stream.
        """
        passages = [
            Passage(
                id=citation_id(h.chunk.source, h.chunk.start, h.chunk.end),
                source=h.chunk.source,
                path=h.chunk.path,
                start=h.chunk.start,
                end=h.chunk.end,
                score=round(h.score, 4),
                line=h.chunk.line,
                text=h.chunk.text,
            )
            for h in hits
        ]
        everything = self._candidates(question, query or question, hits, previous or [])
        candidates = [c for c in everything if not c.repeated]
        if not candidates or self._abstains(everything, hits):
            return Answer(question=question, answer=ABSTAIN_TEXT, abstained=True, passages=passages)
        best = candidates[0]
        chosen = [best]
        for candidate in candidates[1:]:
            if len(chosen) >= self.settings.sentences:
                break
            if candidate.score >= self.settings.second_sentence_ratio * best.score:
                chosen.append(candidate)
        citations = []
        parts = []
        for n, c in enumerate(chosen, start=1):
            citations.append(c.hit.chunk.citation(n, c.start, c.end, c.score))
            parts.append(f"{citations[-1].quote} [{n}]")
        return Answer(
            question=question, answer=" ".join(parts), abstained=False, citations=citations, passages=passages
        )
