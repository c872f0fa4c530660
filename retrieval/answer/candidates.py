"""The candidate sentences of the top retrieved passages, each with its features measured."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.answer.form import answer_form
from retrieval.answer.scoring import SentenceFeatures
from retrieval.lexical.coverage import coverage as coverage_scorer
from retrieval.lexical.coverage import distinctive_coverage, proximity
from retrieval.search.hybrid import Hit
from retrieval.text.words import tokens

# A sentence opening with one of these leans on the sentence before it for its subject.
BACK_REFERENCE = re.compile(r"(?:It|Its|This|These|That|Those|They|Their|He|His|She|Her|Such)\b")


@dataclass(frozen=True)
class Candidate:
    """One sentence of a hit: its absolute span, its features, and whether the previous turn cited it."""

    hit: Hit
    start: int
    end: int
    features: SentenceFeatures
    repeated: bool


def candidates(
    question: str,
    query: str,
    hits: Sequence[Hit],
    idf: Callable[[str], float],
    vector: np.ndarray,
    scanned: int,
    given: set[tuple[str, int, int]],
) -> list[Candidate]:
    """Every sentence of the first `scanned` hits, in passage order, with its features.

    vector: the question's embedding; query: what was searched (a follow-up's holds the previous question);
    given: the (source, start, end) of sentences the previous turn cited.
    """
    question_words = tokens(question)
    coverage_of = coverage_scorer(question_words, idf)
    query_coverage = coverage_scorer(tokens(query), idf)
    # Sentences are told apart by the question words few of them hold, counted over every retrieved
    # passage: among the scanned few alone, the word the question turns on ("offer") is often shared by
    # the sentences about it and would lose to a word that happens to occur once. Abstaining asks how
    # much of the question is there at all, so it keeps the corpus-wide coverage.
    distinct = distinctive_coverage(
        question_words, idf, [words for hit in hits for words in hit.chunk.sentence_words]
    )
    near = proximity(question_words, idf)
    holds_form = answer_form(question)
    found: list[Candidate] = []
    for rank, hit in enumerate(hits[:scanned]):
        chunk = hit.chunk
        prior = hit.score / (1 + rank * 0.25)
        spans = chunk.sentence_spans()
        meanings = (
            [float(x) for x in chunk.sentences.similarities(vector)]
            if chunk.sentences is not None
            else [0.0] * len(spans)
        )
        # Continuity (after a sentence cited before) and continuation (a pronoun-led sentence sharing the
        # coverage of the one before) run within a passage.
        after_given, previous_local = False, 0.0
        sentence_words = zip(chunk.sentence_words, chunk.sentence_tokens, strict=True)
        for position, ((s, e), meaning, (words, ordered)) in enumerate(
            zip(spans, meanings, sentence_words, strict=True)
        ):
            sentence = chunk.text[s:e]
            start, end = chunk.start + s, chunk.start + e
            repeated = (chunk.source, start, end) in given
            local = distinct(words)
            features = SentenceFeatures(
                distinctive=local,
                meaning=meaning,
                passage=prior,
                proximity=near(ordered),
                form=bool(holds_form and holds_form(sentence)),
                leans_back=bool(BACK_REFERENCE.match(sentence)),
                previous_distinctive=previous_local,
                after_given=after_given,
                coverage=coverage_of(words),
                query_coverage=query_coverage(words),
                rank=rank,
                position=position,
            )
            found.append(Candidate(hit, start, end, features, repeated))
            after_given, previous_local = repeated, local
    return found
