"""What is known of one candidate sentence (its features), and the one place they become its score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SentenceFeatures:
    """One candidate sentence of a retrieved passage, measured against the question; no weight applied."""

    # The question's words it holds, each weighed by its rarity in the corpus times its rarity among the
    # retrieved passages' sentences (lexical.distinctive_coverage).
    distinctive: float
    # The cosine of its vector with the question's (0 when the passage has no sentence vectors).
    meaning: float
    # The passage's fused retrieval score, discounted by the passage's rank.
    passage: float
    # The rarity-weighted share of question-word pairs it holds within two words of each other.
    proximity: float
    # Whether it holds what the question asks for (a number, a date, a new name, a place, a reason).
    form: bool
    # Whether it opens with a pronoun ("It", "They", ...) that leans on the sentence before it.
    leans_back: bool
    # The distinctive coverage of the sentence before it in the passage (0 for a passage's first sentence).
    previous_distinctive: float
    # Whether the sentence before it was cited by the previous turn (a follow-up continues from there).
    after_given: bool
    # The question's words it holds, weighed by corpus rarity alone; and the same for the retrieval query
    # (a follow-up's query holds the previous question too). Abstention asks of these.
    coverage: float
    query_coverage: float
    # Where it stands: the passage's rank among the hits and the sentence's place in the passage (from 0).
    rank: int
    position: int

    @property
    def support(self) -> float:
        """How much of the question (or, for a follow-up, of its query) the sentence holds."""
        return max(self.coverage, self.query_coverage)


class Weights(Protocol):
    """The hand-set weights score() applies (answering.AnswerSettings holds them, with their reasons)."""

    @property
    def lexical_weight(self) -> float: ...
    @property
    def meaning_weight(self) -> float: ...
    @property
    def passage_weight(self) -> float: ...
    @property
    def proximity_weight(self) -> float: ...
    @property
    def continuity_bonus(self) -> float: ...
    @property
    def form_bonus(self) -> float: ...
    @property
    def continuation_weight(self) -> float: ...


def score(features: SentenceFeatures, weights: Weights) -> float:
    """A candidate sentence's score, the weighted sum of its features: the higher, the likelier the answer."""
    # Added in this order on purpose: floating-point sums depend on it, and ties between sentences are
    # broken by position, so another order could change which sentence is quoted.
    total = (
        weights.lexical_weight * features.distinctive
        + weights.meaning_weight * features.meaning
        + weights.passage_weight * features.passage
    )
    total += weights.proximity_weight * features.proximity
    total += weights.continuity_bonus if features.after_given else 0.0
    total += weights.form_bonus if features.form else 0.0
    total += weights.continuation_weight * features.previous_distinctive if features.leans_back else 0.0
    return total
