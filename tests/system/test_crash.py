"""`citebot ingest` killed part-way (SIGKILL, SIGINT) leaves a consistent store the next run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrieval.engine import Engine
from retrieval.inference.embedder import Embedder
from retrieval.store.chunk_store import DocRecord
from retrieval.text.content import fingerprint
from tests.conftest import make_engine

pytestmark = pytest.mark.slow

CITEBOT = Path(sys.executable).parent / "citebot"
CHUNK_CHARS = 200
FILES = 40
BATCH = 5
WORDS = ["alpha", "beta", "gamma", "delta", "harbour", "ledger", "signal", "orchard", "copper", "violet"]
INTERRUPTED = (
    "Interrupted: files finished so far are indexed, the rest left as they were. "
    "Run the same command again to finish.\n"
)

# Loaded into the `citebot` subprocess through PYTHONPATH: logs each chunk write and manifest commit (one of
# each per batch of BATCH files), and (when asked) stops for good right after the Nth commit.
HOOK = """
import os, time
from retrieval.store.chunk_store import ChunkStore

_log = os.environ["CRASHTEST_LOG"]
_pause = int(os.environ.get("CRASHTEST_PAUSE_AFTER_COMMIT", "0"))
_pause_put = int(os.environ.get("CRASHTEST_PAUSE_AFTER_PUT", "0"))
_kill_after_put = int(os.environ.get("CRASHTEST_KILL_AFTER_PUT", "0"))
_put, _commit = ChunkStore.put_chunks, ChunkStore.commit
_commits = [0]
_puts = [0]


def _write(line):
    with open(_log, "a", encoding="utf-8") as handle:
        handle.write(line + "\\n")


def _stop():
    _write("paused")
    while True:
        time.sleep(0.05)


def put_chunks(self, chunks, vectors):
    _put(self, chunks, vectors)
    _puts[0] += 1
    _write("put " + " ".join(sorted({c.source for c in chunks})))
    if _kill_after_put and _puts[0] == 1:
        os.kill(_kill_after_put, 9)
        time.sleep(0.5)
    if _puts[0] == _pause_put:
        _stop()


def commit(self, records):
    _commit(self, records)
    _commits[0] += 1
    _write("commit " + " ".join(r.source for r in records))
    if _commits[0] == _pause:
        _stop()


ChunkStore.put_chunks, ChunkStore.commit = put_chunks, commit
"""


def names(first: int, stop: int) -> str:
    """The corpus files first..stop-1, as the hook logs them."""
    return " ".join(f"doc{i:02d}.txt" for i in range(first, stop))


def write_corpus(folder: Path) -> Path:
    """Small files of one short sentence each: one chunk, one sentence to embed, per file."""
    folder.mkdir()
    for i in range(FILES):
        words = " ".join(WORDS[(i * 7 + w * w) % len(WORDS)] for w in range(6))
        (folder / f"doc{i:02d}.txt").write_text(f"File {i} says {words}.\n", encoding="utf-8")
    return folder


def start_ingest(
    tmp_path: Path,
    corpus: Path,
    pause_after_commit: int = 0,
    pause_after_put: int = 0,
    work: Path | None = None,
    extra: tuple[str, ...] = (),
    env_extra: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], Path]:
    """Run `citebot ingest CORPUS --store STORE` with the logging hook; return the process and its log.

    work holds the hook, its log, stdout and stderr (default tmp_path), so that two ingests can run at once.
    """
    work = work or tmp_path
    hook = work / "hook"
    hook.mkdir(parents=True)
    (hook / "sitecustomize.py").write_text(HOOK, encoding="utf-8")
    log = work / "ingest.log"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "CITEBOT_CHUNK_CHARS": str(CHUNK_CHARS),
        "CITEBOT_INGEST_BATCH": str(BATCH),
        "PYTHONPATH": str(hook),
        "CRASHTEST_LOG": str(log),
        "CRASHTEST_PAUSE_AFTER_COMMIT": str(pause_after_commit),
        "CRASHTEST_PAUSE_AFTER_PUT": str(pause_after_put),
        **(env_extra or {}),
    }
    with (work / "stdout").open("wb") as stdout, (work / "stderr").open("wb") as stderr:
        process = subprocess.Popen(
            [str(CITEBOT), "ingest", str(corpus), "--store", str(tmp_path / "store"), *extra],
            env=env,
            cwd=tmp_path,
            stdout=stdout,
            stderr=stderr,
        )
    return process, log


def wait_for_line(process: subprocess.Popen[bytes], log: Path, prefix: str, timeout: float = 90) -> list[str]:
    """Poll the hook's log until a line starts with prefix; fail if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        if any(line.startswith(prefix) for line in lines):
            return lines
        if process.poll() is not None:
            output = (log.parent / "stderr").read_text(errors="replace")
            pytest.fail(f"citebot ingest exited ({process.returncode}) before {prefix!r}: {output}")
        time.sleep(0.01)
    process.kill()
    pytest.fail(f"no {prefix!r} in the hook's log after {timeout} s")


def stop_at(process: subprocess.Popen[bytes], log: Path, prefix: str, sig: int) -> tuple[list[str], int]:
    """Once a hook log line starts with prefix, send sig; return the log lines then and the exit code."""
    try:
        lines = wait_for_line(process, log, prefix)
        process.send_signal(sig)
        # Generous: a signalled ingest finishes the embedding call in flight first, which on two cores
        # shared with a benchmark once took over 30 s (a clean-clone CI run beside `make bench`).
        return lines, process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()


def check_consistent(engine: Engine) -> tuple[dict[str, DocRecord], set[str]]:
    """Assert committed files are whole and current and search sees only them; return manifest, orphans."""
    manifest = engine.store.documents()
    present = engine.store.chunk_ids()
    live = {cid for record in manifest.values() for cid in record.chunk_ids}
    assert live <= present, f"manifest names missing chunks: {sorted(live - present)[:5]}"
    for record in manifest.values():
        data = Path(record.path).read_bytes()
        assert fingerprint(data) == record.sha256
        text = data.decode("utf-8")
        stored = engine.store.load_chunks(set(record.chunk_ids))
        assert sorted(c.id for c in stored) == sorted(record.chunk_ids)
        for chunk in stored:
            assert chunk.source == record.source
            assert chunk.text == text[chunk.start : chunk.end]
    assert {c.id for c in engine.corpus.chunks} == live
    return manifest, present - live


def assert_orphans_hidden(engine: Engine, orphans: set[str]) -> None:
    """An orphan's own text finds it in Chroma's dense search, yet the retriever never returns it."""
    orphan = engine.store.load_chunks(orphans)[0]
    vector = engine.embedder.embed_query(orphan.text)
    assert orphan.id in {cid for cid, _ in engine.store.nearest(vector, 10)}
    hits = engine.retriever(k=20).search(orphan.text)
    assert hits
    assert not {h.chunk.id for h in hits} & orphans


def finish_and_check(store: Path, corpus: Path, embedder: Embedder, committed: int) -> None:
    """Re-run ingest in-process: every file indexed, nothing failed, no orphan chunk left."""
    engine = make_engine(store, embedder, chunk_chars=CHUNK_CHARS)
    summary = engine.ingest([corpus])
    assert (summary.added, summary.unchanged, summary.failed) == (FILES - committed, committed, 0)
    manifest, orphans = check_consistent(engine)
    assert len(manifest) == FILES
    assert orphans == set()
    assert engine.store.chunk_ids() == {cid for r in manifest.values() for cid in r.chunk_ids}


def test_sigkill_after_two_batches(tmp_path: Path, embedder: Embedder) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    process, log = start_ingest(tmp_path, corpus, pause_after_commit=2)
    lines, code = stop_at(process, log, "paused", signal.SIGKILL)
    assert code == -signal.SIGKILL
    first, second = names(0, BATCH), names(BATCH, 2 * BATCH)
    assert lines == ["put " + first, "commit " + first, "put " + second, "commit " + second, "paused"]
    engine = make_engine(tmp_path / "store", embedder, chunk_chars=CHUNK_CHARS)
    manifest, orphans = check_consistent(engine)
    assert set(manifest) == set(names(0, 2 * BATCH).split())
    assert orphans == set(), "chunks are written batch by batch, each followed by its commit"
    finish_and_check(tmp_path / "store", corpus, embedder, committed=2 * BATCH)


def test_sigkill_between_chunk_write_and_commit(tmp_path: Path, embedder: Embedder) -> None:
    # Paused right after the third batch's chunks are written, before its commit: those chunks are orphans.
    corpus = write_corpus(tmp_path / "corpus")
    process, log = start_ingest(tmp_path, corpus, pause_after_put=3)
    _, code = stop_at(process, log, "paused", signal.SIGKILL)
    assert code == -signal.SIGKILL
    engine = make_engine(tmp_path / "store", embedder, chunk_chars=CHUNK_CHARS)
    manifest, orphans = check_consistent(engine)
    assert set(manifest) == set(names(0, 2 * BATCH).split())
    assert {c.source for c in engine.store.load_chunks(orphans)} == set(names(2 * BATCH, 3 * BATCH).split())
    assert_orphans_hidden(engine, orphans)
    finish_and_check(tmp_path / "store", corpus, embedder, committed=2 * BATCH)


def test_sigkill_at_a_real_moment(tmp_path: Path, embedder: Embedder) -> None:
    # Eight batches, each an embedding, a chunk write and a commit: killed as soon as the first commit is
    # logged, the process dies somewhere in the batches that follow, sometimes inside a Chroma write.
    corpus = write_corpus(tmp_path / "corpus")
    process, log = start_ingest(tmp_path, corpus)
    _, code = stop_at(process, log, "commit ", signal.SIGKILL)
    assert code == -signal.SIGKILL, "citebot finished before it was killed"
    engine = make_engine(tmp_path / "store", embedder, chunk_chars=CHUNK_CHARS)
    manifest, orphans = check_consistent(engine)
    assert 0 < len(manifest) < FILES, f"not killed mid-way: {len(manifest)} of {FILES} committed"
    if orphans:
        assert_orphans_hidden(engine, orphans)
    finish_and_check(tmp_path / "store", corpus, embedder, committed=len(manifest))


def test_sigint_exits_130_and_keeps_the_store_consistent(tmp_path: Path, embedder: Embedder) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    process, log = start_ingest(tmp_path, corpus, pause_after_commit=2)
    _, code = stop_at(process, log, "paused", signal.SIGINT)
    assert code == 130
    assert (tmp_path / "stderr").read_text(encoding="utf-8") == INTERRUPTED
    assert (tmp_path / "stdout").read_text(encoding="utf-8") == ""
    engine = make_engine(tmp_path / "store", embedder, chunk_chars=CHUNK_CHARS)
    manifest, orphans = check_consistent(engine)
    assert set(manifest) == set(names(0, 2 * BATCH).split())
    assert orphans == set()
    finish_and_check(tmp_path / "store", corpus, embedder, committed=2 * BATCH)
