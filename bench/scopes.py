"""`make bench-scopes`: what answering from two collections at once costs, against one holding everything.

Issue 17. The SQuAD v1.1 even articles are split into two collections (alternate articles by file name) of
one store, and also ingested whole into a third collection. Every sampled question is asked three ways:
of the whole collection (the baseline), of a scope of the two halves (citebot's merged ranking), and of
the two halves ranked apart and interleaved by each one's own fused score (what merging without a common
scale gives; passage figures only). A scope that lost quality to its split would show here. The questions
are also asked of a scope of the whole SQuAD collection and SciFact's abstracts (another collection, of
another kind of text): what a channel given a second, unrelated collection loses.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.data import SCIFACT, SQUAD, data_option, require
from bench.evaluate import squad
from bench.systems import Result, result_of
from evaluation.datasets import sample, write_scifact, write_squad
from evaluation.machine import describe
from evaluation.metrics import hit_at
from evaluation.results import save_and_print
from retrieval.engine import Engine, EngineConfig
from retrieval.scope import Scopes
from retrieval.search.hybrid import Hit
from retrieval.store.chunk_store import StoreLocation
from retrieval.types import Answer

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "scopes.json"


class Asking:
    """A system the evaluation can ask: any question -> Answer callable (an engine's or a scope's)."""

    def __init__(self, name: str, ask: Callable[[str], Answer]) -> None:
        self.name = name
        self._ask = ask

    def answer(self, question: str) -> Result:
        """Ask, reduced to what is scored."""
        return result_of(self._ask(question))

    def rank_documents(self, question: str, k: int) -> list[str]:
        """Unused here (the SQuAD figures need answers only)."""
        raise NotImplementedError


def interleaved(halves: list[Engine], question: str, k: int) -> list[Hit]:
    """The halves ranked apart and sorted by each one's own fused score (scores on no common scale)."""
    hits = [h for engine in halves for h in engine.retriever(k).search(question, k)]
    return sorted(hits, key=lambda h: -h.score)[:k]


def main() -> None:
    """Build the store (three collections), ask the sample each way, write bench/results/scopes.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    data_option(parser)
    parser.add_argument("--questions", type=int, default=800)
    args = parser.parse_args()
    require("bench.scopes", args.data)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="citebot-scopes-") as tmp:
        root = Path(tmp)
        corpus = root / "squad"
        questions = sample(write_squad(args.data / SQUAD, corpus), args.questions)
        files = sorted(corpus.glob("*.txt"))
        halves_of = {"left": root / "left", "right": root / "right"}
        for i, file in enumerate(files):
            half = halves_of["left" if i % 2 == 0 else "right"]
            half.mkdir(exist_ok=True)
            (half / file.name).write_bytes(file.read_bytes())
        # The hand-set answerer, as the scopes figures in BENCHMARKS.md were measured.
        config = EngineConfig(StoreLocation(root / "store", collection="whole"), device="cpu", scorer=False)
        whole = Engine(config)
        ingest_s = {"whole": whole.ingest([corpus]).seconds}
        halves: list[Engine] = []
        for name, folder in halves_of.items():
            engine = Engine(
                replace(config, location=replace(config.location, collection=name)), embedder=whole.embedder
            )
            ingest_s[name] = engine.ingest([folder]).seconds
            halves.append(engine)
        scope = Scopes(halves[0]).scope(["left", "right"])
        # Another kind of text beside SQuAD: SciFact's 5,183 biomedical abstracts in their own collection.
        scifact = Engine(
            replace(config, location=replace(config.location, collection="scifact")), embedder=whole.embedder
        )
        write_scifact(args.data / SCIFACT, root / "scifact")
        ingest_s["scifact"] = scifact.ingest([root / "scifact"]).seconds
        mixed = Scopes(whole).scope(["whole", "scifact"])
        # Citations are verified against the files they name: both corpora's, side by side in one folder.
        both = root / "both"
        both.mkdir()
        for file in [*corpus.glob("*.txt"), *(root / "scifact").glob("*.txt")]:
            (both / file.name).symlink_to(file)
        systems = {
            "one collection holding all": Asking("whole", whole.ask),
            "scope of two collections (merged ranking)": Asking("scope", scope.ask),
            "scope of SQuAD and SciFact (merged ranking, another kind of text)": Asking("mixed", mixed.ask),
        }
        report: dict[str, Any] = {
            "machine": describe(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "questions": len(questions),
            "articles": {
                "left": len(list(halves_of["left"].glob("*.txt"))),
                "right": len(list(halves_of["right"].glob("*.txt"))),
            },
            "ingest_s": {k: round(v, 1) for k, v in ingest_s.items()},
            "systems": {},
        }
        for label, system in systems.items():
            system.answer(questions[0].question)  # opens the snapshots outside the timing
            report["systems"][label] = squad(system, questions, both)
            print(label, json.dumps(report["systems"][label]), flush=True)
        hit1 = hit5 = 0
        for q in questions:
            places = [
                (h.chunk.source, h.chunk.start, h.chunk.end) for h in interleaved(halves, q.question, 5)
            ]
            hit1 += hit_at(1, places, q.source, q.spans)
            hit5 += hit_at(5, places, q.source, q.spans)
        report["systems"]["two collections interleaved by their own scores (no common scale)"] = {
            "passage_hit@1": round(hit1 / len(questions), 4),
            "passage_hit@5": round(hit5 / len(questions), 4),
        }
    report["seconds"] = round(time.perf_counter() - began, 1)
    save_and_print(OUT, report)


if __name__ == "__main__":
    main()
