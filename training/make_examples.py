"""Every question's candidate pool, labelled, in one JSON-lines file (what train and calibrate read)."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from evaluation.datasets import article_file
from retrieval.answer.extractive import AnswerSettings
from training.examples import PoolMaker, build_stores, squad_questions
from training.split import split_articles


def make_examples(
    data: Path, work: Path, out: Path, pool: int, seed: int, limit: int | None = None
) -> dict[str, Any]:
    """Build the store, split the articles, write the pools; returns the split and counts."""
    v1_file = data / "squad" / "dev-v1.1.even-articles.json"
    v2_file = data / "squad2" / "dev-v2.0.even-articles.json"
    titles = [article_file(a["title"]) for a in json.loads(v1_file.read_text(encoding="utf-8"))["data"]]
    unanswerable = {article_file(a["title"]) for a in json.loads(v2_file.read_text(encoding="utf-8"))["data"]}
    parts = split_articles(titles, unanswerable, seed)
    stores, v1 = build_stores(data, work)
    settings = AnswerSettings()
    maker = PoolMaker(stores, pool, replace(settings, passages_scanned=settings.scorer_passages))
    questions = squad_questions(v1, v2_file)
    if limit:
        questions = questions[:: max(1, len(questions) // limit)]
    counts: Counter[str] = Counter()
    in_pool: Counter[str] = Counter()
    began = time.perf_counter()
    with out.open("w", encoding="utf-8") as handle:
        for n, q in enumerate(questions):
            part = parts[q.source]
            rows = list(maker.rows(q, part))
            for row in rows:
                handle.write(json.dumps(row) + "\n")
            counts[f"{part}/{q.kind}"] += 1
            in_pool[f"{part}/{q.kind}"] += any(r["correct"] for r in rows)
            if n % 1000 == 0:
                print(
                    f"examples: {n}/{len(questions)} questions, {time.perf_counter() - began:.0f} s",
                    flush=True,
                )
    answerable = {
        k: round(in_pool[k] / counts[k], 4) for k in counts if k.endswith("answerable") and "un" not in k
    }
    return {"parts": parts, "questions": dict(counts), "answer_in_pool": answerable}
