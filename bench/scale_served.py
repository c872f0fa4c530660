"""bench.scale's server case: the same store's vectors served by `chroma run`, citebot's processes asking it.

Issue 16 asks that several bot processes share one index: with a Chroma server the vectors (most of a large
store's memory) live once, in the server, and each citebot process holds only its mapped BM25 index and the
candidates it reads. The server is started on the store's own Chroma folder (the one the embedded engine
wrote), so both cases answer from the same bytes; citebot's local folder (word cache, BM25 base) is shared.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.speed import CITEBOT, wall_and_rss

# The test suite's real `chroma run` launcher (ephemeral loopback port, waits for the heartbeat, stops it).
from tests.helpers.chroma_server import chroma_process

ROOT = Path(__file__).resolve().parent.parent
# The hand-set answerer, as issue 16's cold-ask figures were measured ("without the scorer").
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "CITEBOT_SCORER": "off"}


def peak_rss_mb(pid: int) -> float:
    """A running process's peak resident memory (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def served(store: Path, asked: list[str], cold_runs: int, work: Path) -> dict[str, Any]:
    """Cold asks (fresh processes; the first also warms the server) and warm asks, against `chroma run`."""
    with chroma_process(work / "server", data=store / "chroma") as (url, server):
        env = {**os.environ, **OFFLINE, "CITEBOT_STORE": str(store), "CITEBOT_CHROMA_URL": url}
        measured = [wall_and_rss([CITEBOT, "ask", asked[0]], env) for _ in range(cold_runs)]
        (work / "questions.json").write_text(json.dumps(asked), encoding="utf-8")
        out = work / "served-warm.json"
        command = [
            sys.executable,
            "-m",
            "bench.scale_warm",
            str(store),
            str(work / "questions.json"),
            str(out),
            url,
        ]
        _, warm_rss = wall_and_rss(command, {**env, "PYTHONPATH": str(ROOT)})
        warm = json.loads(out.read_text(encoding="utf-8"))
        server_rss = peak_rss_mb(server.pid)
    seconds = [round(s, 2) for s, _ in measured]
    return {
        "served_cold_ask_first_s": seconds[0],
        "served_cold_ask_s": round(statistics.median(seconds[1:] or seconds), 2),
        "served_cold_ask_rss_mb": round(max(rss for _, rss in measured)),
        "served_warm_ms_p50": warm["warm_ms_p50"],
        "served_warm_ms_p95": warm["warm_ms_p95"],
        "served_warm_process_rss_mb": round(warm_rss),
        "server_rss_mb": round(server_rss),
    }
