"""Feedback into ranking (issue 34): with no votes nothing changes; with votes from half of the articles' (or
SciFact documents') questions, the other half's figures move by how much.

`python -m bench.feedback [--data ../shared/data]`. SQuAD: ARTICLES articles in one store, split two ways: by
article (the headline: votes from other articles), and by question within each article (votes from colleagues'
other questions about the same documents, which is what feedback is for; nothing is fitted on either). The
voting half's questions are asked, each cited document is voted +1 when it is the
question's article and -1 when not (one simulated voter per question); then the other half's questions are
asked with no feedback object, with one that holds no votes (answers must be identical) and with the votes.
SciFact: claims split by their relevant abstracts (a claim whose abstract is in the voting half votes), the
cited abstracts voted by relevance, the other claims' nDCG@10 compared. Figures: bench/results/feedback.json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np

from bench import evaluate
from bench.data import SCIFACT, SQUAD, data_option, require
from bench.run import keep_only, log
from bench.systems import Citebot, Result
from evaluation.datasets import Claim, SquadQuestion, sample, write_scifact, write_squad
from evaluation.machine import describe
from evaluation.metrics import contains_answer
from retrieval.engine import Engine
from retrieval.search import feedback_boost
from retrieval.search.feedback_boost import FeedbackBoost, Vote

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = 16
PER_ARTICLE = 30  # questions per article: minutes, not hours, on two cores
CLAIMS = 200
OTHER_ABSTRACTS = 300
NO_VOTES: tuple[Vote, ...] = ()


def system(engine: Engine, votes: Sequence[Vote] | None) -> Citebot:
    """citebot as shipped (learned scorer on), with a feedback object holding these votes (None: none)."""
    if votes is None:
        return Citebot(engine, scorer=True)
    source = tuple(votes)
    boost = FeedbackBoost(lambda: source, lambda query: engine.embedder.embed([query])[0])
    return Citebot(engine, scorer=True, feedback=boost)


def simulated_votes(
    engine: Engine, questions: Sequence[tuple[str, str]], right: Callable[[str, str], bool]
) -> list[Vote]:
    """Each (voter, question) asked; every cited document voted +1 if right for it, -1 if not."""
    chain = system(engine, None).chain
    collection = engine.config.location.collection
    votes = []
    for voter, question in questions:
        answer = chain.invoke(question)
        for source in dict.fromkeys(c.source for c in answer.citations):
            votes.append(Vote(question, collection, source, 1 if right(voter, source) else -1, voter))
    return votes


def near_votes(engine: Engine, questions: Sequence[str], votes: Sequence[Vote]) -> dict[str, Any]:
    """How many test questions have a voted question close enough to count (cosine >= SIMILAR), and the
    median of each test question's closest voted one: why votes from other articles move little or nothing."""
    if not votes or not questions:
        return {"with_a_similar_vote": 0, "median_closest_cosine": None}
    voted = np.asarray([engine.embedder.embed_query(q) for q in dict.fromkeys(v.query for v in votes)])
    asked = np.asarray([engine.embedder.embed_query(q) for q in questions])
    voted /= np.linalg.norm(voted, axis=1, keepdims=True)
    asked /= np.linalg.norm(asked, axis=1, keepdims=True)
    closest = (asked @ voted.T).max(axis=1)
    return {
        "with_a_similar_vote": int((closest >= feedback_boost.SIMILAR).sum()),
        "median_closest_cosine": round(float(np.median(closest)), 3),
    }


def split_half(names: Sequence[str]) -> tuple[set[str], set[str]]:
    """A fixed half of the names (voting) and the rest (test)."""
    ordered = sample(sorted(names), len(names))  # shuffled, the same way every run
    return set(ordered[: len(ordered) // 2]), set(ordered[len(ordered) // 2 :])


def squad_part(squad_file: Path, work: Path) -> dict[str, dict[str, Any]]:
    """The SQuAD half-and-half runs: votes from other articles (the headline), and votes from other
    questions about the same articles (what feedback is for: colleagues asking about the same documents)."""
    corpus = work / "squad"
    every = keep_only(corpus, write_squad(squad_file, corpus), ARTICLES)
    by_article: dict[str, list[SquadQuestion]] = defaultdict(list)
    for q in every:
        by_article[q.source].append(q)
    questions = [q for qs in by_article.values() for q in sample(qs, PER_ARTICLE)]
    engine, _ = Citebot.build(work / "store-squad", corpus)
    engine.embedder.recent_size = 50_000
    voting, _ = split_half(list(by_article))
    by_article_split = [q.source in voting for q in questions]
    voting_ids: set[str] = set()
    for article in by_article:
        voting_ids |= split_half([q.id for q in questions if q.source == article])[0]
    within_split = [q.id in voting_ids for q in questions]
    return {
        "by_article": squad_run(engine, corpus, questions, by_article_split, "other articles"),
        "within_articles": squad_run(engine, corpus, questions, within_split, "the same articles"),
    }


def squad_run(
    engine: Engine, corpus: Path, questions: list[SquadQuestion], votes_from: list[bool], label: str
) -> dict[str, Any]:
    """One split: the questions marked True vote, the others are asked without and with their votes."""
    vote_qs = [q for q, votes in zip(questions, votes_from, strict=True) if votes]
    test_qs = [q for q, votes in zip(questions, votes_from, strict=True) if not votes]
    log(f"SQuAD, votes from {label}: {len(vote_qs)} voting and {len(test_qs)} test questions")
    article_of = {q.id: q.source for q in vote_qs}
    votes = simulated_votes(engine, [(q.id, q.question) for q in vote_qs], lambda v, s: article_of[v] == s)
    log(f"SQuAD: {len(votes)} simulated votes ({sum(v.value > 0 for v in votes)} helpful)")
    runs = {}
    answers: dict[str, list[Result]] = {}
    for name, held in (("no_feedback", None), ("no_votes", NO_VOTES), ("votes", votes)):
        log(f"SQuAD: test half, {name}")
        citebot = system(engine, held)
        answers[name] = [citebot.answer(q.question) for q in test_qs]
        runs[name] = evaluate.squad(_Replay(answers[name], test_qs), test_qs, corpus)
    identical = answers["no_feedback"] == answers["no_votes"]
    assert identical, "with no votes the answers changed"
    per_article = {}
    for article in sorted({q.source for q in test_qs}):
        picked = [n for n, q in enumerate(test_qs) if q.source == article]
        before, after = (
            sum(contains_answer(answers[r][n].first_sentence, test_qs[n].answers) for n in picked)
            / len(picked)
            for r in ("no_feedback", "votes")
        )
        per_article[article] = {
            "questions": len(picked),
            "before": round(before, 4),
            "after": round(after, 4),
        }
    changed = sum(a != b for a, b in zip(answers["no_feedback"], answers["votes"], strict=True))
    return {
        "votes_from": label,
        "articles": len({q.source for q in questions}),
        "voting_questions": len(vote_qs),
        "test_questions": len(test_qs),
        "votes": len(votes),
        "helpful_votes": sum(v.value > 0 for v in votes),
        "identical_without_votes": identical,
        "answers_changed_by_votes": changed,
        "test_questions_near_a_vote": near_votes(engine, [q.question for q in test_qs], votes),
        "test": runs,
        "accuracy_change_points": round(
            100
            * (runs["votes"]["answer_sentence_accuracy"] - runs["no_feedback"]["answer_sentence_accuracy"]),
            2,
        ),
        "worst_article_change_points": round(
            100 * min(a["after"] - a["before"] for a in per_article.values()), 2
        ),
        "per_test_article": per_article,
    }


def notes_part(squad_file: Path, work: Path) -> dict[str, Any]:
    """SQuAD's paragraphs as short notes, one file each (a drive of many small documents, where a wrong note
    is often cited): votes from half of each article's questions, +1 for the note holding the answer and -1
    for any other cited note; the other half asked without and with them (accuracy of the first sentence)."""
    articles = work / "squad-articles"
    every = keep_only(articles, write_squad(squad_file, articles), ARTICLES)
    notes = work / "squad-notes"
    notes.mkdir()
    note_of: dict[str, str] = {}
    for article in sorted({q.source for q in every}):
        text = (articles / article).read_text(encoding="utf-8")
        starts = [0]
        for n, paragraph in enumerate(text.split("\n\n")):
            name = f"{Path(article).stem}-{n:03d}.txt"
            (notes / name).write_text(paragraph, encoding="utf-8")
            starts.append(starts[-1] + len(paragraph) + 2)
            for q in every:
                if q.source == article and starts[-2] <= q.spans[0][0] < starts[-1]:
                    note_of[q.id] = name
    by_article: dict[str, list[SquadQuestion]] = defaultdict(list)
    for q in every:
        by_article[q.source].append(q)
    questions = [q for qs in by_article.values() for q in sample(qs, PER_ARTICLE)]
    voting_ids: set[str] = set()
    for article in by_article:
        voting_ids |= split_half([q.id for q in questions if q.source == article])[0]
    vote_qs = [q for q in questions if q.id in voting_ids]
    test_qs = [q for q in questions if q.id not in voting_ids]
    log(f"SQuAD notes: {len(list(notes.iterdir()))} notes, {len(vote_qs)} voting and {len(test_qs)} test")
    engine, _ = Citebot.build(work / "store-notes", notes)
    engine.embedder.recent_size = 50_000
    votes = simulated_votes(engine, [(q.id, q.question) for q in vote_qs], lambda v, s: note_of[v] == s)
    log(f"SQuAD notes: {len(votes)} simulated votes ({sum(v.value > 0 for v in votes)} helpful)")
    answers: dict[str, list[Result]] = {}
    for name, held in (("no_feedback", None), ("no_votes", NO_VOTES), ("votes", votes)):
        log(f"SQuAD notes: test half, {name}")
        citebot = system(engine, held)
        answers[name] = [citebot.answer(q.question) for q in test_qs]
    identical = answers["no_feedback"] == answers["no_votes"]
    assert identical, "with no votes the answers changed"

    def accuracy(run: str, picked: Sequence[int]) -> float:
        return sum(contains_answer(answers[run][n].first_sentence, test_qs[n].answers) for n in picked) / len(
            picked
        )

    everyone = range(len(test_qs))
    per_article = {
        article: round(
            100
            * (
                accuracy("votes", [n for n in everyone if test_qs[n].source == article])
                - accuracy("no_feedback", [n for n in everyone if test_qs[n].source == article])
            ),
            2,
        )
        for article in sorted(by_article)
    }
    return {
        "votes_from": "the same articles, each paragraph a note",
        "notes": len(list(notes.iterdir())),
        "voting_questions": len(vote_qs),
        "test_questions": len(test_qs),
        "votes": len(votes),
        "helpful_votes": sum(v.value > 0 for v in votes),
        "identical_without_votes": identical,
        "answers_changed_by_votes": sum(
            a != b for a, b in zip(answers["no_feedback"], answers["votes"], strict=True)
        ),
        "test_questions_near_a_vote": near_votes(engine, [q.question for q in test_qs], votes),
        "answer_sentence_accuracy": {run: round(accuracy(run, everyone), 4) for run in answers},
        "accuracy_change_points": round(
            100 * (accuracy("votes", everyone) - accuracy("no_feedback", everyone)), 2
        ),
        "worst_article_change_points": min(per_article.values()),
        "per_test_article_change_points": per_article,
    }


class _Replay:
    """Answers already given, handed back in order to evaluate.squad (each test pass is asked once)."""

    name = "replay"

    def __init__(self, results: list[Result], questions: list[SquadQuestion]) -> None:
        self.results = {q.question: r for q, r in zip(questions, results, strict=True)}

    def answer(self, question: str) -> Result:
        return self.results[question]

    def rank_documents(self, question: str, k: int) -> list[str]:
        raise NotImplementedError


def scifact_part(scifact_dir: Path, work: Path) -> dict[str, Any]:
    """The SciFact half-and-half run (nDCG@10 of the claims whose abstracts cast no vote)."""
    corpus = work / "scifact"
    claims, _ = write_scifact(scifact_dir, corpus)
    claims = sample([c for c in claims if c.relevant], CLAIMS)
    relevant = {d for c in claims for d in c.relevant}
    keep = relevant | {p.stem for p in sample(sorted(corpus.glob("*.txt")), OTHER_ABSTRACTS)}
    for path in corpus.glob("*.txt"):
        if path.stem not in keep:
            path.unlink()
    voting_docs, _ = split_half(sorted(relevant))
    vote_claims = [c for c in claims if c.relevant & voting_docs]
    test_claims = [c for c in claims if not c.relevant & voting_docs]
    log(f"SciFact: {len(keep)} abstracts, {len(vote_claims)} voting and {len(test_claims)} test claims")
    engine, _ = Citebot.build(work / "store-scifact", corpus)
    engine.embedder.recent_size = 50_000
    by_id: dict[str, Claim] = {c.id: c for c in vote_claims}
    votes = simulated_votes(
        engine, [(c.id, c.claim) for c in vote_claims], lambda v, s: Path(s).stem in by_id[v].relevant
    )
    runs = {}
    for name, held in (("no_feedback", None), ("no_votes", NO_VOTES), ("votes", votes)):
        log(f"SciFact: test claims, {name}")
        runs[name] = evaluate.scifact(system(engine, held), test_claims)
    return {
        "abstracts": len(keep),
        "voting_claims": len(vote_claims),
        "test_claims": len(test_claims),
        "votes": len(votes),
        "test_claims_near_a_vote": near_votes(engine, [c.claim for c in test_claims], votes),
        "identical_without_votes": runs["no_feedback"]["ndcg@10"] == runs["no_votes"]["ndcg@10"],
        "test": runs,
        "ndcg@10_change_points": round(100 * (runs["votes"]["ndcg@10"] - runs["no_feedback"]["ndcg@10"]), 2),
    }


def main() -> None:
    """Run both parts, print the figures, write bench/results/feedback.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    data_option(parser)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "feedback.json")
    args = parser.parse_args()
    require("bench.scopes", args.data)  # SQuAD and SciFact, as bench.scopes reads them
    began = time.perf_counter()
    with TemporaryDirectory(prefix="citebot-feedback-") as folder:
        work = Path(folder)
        results: dict[str, Any] = {
            "bound": {
                "max_adjustment": feedback_boost.MAX_ADJUSTMENT,
                "similar": feedback_boost.SIMILAR,
                "saturation": feedback_boost.SATURATION,
            },
            "squad": squad_part(args.data / SQUAD, work),
            "squad_notes": notes_part(args.data / SQUAD, work),
            "scifact": scifact_part(args.data / SCIFACT, work),
        }
    results["machine"] = describe()
    results["seconds"] = round(time.perf_counter() - began)
    results["command"] = ".venv/bin/python -m bench.feedback"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    scifact = results["scifact"]
    for squad in results["squad"].values():
        print(
            f"SQuAD, votes from {squad['votes_from']} ({squad['test_questions']} test questions, "
            f"{squad['votes']} votes): answer-sentence accuracy "
            f"{squad['test']['no_feedback']['answer_sentence_accuracy']} -> "
            f"{squad['test']['votes']['answer_sentence_accuracy']} "
            f"({squad['accuracy_change_points']:+} points; "
            f"worst article {squad['worst_article_change_points']:+}; {squad['answers_changed_by_votes']} "
            f"answers changed); identical without votes: {squad['identical_without_votes']}; "
            f"near a vote: {squad['test_questions_near_a_vote']}"
        )
    print(
        f"SciFact test claims ({scifact['test_claims']}, {scifact['votes']} votes): nDCG@10 "
        f"{scifact['test']['no_feedback']['ndcg@10']} -> {scifact['test']['votes']['ndcg@10']} "
        f"({scifact['ndcg@10_change_points']:+} points); identical without votes: "
        f"{scifact['identical_without_votes']}; near a vote: {scifact['test_claims_near_a_vote']}"
    )
    notes = results["squad_notes"]
    accuracy = notes["answer_sentence_accuracy"]
    print(
        f"SQuAD notes, votes from {notes['votes_from']} ({notes['test_questions']} test questions, "
        f"{notes['votes']} votes, {notes['helpful_votes']} helpful): answer-sentence accuracy "
        f"{accuracy['no_feedback']} -> {accuracy['votes']} ({notes['accuracy_change_points']:+} points; "
        f"worst article {notes['worst_article_change_points']:+}; {notes['answers_changed_by_votes']} "
        f"answers changed); near a vote: {notes['test_questions_near_a_vote']}"
    )
    print(f"wrote {args.out} in {results['seconds']} s")


if __name__ == "__main__":
    main()
