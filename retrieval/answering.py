"""The extractive answerer: the best-supported sentences of the retrieved passages, each cited; or abstain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from retrieval.chunking import sentence_spans
from retrieval.citations import Answer, Citation, Passage, citation_id
from retrieval.lexical import tokens
from retrieval.search import Hit

ABSTAIN_TEXT = "I could not find this in the documents."


@dataclass(frozen=True)
class AnswerSettings:
    """How the extractive answerer chooses sentences and when it abstains."""

    sentences: int = 2
    passages_scanned: int = 3
    min_coverage: float = 0.4
    min_dense: float = 0.2
    second_sentence_ratio: float = 0.85
    passage_weight: float = 0.35


@dataclass(frozen=True)
class _Candidate:
    hit: Hit
    start: int
    end: int
    coverage: float
    score: float


class ExtractiveAnswerer:
    """Scores the sentences of the top passages by the question's weighted words found in them."""

    def __init__(self, idf: Callable[[str], float], settings: AnswerSettings | None = None) -> None:
        self.idf = idf
        self.settings = settings or AnswerSettings()

    def _candidates(self, question: str, hits: list[Hit]) -> list[_Candidate]:
        wanted = set(tokens(question))
        weights = {w: self.idf(w) for w in wanted}
        total = sum(weights.values()) or 1.0
        found: list[_Candidate] = []
        for rank, hit in enumerate(hits[: self.settings.passages_scanned]):
            prior = hit.score / (1 + rank * 0.25)
            for s, e in sentence_spans(hit.chunk.text, 0, len(hit.chunk.text)):
                words = set(tokens(hit.chunk.text[s:e]))
                coverage = sum(weights[w] for w in wanted & words) / total
                score = (1 - self.settings.passage_weight) * coverage + self.settings.passage_weight * prior
                found.append(_Candidate(hit, hit.chunk.start + s, hit.chunk.start + e, coverage, score))
        return sorted(found, key=lambda c: (-c.score, c.start))

    def answer(self, question: str, hits: list[Hit]) -> Answer:
        """An Answer from the retrieved hits (passages always listed; citations only when not abstaining)."""
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
        candidates = self._candidates(question, hits)
        best = candidates[0] if candidates else None
        if (
            best is None
            or best.coverage < self.settings.min_coverage
            or max(h.dense for h in hits) < self.settings.min_dense
        ):
            return Answer(question=question, answer=ABSTAIN_TEXT, abstained=True, passages=passages)
        chosen = [best]
        for candidate in candidates[1:]:
            if len(chosen) >= self.settings.sentences:
                break
            if candidate.score >= self.settings.second_sentence_ratio * best.score:
                chosen.append(candidate)
        citations = []
        parts = []
        for n, c in enumerate(chosen, start=1):
            quote = c.hit.chunk.text[c.start - c.hit.chunk.start : c.end - c.hit.chunk.start]
            citations.append(
                Citation(
                    n=n,
                    id=citation_id(c.hit.chunk.source, c.start, c.end),
                    source=c.hit.chunk.source,
                    path=c.hit.chunk.path,
                    start=c.start,
                    end=c.end,
                    quote=quote,
                    score=round(c.score, 4),
                    line=c.hit.chunk.line_of(c.start),
                )
            )
            parts.append(f"{quote} [{n}]")
        return Answer(
            question=question, answer=" ".join(parts), abstained=False, citations=citations, passages=passages
        )
