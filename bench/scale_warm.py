"""Warm answers in one process for bench.scale: the engine opened once, then each question timed.

Run as `python -m bench.scale_warm STORE QUESTIONS OUT [CHROMA_URL]`: QUESTIONS a JSON list; writes one
JSON object to OUT: the seconds to open the engine, to load its corpus (its manifest read, BM25 mapped or
built), to the first answer, then the warm answers' p50 / p95 (the question-vector cache cleared before
each, as bench.speed does) and how many were answered rather than abstained.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.metrics import percentile


def warm_latencies(engine: Any, questions: Sequence[str]) -> tuple[list[float], int]:
    """Milliseconds per answer for each question, uncached, and how many were not abstentions."""
    timings: list[float] = []
    answered = 0
    for question in questions:
        engine.embedder.forget_recent()
        began = time.perf_counter()
        answer = engine.ask(question)
        timings.append((time.perf_counter() - began) * 1000)
        answered += not answer.abstained
    return timings, answered


def measure(store: Path, questions: Sequence[str], chroma_url: str | None = None) -> dict[str, Any]:
    """Open the engine on store (its vectors on a Chroma server at chroma_url, if given), load its corpus,
    answer once, then time every question warm."""
    began = time.perf_counter()
    from retrieval.engine import Engine, EngineConfig
    from retrieval.store.chunk_store import StoreLocation

    # The issue-16 target is "without the scorer": the hand-set answerer, as those figures were measured.
    engine = Engine(EngineConfig(StoreLocation(store, chroma_url), scorer=False), create=False)
    opened = time.perf_counter()
    chunks = len(engine.corpus)
    loaded = time.perf_counter()
    engine.ask(questions[0])
    first = time.perf_counter()
    timings, answered = warm_latencies(engine, questions)
    return {
        "chunks_loaded": chunks,
        "engine_open_s": round(opened - began, 2),
        "corpus_load_s": round(loaded - opened, 2),
        "first_answer_s": round(first - loaded, 2),
        "warm_ms_p50": round(percentile(timings, 50), 1),
        "warm_ms_p95": round(percentile(timings, 95), 1),
        "warm_questions": len(timings),
        "warm_answered": answered,
    }


def main() -> None:
    """Measure the store named on the command line with the questions in its file, into the out file."""
    store, asked, out = (Path(a) for a in sys.argv[1:4])
    chroma_url = sys.argv[4] if len(sys.argv) > 4 else None
    figures = measure(store, json.loads(asked.read_text(encoding="utf-8")), chroma_url)
    out.write_text(json.dumps(figures), encoding="utf-8")


if __name__ == "__main__":
    main()
