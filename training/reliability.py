"""Fit the answer confidence onto the shipped scorer and measure how often each confidence is right.

The confidence an answer shows is its best sentence's fused probability, turned into P(the answer is
right) by a fit on the calibration articles' questions (calibrate.fit_answer_confidence). `make
train-scorer` fits it with everything else; this fits it alone onto the shipped models/answer-scorer.json,
keeping its weights, fusion and threshold, and reports the test articles' reliability before and after.

    python -m training.reliability [--data DIR] [--work DIR] [--write]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from retrieval.answer.learned_scorer import (
    MODELS,
    SPEC_FILE,
    WEIGHTS_FILE,
    ScorerNetwork,
    ScorerSpec,
    fusion_inputs,
)
from retrieval.inference.embedder import resolve_model_path
from retrieval.inference.model_cache import ModelCache
from training.calibrate import best_by_question, confidence_of, logits
from training.card import write_card
from training.examples import Row
from training.make_examples import make_examples

ROOT = Path(__file__).resolve().parent.parent


def fused(rows: Sequence[Row], raw: np.ndarray, spec: ScorerSpec) -> np.ndarray:
    """The shipped fusion's probability for every row."""
    return spec.fuse(
        [
            fusion_inputs(r["features"], r["handset"], r["top_dense"], r["order"], float(z))
            for r, z in zip(rows, raw, strict=True)
        ]
    )


def main() -> None:
    """Build the pools (or reuse WORK's), score the held-back parts with the shipped scorer, fit, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("/tmp/citebot-train-scorer"))
    parser.add_argument("--write", action="store_true", help="write the fit into models/ and its card")
    args = parser.parse_args()
    spec_file = MODELS / SPEC_FILE
    spec_data = json.loads(spec_file.read_text(encoding="utf-8"))
    examples = args.work / "examples.jsonl"
    if not examples.is_file():
        args.work.mkdir(parents=True, exist_ok=True)
        made = make_examples(args.data, args.work, examples, int(spec_data["pool"]), int(spec_data["seed"]))
        (args.work / "split.json").write_text(json.dumps(made, indent=1), encoding="utf-8")
    rows = [
        r for r in map(json.loads, examples.read_text(encoding="utf-8").splitlines()) if r["part"] != "train"
    ]
    spec = ScorerSpec.read(MODELS)
    network = ScorerNetwork(
        MODELS / WEIGHTS_FILE, resolve_model_path(""), ModelCache(args.work / "model-cache"), threads=1
    )
    value = fused(rows, logits(rows, network), spec)

    def best(part: str) -> dict[tuple[str, str], tuple[float, bool]]:
        chosen = [i for i, r in enumerate(rows) if r["part"] == part]
        return best_by_question([rows[i] for i in chosen], value[chosen])

    fitted = confidence_of(best("calibration"), best("test"), spec.threshold)
    print(json.dumps(fitted, indent=1))
    if args.write:
        spec_data.update(fitted)
        spec_file.write_text(json.dumps(spec_data, indent=1) + "\n", encoding="utf-8")
        write_card(spec_data, MODELS / "answer-scorer.md")
        print(f"wrote {spec_file} and its card")


if __name__ == "__main__":
    main()
