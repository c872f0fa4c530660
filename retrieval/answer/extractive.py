"""The extractive answerer: the best-supported sentences of the retrieved passages, each cited; or abstain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from retrieval.answer.candidates import Candidate, candidates
from retrieval.answer.scoring import score
from retrieval.errors import InputError
from retrieval.search.citations import citation_id, parse_citation_id
from retrieval.search.hybrid import Hit
from retrieval.types import Answer, Passage

if TYPE_CHECKING:
    from retrieval.answer.learned_scorer import AnswerScorer

ABSTAIN_TEXT = "I could not find this in the documents."
# An answer less likely right than wrong is shown as low-confidence (its confidence is calibrated per answer
# on held-back articles: training/calibrate.py, reliability); under the fitted threshold it is not shown.
LOW_CONFIDENCE = 0.5


@dataclass(frozen=True)
class AnswerSettings:
    """How the extractive answerer chooses sentences and when it abstains (the weights: scoring.score)."""

    sentences: int = 2
    passages_scanned: int = 3
    lexical_weight: float = 0.4
    meaning_weight: float = 0.47
    passage_weight: float = 0.13
    second_sentence_ratio: float = 0.85
    min_coverage: float = 0.25
    min_dense: float = 0.2
    continuity_bonus: float = 0.15
    antecedents: bool = True
    # A sentence of the form the question asks for (a number for "how many", a date for "when", a name
    # for "who") is a little more likely to hold the answer.
    form_bonus: float = 0.05
    # A sentence that leans on the one before ("They range in age from...") shares part of its coverage.
    continuation_weight: float = 0.1
    # Question words side by side in a sentence (within two words) say more than the same words far apart.
    proximity_weight: float = 0.15
    # With the learned scorer: the passages whose sentences it reads, and how many of their sentences (the
    # best by the hand-set score) it rescores. The best 8 of 5 passages held a right sentence for 0.95 of
    # the SQuAD training articles' answerable questions (models/answer-scorer.json, answer_in_pool).
    scorer_passages: int = 5
    scorer_pool: int = 8


class _Scored(NamedTuple):
    score: float
    candidate: Candidate


class ExtractiveAnswerer:
    """Scores the sentences of the top passages by the question's weighted words and by meaning."""

    def __init__(
        self,
        idf: Callable[[str], float],
        embed_query: Callable[[str], list[float]],
        settings: AnswerSettings | None = None,
        scorer: AnswerScorer | None = None,
    ) -> None:
        self.idf = idf
        self.embed_query = embed_query
        self.settings = settings or AnswerSettings()
        self.scorer = scorer

    def scored(self, question: str, query: str, hits: list[Hit], previous: list[str]) -> list[_Scored]:
        """The candidate sentences by the hand-set score, best first (ties: the earlier in its file)."""
        given: set[tuple[str, int, int]] = set()
        for cited in previous:
            try:
                given.add(parse_citation_id(cited))
            except InputError:
                continue
        vector = np.asarray(self.embed_query(question), dtype=np.float32)
        scanned = self.settings.scorer_passages if self.scorer else self.settings.passages_scanned
        found = candidates(question, query, hits, self.idf, vector, scanned, given)
        scored = [_Scored(score(c.features, self.settings), c) for c in found]
        return sorted(scored, key=lambda s: (-s.score, s.candidate.start))

    def _rescored(self, question: str, fresh: list[_Scored], hits: list[Hit]) -> list[_Scored]:
        """The hand-set score's best few, rescored by the learned scorer's probability, best first."""
        assert self.scorer is not None
        pool = fresh[: self.settings.scorer_pool]
        top_dense = max((h.dense for h in hits), default=0.0)
        probabilities = self.scorer.probabilities(
            question, [c for _, c in pool], [v for v, _ in pool], top_dense
        )
        rescored = [_Scored(float(p), c) for p, (_, c) in zip(probabilities, pool, strict=True)]
        return sorted(rescored, key=lambda s: (-s.score, s.candidate.start))

    @staticmethod
    def _lifted(passages: list[Passage], ranked: list[_Scored]) -> list[Passage]:
        """Passages in the order of their best sentence's score; those without a scored sentence after."""
        order: dict[str, int] = {}
        for _, c in ranked:
            chunk = c.hit.chunk
            order.setdefault(citation_id(chunk.source, chunk.start, chunk.end), len(order))
        return sorted(passages, key=lambda p: order.get(p.id, len(order)))

    def _leans_back(self, c: Candidate) -> bool:
        """Whether c opens with a pronoun that the sentence before it explains (with antecedents on)."""
        return self.settings.antecedents and c.features.leans_back

    @staticmethod
    def _sentence_before(c: Candidate) -> tuple[int, int] | None:
        """The span of the sentence before c in its passage, if there is one."""
        chunk = c.hit.chunk
        before = [
            (chunk.start + s, chunk.start + e)
            for s, e in chunk.sentence_spans()
            if chunk.start + e <= c.start
        ]
        return before[-1] if before else None

    def _needs_new_antecedent(self, candidate: Candidate, chosen: list[Candidate]) -> bool:
        """Whether candidate opens with a pronoun and the sentence right before it is not chosen."""
        if not self._leans_back(candidate):
            return False
        before = self._sentence_before(candidate)
        return not any(
            c.hit.chunk.id == candidate.hit.chunk.id and (c.start, c.end) == before for c in chosen
        )

    def _abstains(self, scored: list[_Scored], hits: list[Hit]) -> bool:
        """Too little of the question (a follow-up: with the previous one) is found, or nothing is near."""
        if not scored:
            return True
        support = max(s.candidate.features.support for s in scored)
        return support < self.settings.min_coverage or max(h.dense for h in hits) < self.settings.min_dense

    def _with_antecedents(
        self, chosen: list[Candidate], given: set[tuple[str, int, int]]
    ) -> list[tuple[int, int]]:
        """Each chosen sentence's span, reaching back over the sentence before when it opens with a pronoun
        ("It is the fastest growing sector...") that only that sentence explains, unless already given."""
        spans: list[tuple[int, int]] = []
        for c in chosen:
            before = self._sentence_before(c) if self._leans_back(c) else None
            if before and (c.hit.chunk.source, *before) not in given:
                spans.append((before[0], c.end))
            else:
                spans.append((c.start, c.end))
        return spans

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
                **dict(h.chunk.location(h.chunk.start, h.chunk.end)),
                id=citation_id(h.chunk.source, h.chunk.start, h.chunk.end),
                score=round(h.score, 4),
                text=h.chunk.text,
            )
            for h in hits
        ]
        everything = self.scored(question, query or question, hits, previous or [])
        fresh = [s for s in everything if not s.candidate.repeated]
        confidence: float | None = None
        if self.scorer and fresh:
            # A follow-up ("and in 2019?") is read with the question it follows, as it was retrieved.
            fresh = self._rescored(query or question, fresh, hits)
            likely = self.scorer.confidence(fresh[0].score)
            confidence = round(likely, 4)
            passages = self._lifted(passages, fresh)
            abstains = likely < self.scorer.threshold
        else:
            abstains = not fresh or self._abstains(everything, hits)
        if abstains:
            return Answer(
                question=question,
                answer=ABSTAIN_TEXT,
                abstained=True,
                passages=passages,
                confidence=confidence,
            )
        best = fresh[0]
        chosen = [best]
        for value, candidate in fresh[1:]:
            if len(chosen) >= self.settings.sentences:
                break
            # A further sentence that leans on one not already chosen would bring that sentence too,
            # doubling the answer for support that is no better: only sentences that stand alone qualify.
            if self._needs_new_antecedent(candidate, [c for _, c in chosen]):
                continue
            if value >= self.settings.second_sentence_ratio * best.score:
                chosen.append(_Scored(value, candidate))
        given = {(c.hit.chunk.source, c.start, c.end) for _, c in everything if c.repeated}
        spans = self._with_antecedents([c for _, c in chosen], given)
        quoted: list[tuple[float, Candidate, int, int]] = []
        for (value, c), (start, end) in zip(chosen, spans, strict=True):
            # A second sentence already inside the first's reach is not quoted twice.
            source = c.hit.chunk.source
            if not any(q.hit.chunk.source == source and a < end and start < b for _, q, a, b in quoted):
                quoted.append((value, c, start, end))
        citations = []
        parts = []
        for n, (value, c, start, end) in enumerate(quoted, start=1):
            citations.append(c.hit.chunk.citation(n, start, end, value))
            parts.append(f"{citations[-1].quote} [{n}]")
        return Answer(
            question=question,
            answer=" ".join(parts),
            abstained=False,
            citations=citations,
            passages=passages,
            confidence=confidence,
            low_confidence=confidence is not None and confidence < LOW_CONFIDENCE,
        )
