"""Ingest into an embedded store and a real Chroma server: incremental runs, exact citations, bad input."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from retrieval.engine import Engine, EngineConfig
from retrieval.errors import InputError, StoreError
from retrieval.inference.embedder import Embedder
from retrieval.store.chunk_store import StoreLocation
from tests.conftest import STOCKHOLM, make_engine
from tests.helpers.chroma_server import running_chroma

OpenEngine = Callable[[str], Engine]
QUESTIONS = [
    STOCKHOLM,
    "When is the coffee machine descaled?",
    "Who is the release manager?",
    "When does release 2.4 ship?",
    "Where are the decaf beans kept?",
]


class MemoEmbedder(Embedder):
    """The session's real model, remembering each text's vector: repeated ingests of a corpus are cheap."""

    def __init__(self, real: Embedder) -> None:
        super().__init__(real.model, real.device, real.batch_size)
        self._encoder = real._load()
        self.memo: dict[str, list[float]] = {}

    def embed(self, texts: Sequence[str], progress: Any = None) -> list[list[float]]:
        """Vectors from the memo, the model computing only texts not seen before."""
        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        self.memo.update(zip(missing, super().embed(missing), strict=True))
        if progress:
            progress(len(texts))
        return [self.memo[t] for t in texts]


@pytest.fixture(scope="module")
def memo(embedder: Embedder) -> MemoEmbedder:
    """One memoising wrapper over the shared model for this module."""
    return MemoEmbedder(embedder)


@pytest.fixture
def engine(engine: Engine, memo: MemoEmbedder) -> Engine:
    """conftest's engine on a fresh embedded store, embedding through the memo."""
    engine.embedder = memo
    return engine


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real Chroma server for the whole session, stopped at the end."""
    with running_chroma(tmp_path_factory.mktemp("chroma-server")) as url:
        yield url


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.slow)])
def backend(request: pytest.FixtureRequest, tmp_path: Path, memo: MemoEmbedder) -> OpenEngine:
    """Opens an engine by store name: an embedded folder, or a collection of its own on the Chroma server."""
    if request.param == "embedded":
        return lambda name: make_engine(tmp_path / name, memo)
    url: str = request.getfixturevalue("chroma_url")
    prefix = f"t{uuid.uuid4().hex[:12]}"

    def open_server(name: str) -> Engine:
        location = StoreLocation(tmp_path / name, url, f"{prefix}-{name}")
        engine = Engine(EngineConfig(location, device="cpu"))
        engine.embedder = memo
        return engine

    return open_server


def read_exact(path: str) -> str:
    """A file's text as citations index it."""
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


def count_embedded(monkeypatch: pytest.MonkeyPatch, engine: Engine) -> list[int]:
    """Wrap the engine's embedder so each call records how many texts it embedded."""
    calls: list[int] = []
    real = engine.embedder.embed

    def embed(texts: Sequence[str], progress: Any = None) -> list[list[float]]:
        calls.append(len(texts))
        return real(texts, progress=progress)

    monkeypatch.setattr(engine.embedder, "embed", embed)
    return calls


def chunks_of(engine: Engine, source: str) -> set[str]:
    """The chunk ids the manifest names for one file."""
    return set(engine.store.documents()[source].chunk_ids)


def test_first_ingest_adds_every_file(backend: OpenEngine, corpus: Path) -> None:
    engine = backend("store")
    summary = engine.ingest([corpus])
    assert (summary.added, summary.updated, summary.unchanged, summary.removed, summary.failed) == (
        3,
        0,
        0,
        0,
        0,
    )
    assert summary.chunks > 0
    manifest = engine.store.documents()
    assert set(manifest) == {"stockholm-talks-editorial.txt", "coffee.md", "notes/release.txt"}
    assert sum(len(r.chunk_ids) for r in manifest.values()) == summary.chunks


def test_second_run_embeds_nothing(
    backend: OpenEngine, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = backend("store")
    engine.ingest([corpus])
    before = engine.store.chunk_ids()
    calls = count_embedded(monkeypatch, engine)
    summary = engine.ingest([corpus])
    assert (summary.added, summary.updated, summary.unchanged, summary.removed, summary.failed) == (
        0,
        0,
        3,
        0,
        0,
    )
    assert summary.chunks == 0
    assert sum(calls) == 0, f"texts embedded on an unchanged corpus: {calls}"
    assert engine.store.chunk_ids() == before


def test_changed_file_replaces_its_chunks(backend: OpenEngine, corpus: Path) -> None:
    engine = backend("store")
    engine.ingest([corpus])
    old = chunks_of(engine, "coffee.md")
    (corpus / "coffee.md").write_text(
        "# Coffee\n\nThe espresso grinder was replaced by a hand-cranked burr mill in April.\n",
        encoding="utf-8",
    )
    summary = engine.ingest([corpus])
    assert (summary.added, summary.updated, summary.unchanged, summary.removed) == (0, 1, 2, 0)
    new = chunks_of(engine, "coffee.md")
    present = engine.store.chunk_ids()
    assert not old & present, "the old version's chunks are still in the store"
    assert new <= present
    answer = engine.ask("What replaced the espresso grinder?")
    assert not answer.abstained
    assert answer.citations[0].source == "coffee.md"
    assert "burr mill" in answer.citations[0].quote
    assert all("descaled" not in p.text for p in answer.passages)


def test_deleted_file_is_removed(backend: OpenEngine, corpus: Path) -> None:
    engine = backend("store")
    engine.ingest([corpus])
    gone = chunks_of(engine, "notes/release.txt")
    (corpus / "notes" / "release.txt").unlink()
    summary = engine.ingest([corpus])
    assert (summary.removed, summary.unchanged, summary.failed) == (1, 2, 0)
    assert "notes/release.txt" not in engine.store.documents()
    assert not gone & engine.store.chunk_ids()
    assert engine.status()["documents"] == 2


def test_citations_quote_the_files_exactly(backend: OpenEngine, corpus: Path) -> None:
    engine = backend("store")
    engine.ingest([corpus])
    cited = 0
    for question in QUESTIONS:
        answer = engine.ask(question)
        assert answer.passages, question
        for passage in answer.passages:
            assert passage.text == read_exact(passage.path)[passage.start : passage.end]
        for citation in answer.citations:
            assert citation.quote == read_exact(citation.path)[citation.start : citation.end]
            cited += 1
    assert cited >= len(QUESTIONS)


def test_stockholm_answered_and_world_cup_abstained(backend: OpenEngine, corpus: Path) -> None:
    engine = backend("store")
    engine.ingest([corpus])
    answer = engine.ask(STOCKHOLM)
    assert not answer.abstained
    assert "lift certain sanctions" in answer.citations[0].quote
    unknown = engine.ask("Who won the 2018 World Cup?")
    assert unknown.abstained
    assert unknown.citations == []


def test_chunk_ids_are_deterministic(backend: OpenEngine, corpus: Path) -> None:
    first, second = backend("one"), backend("two")
    first.ingest([corpus])
    second.ingest([corpus])
    ids = first.store.chunk_ids()
    assert ids
    assert ids == second.store.chunk_ids()
    assert {k: v.chunk_ids for k, v in first.store.documents().items()} == {
        k: v.chunk_ids for k, v in second.store.documents().items()
    }


def test_status_counts(backend: OpenEngine, corpus: Path) -> None:
    engine = backend("store")
    empty = engine.status()
    assert (empty["documents"], empty["chunks"], empty["last_ingested"]) == (0, 0, None)
    summary = engine.ingest([corpus])
    status = engine.status()
    assert status["documents"] == 3
    assert status["chunks"] == summary.chunks == len(engine.store.chunk_ids())
    assert status["last_ingested"]
    assert engine.config.location.collection in status["store"]


def test_bad_files_are_reported_and_the_rest_ingested(engine: Engine, corpus: Path) -> None:
    """Bad input: x.txt with NUL bytes, latin1.txt in Latin-1, y.txt a symlink to /proc/self/mem.

    The link is never followed (it leads outside the folder), so it is skipped with its reason, not read.
    """
    (corpus / "x.txt").write_bytes(b"binary\x00\x01\x02 data")
    (corpus / "latin1.txt").write_bytes("Café crème, déjà vu.".encode("latin-1"))
    os.symlink("/proc/self/mem", corpus / "y.txt")
    summary = engine.ingest([corpus])
    assert (summary.added, summary.failed, summary.skipped) == (3, 2, 1)
    failures = sorted(summary.failures)
    assert failures[0].startswith("latin1.txt: not UTF-8")
    assert failures[1].startswith("x.txt: binary")
    assert summary.skips == [
        "y.txt: a symbolic link that leads outside the ingested folder (links are not followed)"
    ]
    assert set(engine.store.documents()) == {
        "stockholm-talks-editorial.txt",
        "coffee.md",
        "notes/release.txt",
    }


def test_missing_path_is_input_error(engine: Engine, tmp_path: Path) -> None:
    """Bad input: a path that does not exist."""
    missing = tmp_path / "no-such-folder"
    with pytest.raises(InputError, match=r"No such file or folder: .*no-such-folder"):
        engine.ingest([missing])
    assert engine.store.documents() == {}


def test_foreign_folder_is_refused_untouched(memo: MemoEmbedder, tmp_path: Path) -> None:
    """Bad input: --store pointing at a non-empty folder that is not a citebot store."""
    foreign = tmp_path / "photos"
    (foreign / "2019").mkdir(parents=True)
    (foreign / "2019" / "beach.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (foreign / "notes.txt").write_text("keep me\n", encoding="utf-8")
    before = {p: p.read_bytes() for p in foreign.rglob("*") if p.is_file()}
    with pytest.raises(StoreError) as caught:
        make_engine(foreign, memo)
    assert str(caught.value) == (
        f"{foreign} is not a citebot store (no citebot-store.json); "
        "choose another --store or remove that folder"
    )
    assert sorted(foreign.rglob("*")) == sorted([foreign / "2019", *before])
    assert {p: p.read_bytes() for p in before} == before


def test_garbage_database_is_store_error(memo: MemoEmbedder, tmp_path: Path, corpus: Path) -> None:
    """Bad input: a store whose chroma/chroma.sqlite3 was overwritten with garbage bytes."""
    store = tmp_path / "store"
    make_engine(store, memo).ingest([corpus])
    (store / "chroma" / "chroma.sqlite3").write_bytes(b"this is not sqlite " * 500)
    with pytest.raises(StoreError) as caught:
        make_engine(store, memo)
    message = str(caught.value)
    assert message.startswith(f"The store at {store} is damaged or not readable: ")
    assert "not a database" in message


def test_indexed_file_turned_non_utf8_keeps_old_version(engine: Engine, corpus: Path) -> None:
    """Bad input: an indexed coffee.md rewritten as Latin-1 bytes."""
    engine.ingest([corpus])
    record = engine.store.documents()["coffee.md"]
    (corpus / "coffee.md").write_bytes("# Café\n\nLe café est détartré le lundi.\n".encode("latin-1"))
    summary = engine.ingest([corpus])
    assert (summary.failed, summary.unchanged, summary.removed, summary.updated) == (1, 2, 0, 0)
    assert summary.failures[0].startswith("coffee.md: not UTF-8")
    assert engine.store.documents()["coffee.md"] == record
    assert set(record.chunk_ids) <= engine.store.chunk_ids()
    answer = engine.ask("When is the coffee machine descaled?")
    assert not answer.abstained
    assert answer.citations[0].source == "coffee.md"
    assert "Friday" in answer.citations[0].quote
