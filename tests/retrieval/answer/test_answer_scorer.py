"""The learned answer scorer: the shipped network reads, ranks and abstains; its files fail loudly.

Bad input tried: a scorer folder that is empty, weights whose bytes changed (sha256 mismatch), a spec that
is not JSON, a spec naming fusion features citebot does not know, a spec without its confidence fit, an
unknown CITEBOT_SCORER value, a CITEBOT_MIN_CONFIDENCE outside 0-1, a question far longer than the scorer's
window (truncated), German and Japanese text with an emoji, no pairs at all.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.render import answer_text
from bot.slack.blocks import answer_blocks
from retrieval.answer.learned_scorer import MODELS, SPEC_FILE, WEIGHTS_FILE, AnswerScorer
from retrieval.errors import ModelError
from retrieval.inference.embedder import Embedder, resolve_model_path
from retrieval.inference.scorer_inputs import CONTEXT_TOKENS, QUESTION_TOKENS, SENTENCE_TOKENS, Pair
from retrieval.types import Answer
from tests.conftest import MODEL_CACHE, make_engine, shared_scorer
from tests.helpers.citations import citation as make_citation
from tests.helpers.console import one_error, run_script

QUESTION = "Who is the release manager?"


def test_the_network_prefers_the_sentence_that_answers() -> None:
    scorer = shared_scorer()
    pairs = [
        Pair(QUESTION, "The release manager is Priya Raman.", "release: Release 2.4 ships on 14 March."),
        Pair(QUESTION, "Decaf beans are kept in the left cupboard.", "coffee"),
        Pair(
            QUESTION, "The office coffee machine is descaled every Friday by the facilities team.", "coffee"
        ),
    ]
    logits = scorer.pair_logits(pairs).tolist()
    assert logits[0] > max(logits[1:]) + 1.0, logits


def test_the_int8_file_that_runs_agrees_with_fp32() -> None:
    """int8 (what runs) keeps fp32's order on hand-made pairs, within a fraction of a logit, twice alike."""
    int8 = shared_scorer()
    fp32 = AnswerScorer(MODELS, resolve_model_path(""), MODEL_CACHE, variant="fp32")
    pairs = [
        Pair(QUESTION, "The release manager is Priya Raman.", "release: Release 2.4 ships on 14 March."),
        Pair(QUESTION, "Release 2.4 ships on 14 March.", "release"),
        Pair(QUESTION, "Decaf beans are kept in the left cupboard.", "coffee"),
        Pair("When does the office open?", "The office opens at 8:30 on weekdays.", "office hours"),
    ]
    a, b = int8.pair_logits(pairs), fp32.pair_logits(pairs)
    assert int8.variant == "int8" and fp32.variant == "fp32"
    assert abs(a - b).max() < 1.0, (a, b)
    assert list(a.argsort()) == list(b.argsort())
    assert (int8.pair_logits(pairs) == a).all()
    # int8 runs each pair alone: a pair's logit is the same whatever stands beside it.
    assert int8.pair_logits(pairs[2:3])[0] == a[2]


def test_long_foreign_and_empty_inputs_are_scored_not_crashed() -> None:
    """A question far past the window is truncated; non-English text and emoji score; no pairs is no work."""
    scorer = shared_scorer()
    long_question = "Who manages the release of the quarterly figures " * 80
    pairs = [
        Pair(long_question, "The release manager is Priya Raman. " * 40, "release " * 200),
        Pair("Wer leitet das Release 2.4?", "Das Release 2.4 leitet Priya Raman.", "Notizen"),
        Pair("リリースの担当者は誰ですか?", "担当者はプリヤ・ラマンです。🚀", "メモ"),
    ]
    logits = scorer.pair_logits(pairs)
    assert logits.shape == (3,) and np.isfinite(logits).all()
    ids, _, _ = scorer.network.encoder.encode(pairs[:1])
    assert ids.shape[1] == QUESTION_TOKENS + SENTENCE_TOKENS + CONTEXT_TOKENS + 4  # [CLS] and three [SEP]
    assert scorer.pair_logits([]).shape == (0,)


def test_padding_does_not_change_a_rows_logit() -> None:
    """A short row scored alone and beside a long one (padded, masked) gets the same logit."""
    scorer = shared_scorer()
    short = Pair("Who?", "Priya.", "x")
    long = Pair(
        "When does release 2.4 ship, and who manages it?", "Release 2.4 ships on 14 March. " * 4, "notes"
    )
    alone = scorer.pair_logits([short])[0]
    beside = scorer.pair_logits([short, long])[0]
    assert abs(float(alone) - float(beside)) < 1e-4


def test_answers_carry_a_calibrated_confidence(corpus: Path, tmp_path: Path, embedder: Embedder) -> None:
    engine = make_engine(tmp_path / "store", embedder)  # the scorer is on by default
    engine.ingest([corpus])
    answered = engine.ask(QUESTION)
    assert not answered.abstained and "Priya Raman" in answered.citations[0].quote
    assert answered.confidence is not None and engine.scorer is not None
    assert engine.scorer.threshold <= answered.confidence <= 1
    assert answered.low_confidence == (answered.confidence < 0.5)
    # Nothing in the corpus says this: the scorer's probability stays under its threshold.
    unknown = engine.ask("Which river flows through the capital of Hungary?")
    assert unknown.abstained and unknown.confidence is not None
    assert unknown.confidence < engine.scorer.threshold
    off = make_engine(tmp_path / "store", embedder, scorer=False).ask(QUESTION)
    assert off.confidence is None and not off.low_confidence


def test_ask_json_has_confidence_unless_the_scorer_is_off(corpus: Path, tmp_path: Path) -> None:
    ingested = run_script(tmp_path, "ingest", corpus, "--store", tmp_path / "s")
    assert ingested.returncode == 0, ingested.stderr
    asked = run_script(tmp_path, "ask", QUESTION, "--json", "--store", tmp_path / "s")  # on by default
    on = json.loads(asked.stdout)
    assert 0 <= on["confidence"] <= 1 and on["low_confidence"] == (on["confidence"] < 0.5)
    off = run_script(tmp_path, "ask", QUESTION, "--json", "--store", tmp_path / "s", CITEBOT_SCORER="off")
    assert json.loads(off.stdout)["confidence"] is None and json.loads(off.stdout)["low_confidence"] is False
    bad = run_script(tmp_path, "ask", QUESTION, "--store", tmp_path / "s", CITEBOT_SCORER="maybe")
    assert bad.returncode == 2 and "CITEBOT_SCORER" in one_error(bad.stderr, bad.stdout)
    # A team that wants fewer wrong quotes raises the threshold; a value outside 0-1 is refused.
    strict = run_script(
        tmp_path,
        "ask",
        QUESTION,
        "--json",
        "--store",
        tmp_path / "s",
        CITEBOT_SCORER="on",
        CITEBOT_MIN_CONFIDENCE="0.999",
    )
    assert json.loads(strict.stdout)["abstained"] is True
    wrong = run_script(tmp_path, "ask", QUESTION, "--store", tmp_path / "s", CITEBOT_MIN_CONFIDENCE="1.5")
    assert wrong.returncode == 2 and "CITEBOT_MIN_CONFIDENCE" in one_error(wrong.stderr, wrong.stdout)


def _broken_folder(tmp_path: Path, how: str) -> Path:
    folder = tmp_path / f"scorer-{how}"
    shutil.copytree(MODELS, folder)
    if how == "empty":
        shutil.rmtree(folder)
        folder.mkdir()
    elif how == "corrupt":
        weights = folder / WEIGHTS_FILE
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif how == "not-json":
        (folder / SPEC_FILE).write_text("{ not json", encoding="utf-8")
    elif how == "unknown-feature":
        spec = json.loads((folder / SPEC_FILE).read_text(encoding="utf-8"))
        spec["fusion"]["features"][0] = "astrology"
        (folder / SPEC_FILE).write_text(json.dumps(spec), encoding="utf-8")
    elif how == "no-weights":
        (folder / WEIGHTS_FILE).unlink()
    elif how == "no-confidence-fit":  # a spec written before answers had a calibrated confidence
        spec = json.loads((folder / SPEC_FILE).read_text(encoding="utf-8"))
        del spec["confidence"]
        (folder / SPEC_FILE).write_text(json.dumps(spec), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("empty", SPEC_FILE),
        ("no-weights", f"{WEIGHTS_FILE} is missing"),
        ("corrupt", "is corrupt"),
        ("not-json", "missing or unreadable"),
        ("unknown-feature", "unknown fusion features"),
        ("no-confidence-fit", "missing or unreadable"),
    ],
)
def test_a_broken_scorer_file_is_a_clear_error(tmp_path: Path, how: str, says: str) -> None:
    folder = _broken_folder(tmp_path, how)
    with pytest.raises(ModelError, match="make train-scorer") as raised:
        AnswerScorer(folder, resolve_model_path(""), MODEL_CACHE)
    assert says in str(raised.value)


def test_the_door_names_the_file_and_the_make_target(corpus: Path, tmp_path: Path) -> None:
    folder = _broken_folder(tmp_path, "corrupt")
    scorer = {"CITEBOT_SCORER": "on", "CITEBOT_SCORER_FOLDER": str(folder)}
    ingested = run_script(tmp_path, "ingest", corpus, "--store", tmp_path / "s", **scorer)
    assert ingested.returncode == 0, ingested.stderr  # ingest needs no scorer
    asked = run_script(tmp_path, "ask", QUESTION, "--store", tmp_path / "s", **scorer)
    message = one_error(asked.stderr, asked.stdout)
    assert asked.returncode == 1
    assert str(folder / WEIGHTS_FILE) in message and "make train-scorer" in message


def _answer(confidence: float, low: bool) -> Answer:
    citation = make_citation("Hello", source="a.txt", path="/x/a.txt", start=0, end=5, score=0.4, line=1)
    return Answer(
        question="q",
        answer="Hello [1]",
        abstained=False,
        citations=[citation],
        confidence=confidence,
        low_confidence=low,
    )


def test_low_confidence_answers_are_shown_as_such() -> None:
    low, sure = _answer(0.42, True), _answer(0.91, False)
    assert "Low confidence (42%)" in answer_text(low) and "Low confidence" not in answer_text(sure)
    shown = json.dumps(answer_blocks(low, "id1"))
    assert "Low confidence (42%)" in shown and ":warning:" in shown
    assert "Low confidence" not in json.dumps(answer_blocks(sure, "id2"))


def test_the_confidence_is_the_fitted_map_of_the_best_sentence() -> None:
    """An answer's confidence grows with its best sentence's probability, as training computes it."""
    from training.calibrate import shown_confidence

    scorer = shared_scorer()
    fitted = {"coef": scorer.spec.confidence_coef, "intercept": scorer.spec.confidence_intercept}
    best = np.array([1e-9, 0.01, scorer.spec.threshold, 0.2, 0.5, 0.9, 1.0])
    shown = [scorer.confidence(float(p)) for p in best]
    assert np.allclose(shown, shown_confidence(best, fitted))
    assert all(0 < c < 1 for c in shown) and shown == sorted(shown) and len(set(shown)) == len(shown)
    assert scorer.threshold == scorer.confidence(scorer.spec.threshold)
