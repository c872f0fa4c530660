"""The extractive answerer: the best-supported sentences of the retrieved passages, each cited; or abstain."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from retrieval.answer_form import answer_form
from retrieval.citations import Answer, Passage, citation_id, parse_citation_id
from retrieval.errors import InputError
from retrieval.lexical import coverage as coverage_scorer
from retrieval.lexical import distinctive_coverage, proximity, tokens
from retrieval.search import Hit

ABSTAIN_TEXT = "I could not find this in the documents."
# A sentence opening with one of these leans on the sentence before it for its subject.
BACK_REFERENCE = re.compile(r"(?:It|Its|This|These|That|Those|They|Their|He|His|She|Her|Such)\b")


@dataclass(frozen=True)
class AnswerSettings:
    """How the extractive answerer chooses sentences and when it abstains."""

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

    def _candidates(
        self, question: str, query: str, hits: list[Hit], previous: list[str]
    ) -> list[_Candidate]:
        question_words = tokens(question)
        coverage_of = coverage_scorer(question_words, self.idf)
        query_coverage = coverage_scorer(tokens(query), self.idf)
        # Sentences are told apart by the question words few of them hold, counted over every retrieved
        # passage: among the scanned few alone, the word the question turns on ("offer") is often shared by
        # the sentences about it and would lose to a word that happens to occur once. Abstaining asks how
        # much of the question is there at all, so it keeps the corpus-wide coverage.
        distinct = distinctive_coverage(
            question_words, self.idf, [words for hit in hits for words in hit.chunk.sentence_words]
        )
        near = proximity(question_words, self.idf)
        holds_form = answer_form(question)
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
            prior = hit.score / (1 + rank * 0.25)
            spans = hit.chunk.sentence_spans()
            meanings = (
                [float(x) for x in hit.chunk.sentences.similarities(vector)]
                if hit.chunk.sentences is not None
                else [0.0] * len(spans)
            )
            # The continuity bonus and continuation run within a passage.
            after_given, previous_local = False, 0.0
            sentence_words = zip(hit.chunk.sentence_words, hit.chunk.sentence_tokens, strict=True)
            for (s, e), meaning, (words, ordered) in zip(spans, meanings, sentence_words, strict=True):
                sentence = hit.chunk.text[s:e]
                start, end = hit.chunk.start + s, hit.chunk.start + e
                repeated = (hit.chunk.source, start, end) in given
                local = distinct(words)
                score = cfg.lexical_weight * local + cfg.meaning_weight * meaning + cfg.passage_weight * prior
                score += cfg.proximity_weight * near(ordered) if cfg.proximity_weight else 0.0
                score += cfg.continuity_bonus if after_given else 0.0
                score += cfg.form_bonus if holds_form and holds_form(sentence) else 0.0
                score += cfg.continuation_weight * previous_local if BACK_REFERENCE.match(sentence) else 0.0
                after_given, previous_local = repeated, local
                coverage = coverage_of(words)
                support = max(coverage, query_coverage(words))
                found.append(_Candidate(hit, start, end, coverage, meaning, score, support, repeated))
        return sorted(found, key=lambda c: (-c.score, c.start))

    def _leans_back(self, c: _Candidate) -> bool:
        """Whether c opens with a pronoun that the sentence before it explains (with antecedents on)."""
        chunk = c.hit.chunk
        return self.settings.antecedents and bool(BACK_REFERENCE.match(chunk.text[c.start - chunk.start :]))

    @staticmethod
    def _sentence_before(c: _Candidate) -> tuple[int, int] | None:
        """The span of the sentence before c in its passage, if there is one."""
        chunk = c.hit.chunk
        before = [
            (chunk.start + s, chunk.start + e)
            for s, e in chunk.sentence_spans()
            if chunk.start + e <= c.start
        ]
        return before[-1] if before else None

    def _needs_new_antecedent(self, candidate: _Candidate, chosen: list[_Candidate]) -> bool:
        """Whether candidate opens with a pronoun and the sentence right before it is not chosen."""
        if not self._leans_back(candidate):
            return False
        before = self._sentence_before(candidate)
        return not any(
            c.hit.chunk.id == candidate.hit.chunk.id and (c.start, c.end) == before for c in chosen
        )

    def _abstains(self, candidates: list[_Candidate], hits: list[Hit]) -> bool:
        """Too little of the question (a follow-up: with the previous one) is found, or nothing is near."""
        if not candidates:
            return True
        support = max(c.support for c in candidates)
        return support < self.settings.min_coverage or max(h.dense for h in hits) < self.settings.min_dense

    def _with_antecedents(
        self, chosen: list[_Candidate], given: set[tuple[str, int, int]]
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
            # A further sentence that leans on one not already chosen would bring that sentence too,
            # doubling the answer for support that is no better: only sentences that stand alone qualify.
            if self._needs_new_antecedent(candidate, chosen):
                continue
            if candidate.score >= self.settings.second_sentence_ratio * best.score:
                chosen.append(candidate)
        given = {(c.hit.chunk.source, c.start, c.end) for c in everything if c.repeated}
        quoted: list[tuple[_Candidate, int, int]] = []
        for c, (start, end) in zip(chosen, self._with_antecedents(chosen, given), strict=True):
            # A second sentence already inside the first's reach is not quoted twice.
            source = c.hit.chunk.source
            if not any(q.hit.chunk.source == source and s < end and start < e for q, s, e in quoted):
                quoted.append((c, start, end))
        citations = []
        parts = []
        for n, (c, start, end) in enumerate(quoted, start=1):
            citations.append(c.hit.chunk.citation(n, start, end, c.score))
            parts.append(f"{citations[-1].quote} [{n}]")
        return Answer(
            question=question, answer=" ".join(parts), abstained=False, citations=citations, passages=passages
        )
