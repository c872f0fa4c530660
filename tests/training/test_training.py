"""`make train-scorer`'s parts: the split by article, the fits, and one short real training run.

Bad input tried: titles given twice and in another order (the split must not change), a threshold search
over pools where every question is unanswerable, best-sentence probabilities of exactly 0 and 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from retrieval.inference.embedder import resolve_model_path
from retrieval.inference.scorer_net import load_scorer_net, trained_names
from tests.helpers.training_examples import tiny_examples
from training.calibrate import (
    answering_threshold,
    best_by_question,
    choose_threshold,
    confidence_of,
    figures,
    fit_logistic,
    reliability,
    shown_confidence,
)
from training.split import split_articles
from training.train import batches, pool_loss, train

TITLES = [f"article-{n}.txt" for n in range(24)]
WITH_SQUAD2 = set(TITLES[:18])


def test_the_split_is_by_article_and_stable() -> None:
    parts = split_articles(TITLES, WITH_SQUAD2, seed=13)
    assert set(parts) == set(TITLES) and set(parts.values()) == {"train", "calibration", "test"}
    assert split_articles(list(reversed(TITLES)) + TITLES[:3], WITH_SQUAD2, seed=13) == parts
    # Each part holds articles with unanswerable questions, so each can measure abstention.
    assert {parts[t] for t in WITH_SQUAD2} == {"train", "calibration", "test"}
    assert split_articles(TITLES, WITH_SQUAD2, seed=14) != parts


def test_logistic_fit_finds_the_signal() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] * 3 + rng.normal(scale=0.5, size=400) > 0).astype(float)
    coef, _ = fit_logistic(x, y)
    assert coef[0] > 2 and abs(coef[1]) < 0.5


def _row(kind: str, qid: str, correct: bool) -> dict[str, object]:
    return {"kind": kind, "qid": qid, "correct": correct}


def test_the_threshold_trades_answers_for_abstentions() -> None:
    rows = [_row("answerable", "a1", True), _row("answerable", "a2", True), _row("unanswerable", "u1", False)]
    rows += [_row("out_of_corpus", "o1", False)]
    best = best_by_question(rows, np.array([0.9, 0.6, 0.3, 0.2]))
    totals = {"answerable": 2, "unanswerable": 1, "out_of_corpus": 1}
    threshold = choose_threshold(best, totals)
    assert 0.3 < threshold <= 0.6
    assert figures(best, threshold, totals) == {
        "answer_sentence_accuracy": 1.0,
        "answered_rate": 1.0,
        "right_when_answered": 1.0,
        "unanswerable_abstained": 1.0,
        "out_of_corpus_abstained": 1.0,
        "objective": 1.0,
    }
    nothing = best_by_question([_row("unanswerable", "u1", False)], np.array([0.5]))
    assert choose_threshold(nothing, {"unanswerable": 1}) > 0.5  # abstaining is all there is to gain


def test_the_shipped_threshold_still_answers_95_percent() -> None:
    rows = [_row("answerable", f"a{n}", n % 4 != 0) for n in range(40)]
    rows += [_row("out_of_corpus", f"o{n}", False) for n in range(10)]
    values = np.array([0.30 + n / 100 for n in range(40)] + [0.05 + n / 100 for n in range(10)])
    best = best_by_question(rows, values)
    totals = {"answerable": 40, "out_of_corpus": 10}
    threshold = answering_threshold(best, totals)
    # 38 of 40 answered is the most abstention 95% allows: everything under the third answerable question.
    assert 0.31 < threshold <= 0.32
    assert figures(best, threshold, totals)["answered_rate"] == 0.95
    assert figures(best, threshold, totals)["out_of_corpus_abstained"] == 1.0
    # No answerable question at all: nothing to keep answering, so the lowest threshold (never abstain).
    only = best_by_question(rows[40:], values[40:])
    assert answering_threshold(only, {"out_of_corpus": 10}) < 0.05


def _pool(kind: str, qid: str, labels: list[int]) -> list[dict[str, object]]:
    return [
        {"kind": kind, "qid": qid, "label": y, "question": "q", "sentence": "s" * n, "context": ""}
        for n, y in enumerate(labels)
    ]


def test_batches_keep_each_question_whole() -> None:
    rows = [r for n in range(40) for r in _pool("answerable", f"q{n}", [1, 0, 0, 0, 0, 0])]
    rows += [r for n in range(20) for r in _pool("out_of_corpus", f"q{n}", [0, 0, 0, 0])]
    plan = batches(rows, seed=3)
    assert sorted(map(id, (r for b in plan for r in b))) == sorted(map(id, rows))
    assert all(len(b) <= 32 for b in plan)
    where = {(r["kind"], r["qid"]): n for n, b in enumerate(plan) for r in b}
    assert all(where[(r["kind"], r["qid"])] == n for n, b in enumerate(plan) for r in b)
    assert batches(rows, seed=3) == plan and batches(rows, seed=4) != plan


def test_the_pool_loss_rewards_ranking_the_answer_first() -> None:
    batch = (
        _pool("answerable", "a", [0, 1, 0])
        + _pool("unanswerable", "u", [0, 0])
        + _pool("answerable", "b", [1])
    )
    right = pool_loss(torch.tensor([-2.0, 3.0, -1.0, 5.0, 5.0, 0.0]), batch)
    wrong = pool_loss(torch.tensor([3.0, -2.0, -1.0, 5.0, 5.0, 0.0]), batch)
    assert 0 < right.item() < 0.05 < wrong.item()
    # Only pool "a" counts: an unanswerable pool and a pool with no negative have nothing to rank.
    assert pool_loss(torch.tensor([0.0, 0.0, 0.0, 9.0, -9.0, 7.0]), batch).item() == pytest.approx(np.log(3))
    assert pool_loss(torch.tensor([1.0, 2.0]), _pool("out_of_corpus", "o", [0, 0])).item() == 0.0


def test_a_short_training_run_writes_weights_the_scorer_loads(tmp_path: Path) -> None:
    examples = tiny_examples(tmp_path / "examples.jsonl")
    weights = tmp_path / "scorer.safetensors"
    done = train(examples, resolve_model_path(""), weights, layers=1, epochs=1.0, seed=1, progress=False)
    assert done["pairs"] == 8 and done["steps"] == 1
    net = load_scorer_net(weights, resolve_model_path(""))
    assert net.layers == 1 and sorted(net.names) == sorted(trained_names(1))


def test_the_answer_confidence_lifts_a_probability_that_under_reads() -> None:
    """Best sentences at 0.2 that are right half the time: the fitted confidence moves toward 0.5."""
    rng = np.random.default_rng(3)
    best = {("answerable", f"q{n}"): (0.2, bool(rng.random() < 0.5)) for n in range(400)}
    best |= {("out_of_corpus", f"o{n}"): (0.01, False) for n in range(400)}
    fitted = confidence_of(best, best, threshold=0.05)["confidence"]
    lifted, low = shown_confidence(np.array([0.2, 0.01]), fitted)
    assert 0.4 < lifted < 0.6 and low < 0.05
    edges = shown_confidence(np.array([0.0, 1.0]), fitted)  # log-odds kept finite at the ends
    assert np.all(np.isfinite(edges)) and 0 <= edges[0] < edges[1] <= 1


def test_reliability_counts_each_question_once_in_its_band() -> None:
    best = {
        ("answerable", "a"): (0.9, True),
        ("answerable", "b"): (0.6, False),
        ("unanswerable", "u"): (0.3, False),
        ("out_of_corpus", "o"): (0.01, False),
    }
    bands = reliability(best, threshold=0.1)
    assert [b["band"] for b in bands] == ["0-0.1", "0.1-0.2", "0.2-0.35", "0.35-0.5", "0.5-0.7", "0.7-1"]
    assert sum(b["questions"] for b in bands) == 4
    by_band = {b["band"]: b for b in bands}
    assert by_band["0.7-1"]["right"] == 1.0 and by_band["0.5-0.7"]["right"] == 0.0
    assert by_band["0.2-0.35"]["unanswerable"] == 1 and by_band["0-0.1"]["out_of_corpus"] == 1
    assert by_band["0.1-0.2"]["right"] is None
