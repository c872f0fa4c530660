"""Scale (issue 16): build time, store size, cold `citebot ask`, its peak RSS and warm p50/p95 by store size.

Stores of N synthetic chunks (bench/scale_corpus.py, written by the real ingest with random sentence
vectors: bench/scale_store.py) are built once into the cache folder and reused while their parameters hold;
the seed store (seeds/ ingested by `citebot ingest`, the real model) is the baseline issue 16's targets
compare against. Every measurement runs in its own process, so no store's memory is counted for another.

    .venv/bin/python -m bench.scale [SIZE ...] [--cold-runs 3] [--questions 50] [--cache DIR] [--server]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.busy import load_average
from bench.scale_corpus import PARAGRAPHS, questions
from bench.scale_plot import write_plot
from bench.scale_served import served
from bench.speed import CITEBOT, wall, wall_and_rss
from bench.speed import QUESTIONS as SEED_QUESTIONS
from evaluation.machine import describe

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CACHE = ROOT / "bench" / ".scale-cache"
# The hand-set answerer, as issue 16's cold-ask figures were measured ("without the scorer").
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "CITEBOT_SCORER": "off"}
# Issue 16's targets, against which today's engine is the baseline.
COLD_RATIO_TARGET = 1.3  # cold ask on a 100k-chunk store / on the seed store
COLD_RATIO_AT = 100_000
RSS_TARGET_MB = 1500  # "RSS at 1M chunks <= 1.5 GB"
WARM_P95_TARGET_MS = 150  # "warm p95 <= 150 ms at 1M chunks ... without the scorer"
TARGET_AT = 1_000_000


def log(message: str) -> None:
    """Progress on stderr (a 100k build runs for minutes)."""
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# An ingest's last step (Engine.ingest -> LiveIndex.prepare): opening the committed version, which builds
# and persists its BM25 base and manifest file. A cached store was written by an ingest that may predate it.
INGEST_LAST_STEP = (
    "import sys; from pathlib import Path; from retrieval.search.corpus import Corpus; "
    "from retrieval.store.chunk_store import ChunkStore, StoreLocation; "
    "Corpus(ChunkStore(StoreLocation(Path(sys.argv[1])), create=False))"
)


def cold_asks(store: Path, question: str, runs: int) -> dict[str, Any]:
    """The ingest's last step (building the BM25 base) in a fresh process: its time and peak RSS; then
    `citebot ask QUESTION` in a fresh process, runs times: every wall time, the first's time and RSS, the
    median time and the largest RSS of the others (each maps the persisted base)."""
    # As an ingest leaves a store: the base and manifest file built at its end, from none.
    for persisted in (store / "index").glob("bm25-*"):
        shutil.rmtree(persisted)
    for manifest in (store / "index").glob("manifest-*.json"):
        manifest.unlink()
    env = {**os.environ, **OFFLINE, "CITEBOT_STORE": str(store)}
    base_s, base_rss = wall_and_rss(
        [sys.executable, "-c", INGEST_LAST_STEP, str(store)], {**env, "PYTHONPATH": str(ROOT)}
    )
    measured = [wall_and_rss([CITEBOT, "ask", question], env) for _ in range(runs)]
    seconds = [round(s, 2) for s, _ in measured]
    return {
        "ingest_base_s": round(base_s, 2),
        "ingest_base_rss_mb": round(base_rss),
        "cold_ask_first_s": seconds[0],
        "cold_ask_first_rss_mb": round(measured[0][1]),
        "cold_ask_s": round(statistics.median(seconds[1:] or seconds), 2),
        "cold_ask_runs_s": seconds,
        "cold_ask_rss_mb": round(max(rss for _, rss in measured[1:] or measured)),
    }


def warm_asks(store: Path, asked: list[str], work: Path) -> dict[str, Any]:
    """bench.scale_warm in a fresh process: its figures, and its peak RSS after every answer."""
    (work / "questions.json").write_text(json.dumps(asked), encoding="utf-8")
    out = work / "warm.json"
    command = [sys.executable, "-m", "bench.scale_warm", str(store), str(work / "questions.json"), str(out)]
    env = {**os.environ, **OFFLINE, "PYTHONPATH": str(ROOT)}
    _, rss = wall_and_rss(command, env)
    return {**json.loads(out.read_text(encoding="utf-8")), "warm_process_rss_mb": round(rss)}


def synthetic(
    chunks: int, cache: Path, cold_runs: int, count: int, work: Path, with_server: bool = False
) -> dict[str, Any]:
    """Every figure for one synthetic store (built first unless cached); with_server: also served."""
    folder = cache / f"chunks-{chunks}"
    log(f"{chunks} chunks: building or reusing {folder}")
    built = subprocess.run(
        [sys.executable, "-m", "bench.scale_store", str(chunks), str(folder)],
        cwd=ROOT,
        env={**os.environ, **OFFLINE},
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        raise RuntimeError(f"building {chunks} chunks failed: {built.stderr[-2000:]}")
    figures = {"store": "synthetic", **json.loads(built.stdout.strip().splitlines()[-1])}
    asked = [q.text for q in questions(count, chunks // PARAGRAPHS)]
    log(f"{chunks} chunks: cold asks")
    figures |= {"question": asked[0], **cold_asks(folder / "store", asked[0], cold_runs)}
    log(f"{chunks} chunks: warm asks")
    figures |= warm_asks(folder / "store", asked, work)
    if with_server:
        log(f"{chunks} chunks: cold and warm asks against chroma run")
        figures |= served(folder / "store", asked, cold_runs, work)
    return figures


def seed_baseline(cold_runs: int, count: int, work: Path) -> dict[str, Any]:
    """The same figures on seeds/ ingested by `citebot ingest` (the real model): the targets' baseline."""
    store = work / "seed-store"
    env = {**os.environ, **OFFLINE, "CITEBOT_STORE": str(store)}
    log("seed store: ingest, cold asks, warm asks")
    ingest = wall([CITEBOT, "ingest", str(ROOT / "seeds")], env)
    status = subprocess.run(
        [CITEBOT, "status", "--json"], env=env, capture_output=True, text=True, check=True
    )
    chunks = int(json.loads(status.stdout)["chunks"])
    asked = [SEED_QUESTIONS[i % len(SEED_QUESTIONS)] for i in range(count)]
    figures = {
        "store": "seed",
        "chunks": chunks,
        "ingest_s": round(ingest, 2),
        "store_mb": round(sum(p.stat().st_size for p in store.rglob("*") if p.is_file()) / 1e6, 1),
        "question": asked[0],
        **cold_asks(store, asked[0], cold_runs),
    }
    return figures | warm_asks(store, asked, work)


def targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 16's targets beside what was measured (None where that size was not run)."""
    seed = next(r for r in rows if r["store"] == "seed")
    by_size = {r["chunks"]: r for r in rows if r["store"] == "synthetic"}
    at_ratio, at_target = by_size.get(COLD_RATIO_AT), by_size.get(TARGET_AT)
    ratio = round(at_ratio["cold_ask_s"] / seed["cold_ask_s"], 2) if at_ratio else None
    return {
        "cold_ask_100k_over_seed": {"target": COLD_RATIO_TARGET, "measured": ratio},
        "cold_ask_rss_mb_1m": {
            "target": RSS_TARGET_MB,
            "measured": at_target["cold_ask_rss_mb"] if at_target else None,
            "with_chroma_run": at_target.get("served_cold_ask_rss_mb") if at_target else None,
        },
        "warm_p95_ms_1m": {
            "target": WARM_P95_TARGET_MS,
            "measured": at_target["warm_ms_p95"] if at_target else None,
            "with_chroma_run": at_target.get("served_warm_ms_p95") if at_target else None,
        },
    }


COLUMNS = (
    ("store", "store"),
    ("chunks", "chunks"),
    ("build s", "ingest_s"),
    ("chunks/s", "chunks_per_s"),
    ("store MB", "store_mb"),
    ("ingest's BM25 base s", "ingest_base_s"),
    ("its peak RSS MB", "ingest_base_rss_mb"),
    ("first cold ask s", "cold_ask_first_s"),
    ("first cold ask RSS MB", "cold_ask_first_rss_mb"),
    ("cold ask s (median)", "cold_ask_s"),
    ("cold ask RSS MB", "cold_ask_rss_mb"),
    ("corpus load s", "corpus_load_s"),
    ("warm p50 ms", "warm_ms_p50"),
    ("warm p95 ms", "warm_ms_p95"),
    ("warm process RSS MB", "warm_process_rss_mb"),
    ("served: cold ask s", "served_cold_ask_s"),
    ("served: cold ask RSS MB", "served_cold_ask_rss_mb"),
    ("served: warm p50 / p95 ms", "served_warm"),
    ("chroma run RSS MB", "server_rss_mb"),
)


def table(rows: list[dict[str, Any]]) -> str:
    """The figures as a Markdown table, one row per store."""
    lines = ["| " + " | ".join(name for name, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        if "served_warm_ms_p50" in row:
            row = {**row, "served_warm": f"{row['served_warm_ms_p50']} / {row['served_warm_ms_p95']}"}
        lines.append("| " + " | ".join(str(row.get(key, "-")) for _, key in COLUMNS) + " |")
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000], help="chunks per store")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold asks per store (the median is shown)")
    parser.add_argument("--questions", type=int, default=50, help="warm questions per store")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the stores are built and kept")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where scale.json and scale.png go")
    parser.add_argument(
        "--server",
        action="store_true",
        help="also ask each synthetic store through `chroma run` over its files",
    )
    return parser.parse_args()


def main() -> None:
    """Measure the seed store and every size, then print the table and write the JSON and the plot."""
    args = parse_args()
    began = time.perf_counter()
    load_before = load_average()
    work = Path(tempfile.mkdtemp(prefix="citebot-scale-"))
    try:
        rows = [seed_baseline(args.cold_runs, args.questions, work)]
        for size in sorted(args.sizes):
            rows.append(synthetic(size, args.cache, args.cold_runs, args.questions, work, args.server))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {
        "machine": describe(),
        "command": "python -m bench.scale " + " ".join(sys.argv[1:]),
        "date": datetime.now(UTC).date().isoformat(),
        "load_average_before_after": [load_before, load_average()],
        "seconds": round(time.perf_counter() - began),
        "stores": rows,
        "targets": targets(rows),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "scale.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(rows))
    print(json.dumps(results["targets"], indent=2))
    plotted = write_plot(rows, args.results / "scale.png")
    log(f"plot: {plotted}" if plotted else "plot skipped: Pillow is not installed")


if __name__ == "__main__":
    main()
