"""The store records how it was built and refuses what would mix; `ingest --rebuild` is atomic.

Bad input tried: an ingest with CITEBOT_CHUNK_CHARS changed (500 into a store built with 1000); a store whose
build record names another model's weights (sha256) or another dimension (768); a record of a newer store
format (3); a store indexed before build records existed (no record: adopted, not refused); `ingest --rebuild`
SIGKILLed half-way through filling its new generation, then run again.
"""

from __future__ import annotations

import json
import signal
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from retrieval.engine import Engine, EngineConfig
from retrieval.inference.embedder import Embedder
from retrieval.store.build_record import BuildRecord
from retrieval.store.chunk_store import StoreLocation
from tests.conftest import STOCKHOLM, make_engine
from tests.system.test_crash import CHUNK_CHARS, FILES, start_ingest, stop_at, wait_for_line, write_corpus

REBUILD = "run `citebot ingest --rebuild PATH...` to index everything again this way"


def run(*args: str | Path) -> Result:
    """citebot in process (the model is cached per process)."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def error_line(result: Result) -> str:
    """The one `Error:` line of a failed command (no traceback)."""
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def built(store: Path, corpus: Path, embedder: Embedder, chunk_chars: int = 1000) -> Engine:
    """An engine on a store with corpus ingested."""
    engine = make_engine(store, embedder, chunk_chars=chunk_chars)
    engine.ingest([corpus])
    return engine


def rewrite_record(engine: Engine, **changes: object) -> BuildRecord:
    """Overwrite the store's build record (model fields by name, others as they are)."""
    record = engine.store.read_build()
    assert record is not None
    model_fields = {k: v for k, v in changes.items() if k in ("name", "sha256", "variant", "dimension")}
    others = {k: v for k, v in changes.items() if k not in model_fields}
    changed = replace(record, model=replace(record.model, **model_fields), **others)  # type: ignore[arg-type]
    engine.store.write_build(changed)
    return record


def test_a_changed_chunk_size_is_refused_until_rebuilt(
    tmp_path: Path, corpus: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    before = built(store, corpus, embedder).store.documents()
    monkeypatch.setenv("CITEBOT_CHUNK_CHARS", "500")
    refused = run("ingest", corpus, "--store", store)
    assert refused.exit_code == 2
    line = error_line(refused)
    assert "(chunk size 1000 -> 500)" in line and REBUILD in line
    assert make_engine(store, embedder).store.documents() == before, "nothing was written"
    answered = run("ask", STOCKHOLM, "--json", "--store", store)  # asking does not care about chunk size
    assert answered.exit_code == 0, answered.output
    assert json.loads(answered.stdout)["citations"][0]["source"] == "stockholm-talks-editorial.txt"

    rebuilt = run("ingest", "--rebuild", corpus, "--json", "--store", store)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.stdout)["added"] == 3
    status = json.loads(run("status", "--json", "--store", store).stdout)
    assert (status["build"]["chunk_chars"], status["generation"], status["documents"]) == (500, 1, 3)
    assert run("ingest", corpus, "--json", "--store", store).exit_code == 0
    engine = make_engine(store, embedder, chunk_chars=500)
    assert engine.store.generations().present == {1}, "the replaced generation was dropped"
    citation = engine.ask(STOCKHOLM).citations[0]
    assert citation.source == "stockholm-talks-editorial.txt"
    vector = embedder.embed_query(STOCKHOLM)
    assert {cid for cid, _ in engine.store.nearest(vector, 3)} <= {c.id for c in engine.corpus.chunks}


def test_another_model_or_dimension_is_refused_before_answering(
    tmp_path: Path, corpus: Path, embedder: Embedder
) -> None:
    store = tmp_path / "store"
    engine = built(store, corpus, embedder)
    cid = engine.ask(STOCKHOLM).citations[0].id
    for changes, differs in (
        ({"sha256": "0" * 64}, "model weights sha256 000000000000 -> "),
        ({"dimension": 768}, "dimension 768 -> 384"),
    ):
        record = rewrite_record(engine, **changes)
        asked = run("ask", STOCKHOLM, "--store", store)
        assert asked.exit_code == 2
        line = error_line(asked)
        assert differs in line and REBUILD in line
        assert run("cite", cid, "--store", store).exit_code == 0, "cite needs no model"
        engine.store.write_build(record)
    assert run("ask", STOCKHOLM, "--store", store).exit_code == 0


def test_a_newer_store_format_is_refused_and_rebuild_sets_it_aside(
    tmp_path: Path, corpus: Path, embedder: Embedder
) -> None:
    store = tmp_path / "store"
    rewrite_record(built(store, corpus, embedder), store_format=3)
    for args in (["status"], ["ask", STOCKHOLM]):
        result = run(*args, "--store", store)
        assert result.exit_code == 2
        assert "has store format 3, newer than this citebot reads (2); use the citebot that built it" in (
            error_line(result)
        )
    rebuilt = run("ingest", "--rebuild", corpus, "--store", store)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "The damaged store files were moved to" in rebuilt.stderr
    assert json.loads(run("status", "--json", "--store", store).stdout)["build"]["store_format"] == 2


def test_a_store_without_a_record_is_adopted_as_fp32(
    tmp_path: Path, corpus: Path, embedder: Embedder
) -> None:
    store = tmp_path / "store"
    engine = built(store, corpus, embedder)
    engine.store.docs.modify(metadata={"last_ingest": "2026-01-01T00:00:00+00:00"})  # as before records
    status = run("status", "--store", store)
    assert status.exit_code == 0
    assert "Built with:    not recorded yet (taken as this model in fp32" in status.stdout
    opened = Engine(EngineConfig(StoreLocation(store), device="cpu"), create=False)
    assert opened.store.build is None and opened.embedder.requested_variant == "fp32"
    assert make_engine(store, embedder).ingest([corpus]).unchanged == 3
    record = make_engine(store, embedder).store.read_build()
    assert record is not None and record.chunk_chars == 1000


@pytest.mark.slow
def test_rebuild_killed_half_way_keeps_the_old_index_and_a_rerun_completes(
    tmp_path: Path, corpus: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    built(store, corpus, embedder, chunk_chars=CHUNK_CHARS)
    new = write_corpus(tmp_path / "new")
    # The crash tests' hook pauses the subprocess for good after its second commit into the new generation.
    process, log = start_ingest(tmp_path, new, pause_after_commit=2, extra=("--rebuild",))
    try:
        wait_for_line(process, log, "paused")
        reader = make_engine(store, embedder)  # while the rebuild holds the writer lock, half done
        assert reader.store.generation == 0 and reader.store.generations().leftovers() == [1]
        assert reader.ask(STOCKHOLM).citations[0].source == "stockholm-talks-editorial.txt"
    finally:
        _, code = stop_at(process, log, "paused", signal.SIGKILL)
    assert code == -signal.SIGKILL
    old = make_engine(store, embedder)
    assert len(old.store.documents()) == 3
    citation = old.ask(STOCKHOLM).citations[0]
    assert old.cite(citation.id).quote == citation.quote

    monkeypatch.setenv("CITEBOT_CHUNK_CHARS", str(CHUNK_CHARS))
    rerun = run("ingest", "--rebuild", new, "--json", "--store", store)
    assert rerun.exit_code == 0, rerun.output
    assert json.loads(rerun.stdout)["added"] == FILES
    engine = make_engine(store, embedder, chunk_chars=CHUNK_CHARS)
    assert engine.store.generation > 0
    assert engine.store.generations().present == {engine.store.generation}, "leftovers dropped"
    assert len(engine.store.documents()) == FILES
    sources = {c.source for c in engine.ask("What does file 7 say?").passages}
    assert sources and all(s.startswith("doc") for s in sources)
    status = run("status", "--store", store).stdout
    assert f"Chunk size:    {CHUNK_CHARS} characters\nChunker:       version 1\nStore format:  2" in status
