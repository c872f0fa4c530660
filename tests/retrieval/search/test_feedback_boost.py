"""The feedback adjustment on its own: bounded, per document and collection, for similar questions only, one
voter counted once. Question vectors are the real model's (the session's embedder)."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.inference.embedder import Embedder
from retrieval.search.feedback_boost import (
    MAX_ADJUSTMENT,
    FeedbackBoost,
    Vote,
    adjustment,
    standing_adjustments,
)

ASKED = "What is the guest wifi password?"
SIMILAR = "What's the password for the guest wifi?"
UNRELATED = "When does the cafeteria open on Sundays?"


@dataclass(frozen=True)
class Chunk:
    source: str
    collection: str = "citebot"


CHUNKS = {"a": Chunk("old.md"), "b": Chunk("new.md"), "c": Chunk("other.md"), "h": Chunk("new.md", "hr")}
TIED = [("a", 0.80), ("b", 0.79), ("c", 0.50), ("h", 0.40)]


def boost(embedder: Embedder, votes: list[Vote]) -> FeedbackBoost:
    held = tuple(votes)
    return FeedbackBoost(lambda: held, lambda q: embedder.embed([q])[0])


def ranked(
    embedder: Embedder, votes: list[Vote], question: str, order: list[tuple[str, float]] = TIED
) -> list[tuple[str, float]]:
    return boost(embedder, votes).adjust(lambda: embedder.embed_query(question), order, CHUNKS.__getitem__)


def test_no_votes_leave_the_very_same_ranking(embedder: Embedder) -> None:
    """Bad input tried: an empty vote set, and votes only on documents no candidate belongs to (the question
    is then never embedded: its vector function raises)."""
    assert ranked(embedder, [], ASKED) is TIED
    elsewhere = [Vote(ASKED, "citebot", "absent.md", -1, "U1")]

    def never() -> list[float]:
        raise AssertionError("embedded a question no vote could move")

    assert boost(embedder, elsewhere).adjust(never, TIED, CHUNKS.__getitem__) is TIED


def test_a_vote_reorders_a_near_tie_for_a_similar_question_only(embedder: Embedder) -> None:
    """A not-helpful vote on old.md swaps the near-tie for a paraphrase; an unrelated question is untouched;
    the same document name in another collection (hr) is not moved."""
    votes = [Vote(ASKED, "citebot", "old.md", -1, "U1"), Vote(ASKED, "citebot", "new.md", 1, "U1")]
    similar = ranked(embedder, votes, SIMILAR)
    assert [key for key, _ in similar][:2] == ["b", "a"]
    assert dict(similar)["h"] == 0.40  # hr's new.md: another collection's document
    assert ranked(embedder, votes, UNRELATED) == TIED


def test_the_bound_holds_for_a_crowd_and_never_hides_a_clear_leader(embedder: Embedder) -> None:
    """Bad input tried: 500 voters all marking the leader wrong and the runner-up right for the very question:
    each score moves by at most MAX_ADJUSTMENT, so a leader ahead by 2 * MAX_ADJUSTMENT stays first."""
    crowd = [Vote(ASKED, "citebot", "old.md", -1, f"U{n}") for n in range(500)]
    crowd += [Vote(ASKED, "citebot", "new.md", 1, f"U{n}") for n in range(500)]
    clear = [("a", 0.80), ("b", 0.80 - 2 * MAX_ADJUSTMENT - 1e-6), ("c", 0.5)]
    after = dict(ranked(embedder, crowd, ASKED, clear))
    bound = MAX_ADJUSTMENT + 1e-12  # tanh reaches 1.0 in floating point for a crowd this size
    assert abs(after["a"] - 0.80) <= bound and abs(after["b"] - clear[1][1]) <= bound
    assert max(after, key=after.__getitem__) == "a"
    assert after["c"] == 0.5 and set(after) == {"a", "b", "c"}  # nothing removed, unvoted untouched


def test_one_voter_counts_once_per_document(embedder: Embedder) -> None:
    """Bad input tried: one user's 40 not-helpful votes on old.md (paraphrases and repeats) move it exactly
    as far as their single most similar vote does."""
    once = dict(ranked(embedder, [Vote(ASKED, "citebot", "old.md", -1, "U1")], ASKED))
    flood = [Vote(q, "citebot", "old.md", -1, "U1") for q in [ASKED, SIMILAR] * 20]
    assert dict(ranked(embedder, flood, ASKED))["a"] == once["a"]
    assert once["a"] == 0.80 + adjustment(-1.0)
    two = dict(ranked(embedder, [Vote(ASKED, "citebot", "old.md", -1, u) for u in ("U1", "U2")], ASKED))
    assert two["a"] < once["a"]  # two people move it further than one person voting forty times


def test_standing_adjustments_count_each_voter_once() -> None:
    """Bad input tried: one voter's three votes on one document, two voters who disagree."""
    votes = [Vote("q", "hr", "pay.md", -1, "U1")] * 3 + [
        Vote("q", "hr", "pay.md", 1, "U2"),
        Vote("q", "hr", "pay.md", 1, "U3"),
    ]
    (row,) = standing_adjustments(votes)
    assert row == {
        "collection": "hr",
        "document": "pay.md",
        "helpful": 2,
        "not_helpful": 1,
        "net": 1,
        "adjustment": round(adjustment(1), 4),
    }
