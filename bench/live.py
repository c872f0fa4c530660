"""Freshness: what the live snapshot costs a question, how soon a running engine answers from another
process's ingest, and how soon `--watch` reflects a change (seed corpus plus one note; JSON + table)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.speed import CITEBOT, QUESTIONS, ROOT
from evaluation.machine import describe
from evaluation.metrics import percentile

RESULTS = ROOT / "bench" / "results" / "live.json"
NOTE = "The {place} field station keeps its glacier camp on the {cap} ice cap.\n"
GLACIER = "Where does the {place} field station keep its glacier camp?"
PLACES = [("Ostrava", "Hofsjokull"), ("Tromso", "Vatnajokull"), ("Kiruna", "Langjokull"), ("Bodo", "Myrdals")]
ROUNDS = 200  # warm questions timed each way; the difference is a millisecond, so many are needed


def cites(engine: Any, question: str, source: str, wanted: bool = True) -> bool:
    """Whether the engine's answer cites the file (wanted=False: whether it does not)."""
    return any(c.source == source for c in engine.ask(question).citations) == wanted


def says(engine: Any, question: str, words: str) -> bool:
    """Whether the engine's answer holds the words."""
    return words in engine.ask(question).answer


def until(check: Callable[[], bool], limit_s: float = 30.0) -> float:
    """Seconds until check() holds (polled every 20 ms); the limit means it never did."""
    began = time.perf_counter()
    while not check():
        if time.perf_counter() - began > limit_s:
            raise RuntimeError("the change was never answered")
        time.sleep(0.02)
    return time.perf_counter() - began


def check_cost(engine: Any) -> dict[str, float]:
    """Warm answers with the version check (engine.ask) against the same chain invoked on a held snapshot."""
    snapshot = engine.snapshot()
    checked: list[float] = []
    held: list[float] = []
    versions: list[float] = []
    for i in range(ROUNDS):
        question = QUESTIONS[i % len(QUESTIONS)]
        for times, with_check in ((checked, True), (held, False)):
            engine.embedder.forget_recent()
            began = time.perf_counter()
            if with_check:
                engine.ask(question)
            else:
                snapshot.chain.invoke({"text": question, "history": []})
            times.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        engine.store.newest_version()
        versions.append((time.perf_counter() - began) * 1000)
    return {
        "version_read_ms_p50": round(percentile(versions, 50), 3),
        "warm_answer_ms_p50": round(percentile(checked, 50), 1),
        "warm_answer_held_snapshot_ms_p50": round(percentile(held, 50), 1),
    }


def other_process(engine: Any, work: Path, env: dict[str, str]) -> dict[str, float]:
    """Another process ingests a new note; the running engine's next question answers from it."""
    firsts: list[float] = []
    for place, cap in PLACES[:3]:
        folder = work / f"extra-{place}"
        folder.mkdir()
        name = f"station-{place.lower()}.md"  # a source name is indexed once, whichever folder holds it
        (folder / name).write_text(NOTE.format(place=place, cap=cap), encoding="utf-8")
        subprocess.run([CITEBOT, "ingest", str(folder)], env=env, check=True, capture_output=True)
        began = time.perf_counter()
        found = cites(engine, GLACIER.format(place=place), name)
        firsts.append((time.perf_counter() - began) * 1000)
        if not found:
            raise RuntimeError("the running engine did not answer from another process's ingest")
    return {"first_answer_after_other_ingest_ms_median": round(statistics.median(firsts), 1)}


def watched(engine: Any, work: Path) -> dict[str, float]:
    """`slack --watch`'s loop in a thread: seconds from a file written, changed or deleted to its answer."""
    from bot.watch_report import watch_in_background

    folder = work / "watched"
    folder.mkdir()
    stop = threading.Event()
    thread = watch_in_background(engine, [folder], stop)
    seconds: dict[str, list[float]] = {"added": [], "changed": [], "deleted": []}
    try:
        time.sleep(2)  # the first ingest of the (empty) folder
        for place, cap in PLACES:
            note = folder / f"{place.lower()}.md"
            question = GLACIER.format(place=place)
            note.write_text(NOTE.format(place=place, cap="Drangajokull"), encoding="utf-8")
            seconds["added"].append(until(functools.partial(cites, engine, question, note.name)))
            note.write_text(NOTE.format(place=place, cap=cap), encoding="utf-8")
            seconds["changed"].append(until(functools.partial(says, engine, question, cap)))
            note.unlink()
            seconds["deleted"].append(until(functools.partial(cites, engine, question, note.name, False)))
    finally:
        stop.set()
        thread.join(timeout=10)
    return {f"watch_{kind}_s_max": round(max(values), 2) for kind, values in seconds.items()}


def main() -> None:
    """Measure on a fresh store of the seed corpus; print a table and write bench/results/live.json."""
    from retrieval.engine import Engine, EngineConfig
    from retrieval.store.chunk_store import StoreLocation

    work = Path(tempfile.mkdtemp(prefix="citebot-live-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CITEBOT_STORE": str(work / "store")}
    try:
        engine = Engine(EngineConfig(StoreLocation(work / "store"), scorer=False))  # as measured before
        engine.ingest([ROOT / "seeds"])
        engine.ask(QUESTIONS[0])
        results: dict[str, Any] = {"machine": describe(), **check_cost(engine)}
        results.update(other_process(engine, work, env))
        results.update(watched(engine, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print("| measure | value |\n|---|---|")
    for key, value in results.items():
        print(f"| {key} | {value} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
