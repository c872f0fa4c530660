"""Warm answers on quiet and on busy cores (CPU burners beside them), for several thread settings.

Each setting runs in its own worker process, since some settings (OMP_WAIT_POLICY, OPENBLAS_NUM_THREADS,
TOKENIZERS_PARALLELISM) only act when set before torch, numpy or tokenizers are imported. All workers are
loaded first; then the questions run in rounds, and in each round every worker answers its share quiet,
then every worker answers it again with the burners running. Settings are so compared interleaved, within
one run, on the same background load (other people's processes share these cores).

    .venv/bin/python -m bench.busy [--questions 100] [--rounds 4] [--burners 2] [--burner python|numpy]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench.speed import QUESTIONS as SEED_QUESTIONS
from evaluation.machine import describe
from evaluation.metrics import percentile

ROOT = Path(__file__).resolve().parent.parent
BURNERS = {
    "python": "while True:\n    pass\n",
    "numpy": "import numpy as np\na = np.random.rand(256, 256)\nwhile True:\n    a @ a\n",
}
# One burner per core by default, each single-threaded (so a numpy burner is one core's worth too).
BURNER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@dataclass(frozen=True)
class Setting:
    """One thread configuration: env vars set before imports, torch thread counts set after."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    threads: int | None = None  # None: what torch chooses itself (its default, or OMP_NUM_THREADS)
    interop: int | None = None


PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE"}
ONE_BLAS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
NO_RAYON = {"TOKENIZERS_PARALLELISM": "false"}
SETTINGS = [
    Setting("torch default (its own count: the cores, 2 here)"),
    Setting("threads=1", threads=1),
    Setting("threads=1 interop=1", threads=1, interop=1),
    Setting("threads=2 OMP_WAIT_POLICY=PASSIVE", PASSIVE, threads=2),
    Setting("threads=1 OMP_WAIT_POLICY=PASSIVE", PASSIVE, threads=1),
    Setting("OMP/OPENBLAS/MKL_NUM_THREADS=1", ONE_BLAS),
    Setting("threads=1 TOKENIZERS_PARALLELISM=false", NO_RAYON, threads=1),
    Setting("threads=1 + all env above", {**PASSIVE, **ONE_BLAS, **NO_RAYON}, threads=1, interop=1),
]

PEOPLE = ["Priya Raman", "Tomas Berg", "Aiko Sato", "Lena Novak", "Omar Haddad", "Grace Liu", "Jonas Weber"]
CITIES = ["Lisbon", "Oslo", "Nairobi", "Osaka", "Quito", "Tallinn", "Perth", "Lyon", "Austin", "Pune"]
TOOLS = ["Rust", "Postgres", "Kafka", "Terraform", "Go", "Redis", "Spark", "Kotlin", "Elixir", "Haskell"]
GOALS = ["billing", "search", "payroll", "shipping", "forecasting", "onboarding", "auditing", "routing"]
MONTHS = ["January", "March", "May", "July", "September", "November"]


def synthetic_corpus(folder: Path, paragraphs: int, seed: int = 12) -> list[str]:
    """Write files of fact paragraphs about made-up projects under folder; return questions about them."""
    rng = random.Random(seed)
    questions: list[str] = []
    per_file = 10
    for f in range(0, paragraphs, per_file):
        lines = [f"# Project notes, part {f // per_file + 1}\n"]
        for i in range(f, min(f + per_file, paragraphs)):
            name = f"{rng.choice(['Falcon', 'Cedar', 'Atlas', 'Juniper', 'Orbit', 'Quartz'])}-{i}"
            who, city, tool, goal = (
                rng.choice(PEOPLE),
                rng.choice(CITIES),
                rng.choice(TOOLS),
                rng.choice(GOALS),
            )
            when = f"{rng.randint(1, 28)} {rng.choice(MONTHS)} {rng.randint(2019, 2026)}"
            budget, team = rng.randint(2, 90), rng.randint(3, 40)
            lines.append(
                f"Project {name} rebuilds the {goal} service for the {city} office. It was approved by {who} "
                f"on {when}, with a budget of {budget} million euros. The team of {team} engineers writes "
                f"it in {tool}, because the old system could not keep up with demand during the peak "
                f"season. The first release is planned for the spring after approval, and the {city} "
                f"office will retire the old {goal} system once the new one has run for a full quarter.\n"
            )
            questions += [
                rng.choice(
                    [
                        f"Who approved project {name}?",
                        f"What is the budget of project {name}?",
                        f"Which language is project {name} written in?",
                        f"How many engineers work on project {name}?",
                        f"When was project {name} approved?",
                        f"Which service does project {name} rebuild in {city}?",
                    ]
                )
            ]
        (folder / f"projects-{f // per_file:03d}.md").write_text("\n".join(lines), encoding="utf-8")
    return questions


@contextmanager
def burning(count: int, kind: str) -> Iterator[None]:
    """count single-threaded CPU burner processes, always stopped on the way out."""
    env = {**os.environ, **BURNER_ENV}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            procs.append(subprocess.Popen([sys.executable, "-c", BURNERS[kind]], env=env))
        time.sleep(0.5)  # let the scheduler see them as CPU hogs
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Worker:
    """One setting's process: an engine on its own copy of the store, answering on request."""

    def __init__(self, setting: Setting, store: Path, log: Path) -> None:
        self.setting = setting
        self.log = log
        env = {**os.environ, **OFFLINE, **setting.env}
        spec = json.dumps({"threads": setting.threads, "interop": setting.interop, "store": str(store)})
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.busy", "--worker", spec],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.ready = self._reply()

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise RuntimeError(f"worker {self.setting.name!r} died:\n{self.log.read_text(errors='replace')}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def request(self, **message: Any) -> dict[str, Any]:
        """Send one request line, wait for its reply."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def close(self) -> None:
        """Stop the process."""
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def worker_main(spec: dict[str, Any]) -> None:
    """The worker side: load, warm up, then answer requests from stdin until it closes."""
    protocol: IO[str] = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else printed goes to the log, not into the protocol
    import torch

    if spec["interop"]:
        torch.set_num_interop_threads(spec["interop"])
    from retrieval.engine import Engine, EngineConfig
    from retrieval.inference.embedder import Embedder
    from retrieval.store.chunk_store import StoreLocation

    timings: list[float] = []

    class TimedEmbedder(Embedder):
        """Records how long each embed call takes."""

        def embed(
            self, texts: Sequence[str], progress: Callable[[int], None] | None = None
        ) -> list[list[float]]:
            began = time.perf_counter()
            try:
                return super().embed(texts, progress)
            finally:
                timings.append((time.perf_counter() - began) * 1000)

    # The hand-set answerer, as the busy-core figures in BENCHMARKS.md were measured.
    engine = Engine(
        EngineConfig(StoreLocation(Path(spec["store"])), device="cpu", scorer=False), create=False
    )
    embedder = TimedEmbedder(device="cpu", threads=spec["threads"] or torch.get_num_threads())
    engine.embedder = embedder
    for question in SEED_QUESTIONS[:4]:
        engine.ask(question)

    def send(reply: dict[str, Any]) -> None:
        protocol.write(json.dumps(reply) + "\n")
        protocol.flush()

    send({"torch_threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads()})
    for line in sys.stdin:
        request = json.loads(line)
        if "embed" in request:
            began = time.perf_counter()
            embedder.embed(request["embed"])
            send({"seconds": time.perf_counter() - began})
            continue
        ask_ms, embed_ms = [], []
        for question in request["questions"]:
            embedder.forget_recent()
            timings.clear()
            began = time.perf_counter()
            engine.ask(question)
            ask_ms.append((time.perf_counter() - began) * 1000)
            embed_ms.append(sum(timings))
        send({"ask_ms": ask_ms, "embed_ms": embed_ms})


def build_store(corpus: Path, store: Path) -> None:
    """Ingest corpus into a new store (in its own process, so the measuring parent stays light)."""
    from retrieval.engine import Engine, EngineConfig
    from retrieval.store.chunk_store import StoreLocation

    summary = Engine(EngineConfig(StoreLocation(store), device="cpu")).ingest([corpus])
    if summary.failed:
        raise SystemExit(f"ingest failed: {summary.failures}")


@dataclass
class Tally:
    """Everything measured for one setting, per phase."""

    ask: dict[str, list[float]] = field(default_factory=lambda: {"quiet": [], "busy": []})
    embed: dict[str, list[float]] = field(default_factory=lambda: {"quiet": [], "busy": []})
    rate: dict[str, list[float]] = field(default_factory=lambda: {"quiet": [], "busy": []})


def measure(
    workers: list[Worker], questions: list[str], texts: list[str], args: argparse.Namespace
) -> list[Tally]:
    """Interleaved rounds: every worker quiet, then every worker beside the burners; order rotates."""
    tallies = [Tally() for _ in workers]
    share = -(-len(questions) // args.rounds)
    for r in range(args.rounds):
        part = questions[r * share : (r + 1) * share]
        order = list(range(len(workers)))
        order = order[r % len(order) :] + order[: r % len(order)]
        for phase in ("quiet", "busy"):
            with burning(args.burners if phase == "busy" else 0, args.burner):
                for i in order:
                    time.sleep(0.2)  # the previous worker's pool threads go back to sleep
                    reply = workers[i].request(questions=part)
                    tallies[i].ask[phase] += reply["ask_ms"]
                    tallies[i].embed[phase] += reply["embed_ms"]
                    seconds = workers[i].request(embed=texts)["seconds"]
                    tallies[i].rate[phase].append(len(texts) / seconds)
            print(f"round {r + 1}/{args.rounds} {phase} done", file=sys.stderr)
    return tallies


def table(workers: list[Worker], tallies: list[Tally]) -> str:
    """The Markdown table of the results."""
    rows = [
        "| setting | torch threads / interop | quiet p50 / p95 ms | busy p50 / p95 ms | busy/quiet p50 "
        "| busy p50 / best quiet p50 | embed p50 quiet / busy ms | embed sentences/s quiet / busy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    # "Quiet" still has other people's load on shared cores; the best setting's quiet p50 is the fairer base.
    best = min(percentile(t.ask["quiet"], 50) for t in tallies)
    for worker, t in zip(workers, tallies, strict=True):
        q50, q95 = percentile(t.ask["quiet"], 50), percentile(t.ask["quiet"], 95)
        b50, b95 = percentile(t.ask["busy"], 50), percentile(t.ask["busy"], 95)
        rows.append(
            f"| {worker.setting.name} | {worker.ready['torch_threads']} / {worker.ready['interop_threads']} "
            f"| {q50:.1f} / {q95:.1f} | {b50:.1f} / {b95:.1f} | {b50 / q50:.1f}x | {b50 / best:.1f}x "
            f"| {percentile(t.embed['quiet'], 50):.1f} / {percentile(t.embed['busy'], 50):.1f} "
            f"| {percentile(t.rate['quiet'], 50):.0f} / {percentile(t.rate['busy'], 50):.0f} |"
        )
    return "\n".join(rows)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, where the system says them."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main() -> None:
    """Build the store, load every setting's worker, measure interleaved, print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--questions", type=int, default=100, help="questions per phase per setting")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--burner", choices=sorted(BURNERS), default="python")
    parser.add_argument("--paragraphs", type=int, default=300, help="synthetic paragraphs beside seeds/")
    parser.add_argument("--embed-texts", type=int, default=16, help="sentences per embed-speed call")
    parser.add_argument("--only", default="", help="comma-separated setting numbers (1-based) to run")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(json.loads(args.worker))
        return
    if args.build:
        build_store(*args.build)
        return
    settings = [SETTINGS[int(n) - 1] for n in args.only.split(",")] if args.only else SETTINGS
    work = Path(tempfile.mkdtemp(prefix="citebot-busy-"))
    workers: list[Worker] = []
    try:
        corpus = work / "corpus"
        shutil.copytree(ROOT / "seeds", corpus)
        synthetic = synthetic_corpus(corpus, args.paragraphs)
        questions = (SEED_QUESTIONS + random.Random(7).sample(synthetic, len(synthetic)))[: args.questions]
        began = time.perf_counter()
        build = [sys.executable, "-m", "bench.busy", "--build", str(corpus), str(work / "store")]
        subprocess.run(build, env={**os.environ, **OFFLINE}, cwd=ROOT, check=True)
        built = time.perf_counter() - began
        sentences = (s for f in sorted(corpus.glob("projects-*.md")) for s in f.read_text().split(". "))
        texts = [s for s in sentences if s.strip()][: args.embed_texts]
        load_before = load_average()
        for i, setting in enumerate(settings):
            shutil.copytree(work / "store", work / f"store-{i}")
            workers.append(Worker(setting, work / f"store-{i}", work / f"worker-{i}.log"))
        tallies = measure(workers, questions, texts, args)
        load_after = load_average()
    finally:
        for worker in workers:
            worker.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {describe()}")
    print(
        f"store: seeds/ + {args.paragraphs} synthetic paragraphs (ingest {built:.1f} s); {len(questions)} "
        f"questions per phase per setting in {args.rounds} interleaved rounds; busy = {args.burners} "
        f"{args.burner} burner processes; load average before {load_before}, after {load_after}"
    )
    print(f"embed sentences/s: {len(texts)} sentences in one embed call, median of the rounds\n")
    print(table(workers, tallies))


if __name__ == "__main__":
    main()
