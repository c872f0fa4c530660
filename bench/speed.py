"""Speed: cold `citebot ask` beside `--help` and the textbook pipeline's cold start, warm answers, re-ingest
(seed corpus), chunking 1-5 MB; a Markdown table."""

from __future__ import annotations

import io
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evaluation.machine import describe
from evaluation.metrics import percentile

ROOT = Path(__file__).resolve().parent.parent
CITEBOT = str(Path(sys.executable).parent / "citebot")
QUESTIONS = [
    "What did the US offer in Stockholm?",
    "Who won the 2018 World Cup?",
    "What did the North want in return?",
    "When did Trump and Kim meet at the border?",
    "What missile did the North test?",
    "Who is China's president?",
    "Why did the talks break down?",
    "What should Seoul and Washington do?",
]
CHUNKING_MB = (1, 2, 5)


def wall(args: list[str], env: dict[str, str]) -> float:
    """Seconds one command takes, start to exit."""
    return wall_and_rss(args, env)[0]


def wall_and_rss(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds one command takes, start to exit, and its peak resident memory in MB."""
    with tempfile.TemporaryFile() as errors:
        began = time.perf_counter()
        process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - began
        process.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            errors.seek(0)
            raise RuntimeError(f"{args} exited {code}: {errors.read().decode(errors='replace')}")
    return seconds, usage.ru_maxrss / 1024


def repl_latencies(engine: Any, work: Path) -> list[float]:
    """Milliseconds from a line typed at the REPL to its rendered answer (terminal rendering, to a buffer)."""
    from rich.console import Console

    from bot.repl import Session
    from bot.settings import load_settings

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    session = Session(engine, load_settings(store=work / "store"), console, json_mode=False, rich=True)
    timings = []
    for _ in range(10):
        for question in QUESTIONS:
            session.handle(":new")
            engine.embedder.forget_recent()
            began = time.perf_counter()
            session.handle(question)
            timings.append((time.perf_counter() - began) * 1000)
    return timings


def synthetic_paragraph(size: int) -> str:
    """One paragraph of size characters: varied sentences (abbreviations, quotes, numbers), no line break."""
    rng = random.Random(size)
    subjects = ["The committee", "Dr. Lee", "Our team", "The U.S. envoy", "Mr. Kim's office"]
    verbs = ["reviewed", "rejected", "praised", "questioned", "sent back"]
    objects = ["the draft (v3.2)", '"the final offer"', "the talks, e.g. in Stockholm", "Fig. 4"]
    parts: list[str] = []
    length = 0
    while length < size:
        words = [rng.choice(subjects), rng.choice(verbs), rng.choice(objects), f"on {rng.randint(1, 999)}"]
        parts.append(" ".join(words) + rng.choice([".", ".", "!", "?", "...", '."']))
        length += len(parts[-1]) + 1
    return " ".join(parts)[:size]


def chunking_seconds() -> dict[str, float]:
    """Seconds to chunk one-paragraph texts of 1, 2 and 5 MB (10^6 ASCII characters each)."""
    from retrieval.ingest.chunking import chunk

    results = {}
    for megabytes in CHUNKING_MB:
        text = synthetic_paragraph(megabytes * 1_000_000)
        began = time.perf_counter()
        chunk(text)
        results[f"chunk_{megabytes}mb_paragraph_s"] = round(time.perf_counter() - began, 2)
    return results


def report(results: dict[str, Any]) -> None:
    """Print the results as JSON, then as a Markdown table."""
    print(json.dumps(results, indent=2))
    print()
    print("| measure | value |\n|---|---|")
    for key, value in results.items():
        print(f"| {key} | {value} |")


def main() -> None:
    """Run every measurement and print the results (only the chunking figures with --chunking)."""
    if sys.argv[1:] == ["--chunking"]:
        report({"machine": describe(), **chunking_seconds()})
        return
    work = Path(tempfile.mkdtemp(prefix="citebot-bench-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CITEBOT_STORE": str(work / "store")}
    try:
        first_ingest = wall([CITEBOT, "ingest", str(ROOT / "seeds")], env)
        reingest = [wall([CITEBOT, "ingest", str(ROOT / "seeds")], env) for _ in range(3)]
        cold_runs = [wall_and_rss([CITEBOT, "ask", QUESTIONS[0]], env) for _ in range(5)]
        cold = [seconds for seconds, _ in cold_runs]
        # The same cold ask with the answer scorer off: what loading the scorer adds to a start.
        env_off = {**env, "CITEBOT_SCORER": "off"}
        cold_off_runs = [wall_and_rss([CITEBOT, "ask", QUESTIONS[0]], env_off) for _ in range(5)]
        cold_off = [seconds for seconds, _ in cold_off_runs]
        help_runs = [wall([CITEBOT, "--help"], env) for _ in range(5)]
        # The textbook pipeline's cold start on the same seed corpus, in the same run (issue 32).
        from bench.systems import Textbook

        Textbook.build(work / "textbook", ROOT / "seeds")
        textbook = [sys.executable, "-m", "bench.cold_textbook", str(work / "textbook"), QUESTIONS[0]]
        textbook_runs = [wall_and_rss(textbook, env) for _ in range(5)]

        from retrieval.engine import Engine, EngineConfig
        from retrieval.store.chunk_store import StoreLocation

        engine = Engine(EngineConfig(StoreLocation(work / "store"), scorer=False))
        began = time.perf_counter()
        summary = engine.ingest([ROOT / "seeds"])
        reingest_in_process = time.perf_counter() - began
        engine.ask(QUESTIONS[0])
        # The same store with the answer scorer on (the default), asked in turn with it (the same load).
        scored = Engine(EngineConfig(StoreLocation(work / "store"), scorer=True))
        scored.embedder = engine.embedder
        scored.ask(QUESTIONS[0])
        warm: list[float] = []
        warm_scorer: list[float] = []
        for _ in range(25):
            for question in QUESTIONS:
                for which, times in ((engine, warm), (scored, warm_scorer)):
                    which.embedder.forget_recent()
                    began = time.perf_counter()
                    which.ask(question)
                    times.append((time.perf_counter() - began) * 1000)
        repl_ms = repl_latencies(engine, work)
        repl_scorer_ms = repl_latencies(scored, work)
        results = {
            "machine": describe(),
            "first_ingest_wall_s": round(first_ingest, 2),
            "unchanged_reingest_wall_s": round(statistics.median(reingest), 2),
            "unchanged_reingest_in_process_s": round(reingest_in_process, 3),
            "unchanged_files": summary.unchanged,
            "cold_ask_wall_s_median": round(statistics.median(cold), 2),
            "cold_ask_wall_s_max": round(max(cold), 2),
            "cold_ask_peak_rss_mb_max": round(max(rss for _, rss in cold_runs)),
            "cold_ask_scorer_off_wall_s_median": round(statistics.median(cold_off), 2),
            "cold_ask_scorer_off_peak_rss_mb_max": round(max(rss for _, rss in cold_off_runs)),
            "help_wall_s_median": round(statistics.median(help_runs), 3),
            "textbook_cold_wall_s_median": round(statistics.median(t for t, _ in textbook_runs), 2),
            "textbook_cold_peak_rss_mb_max": round(max(rss for _, rss in textbook_runs)),
            "variant": engine.embedder.variant,
            "warm_answer_ms_p50": round(percentile(warm, 50), 1),
            "warm_answer_ms_p95": round(percentile(warm, 95), 1),
            "warm_questions": len(warm),
            "warm_answer_scorer_on_ms_p50": round(percentile(warm_scorer, 50), 1),
            "warm_answer_scorer_on_ms_p95": round(percentile(warm_scorer, 95), 1),
            "repl_answer_ms_p50": round(percentile(repl_ms, 50), 1),
            "repl_answer_ms_p95": round(percentile(repl_ms, 95), 1),
            "repl_answer_scorer_on_ms_p50": round(percentile(repl_scorer_ms, 50), 1),
            "repl_answer_scorer_on_ms_p95": round(percentile(repl_scorer_ms, 95), 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
            **chunking_seconds(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results)


if __name__ == "__main__":
    main()
