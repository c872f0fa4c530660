"""Asking every question of a system and scoring what comes back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.systems import System
from evaluation.datasets import Claim, SquadQuestion, as_question
from evaluation.metrics import contains_answer, covers, hit_at, ndcg_at, percentile, recall_at


def _rate(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def squad(system: System, questions: list[SquadQuestion], corpus: Path) -> dict[str, Any]:
    """Passage and citation hits, answer-sentence accuracy, answered rate, citations verified, latency."""
    texts: dict[str, str] = {}
    hit1 = hit5 = cite1 = sentence = answered = verified = cited = 0
    latencies: list[float] = []
    for q in questions:
        began = time.perf_counter()
        result = system.answer(q.question)
        latencies.append((time.perf_counter() - began) * 1000)
        hit1 += hit_at(1, result.passages, q.source, q.spans)
        hit5 += hit_at(5, result.passages, q.source, q.spans)
        if result.citation:
            source, start, end = result.citation
            cite1 += source == q.source and covers((start, end), q.spans)
            cited += 1
            if source not in texts:
                with (corpus / source).open(encoding="utf-8", newline="") as handle:
                    texts[source] = handle.read()
            verified += texts[source][start:end] == result.quote
        sentence += contains_answer(result.first_sentence, q.answers)
        answered += not result.abstained
    n = len(questions)
    return {
        "questions": n,
        "passage_hit@1": _rate(hit1, n),
        "passage_hit@5": _rate(hit5, n),
        "citation_hit@1": _rate(cite1, n),
        "answer_sentence_accuracy": _rate(sentence, n),
        "answered_rate": _rate(answered, n),
        "right_when_answered": _rate(sentence, answered),
        "citations_verified": _rate(verified, cited),
        "answer_ms_p50": round(percentile(latencies, 50), 2),
        "answer_ms_p95": round(percentile(latencies, 95), 2),
    }


def abstention(system: System, claims: list[Claim]) -> dict[str, Any]:
    """SciFact claims, phrased as questions, asked of the SQuAD corpus: the share abstained."""
    return abstained(system, [as_question(c.claim) for c in claims])


def abstained(system: System, questions: list[str]) -> dict[str, Any]:
    """Questions the documents cannot answer: the share abstained on (the rest are confident wrong quotes)."""
    count = sum(system.answer(q).abstained for q in questions)
    return {"questions": len(questions), "abstained_rate": _rate(count, len(questions))}


def scifact(system: System, claims: list[Claim]) -> dict[str, Any]:
    """nDCG@10 and recall@100 over documents, BEIR's protocol."""
    ndcg = recall = 0.0
    latencies: list[float] = []
    for claim in claims:
        began = time.perf_counter()
        ranked = [Path(s).stem for s in system.rank_documents(claim.claim, 100)]
        latencies.append((time.perf_counter() - began) * 1000)
        ndcg += ndcg_at(10, ranked, claim.relevant)
        recall += recall_at(100, ranked, claim.relevant)
    n = len(claims)
    return {
        "claims": n,
        "ndcg@10": round(ndcg / n, 4) if n else 0.0,
        "recall@100": round(recall / n, 4) if n else 0.0,
        "rank_ms_p50": round(percentile(latencies, 50), 2),
    }
