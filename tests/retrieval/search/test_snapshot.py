"""The live snapshot: a running engine answers from another process's ingest, each answer from one version.

Another process is a real `citebot ingest` subprocess: in one process Chroma shares one client per folder,
which would hide the case that matters (an embedded client never loads another process's new vectors).
Bad input tried: a manifest whose version is not a number, a store from before versions (none recorded),
a store rebuilt into a new generation under a running reader, a document deleted by another process,
a vector index whose warm-up query fails, a store without a build record (nothing to warm).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from retrieval.engine import Engine
from retrieval.inference.embedder import Embedder
from retrieval.store.chunk_store import ChunkStore
from retrieval.store.version import VERSION
from tests.bot.test_repl import CITEBOT, child_env, enter, start, terminal
from tests.conftest import SEED_FILE, STOCKHOLM, make_engine
from tests.helpers.chroma_server import running_chroma

GLACIER = "Where is the Ostrava field station's glacier camp?"
GLACIER_TEXT = (
    "# Field station\n\nThe Ostrava field station keeps its glacier camp on the Hofsjokull ice cap.\n\n"
    "Supplies reach the camp by snowmobile every second Tuesday.\n"
)


def ingest_elsewhere(tmp_path: Path, store: Path, *args: str | Path) -> None:
    """`citebot ingest` in its own process, as a second user or a cron job would run it."""
    env = child_env(tmp_path, SEED_FILE.parent, CITEBOT_STORE=str(store))
    done = subprocess.run(
        [str(CITEBOT), "ingest", *map(str, args)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def sources(engine: Engine, question: str) -> set[str]:
    """The files an answer cites."""
    return {c.source for c in engine.ask(question).citations}


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """Two document folders: the seed document, and a note the store does not hold yet."""
    seeds, extra = tmp_path / "seeds", tmp_path / "extra"
    seeds.mkdir()
    extra.mkdir()
    shutil.copy(SEED_FILE, seeds / SEED_FILE.name)
    return seeds, extra


def test_engine_answers_from_another_process_ingest_with_its_vectors(
    tmp_path: Path, embedder: Embedder, folders: tuple[Path, Path]
) -> None:
    """A new file ingested by another process is answered, found by meaning too (its vectors are seen)."""
    seeds, extra = folders
    engine = make_engine(tmp_path / "store", embedder)
    engine.ingest([seeds])
    before = engine.snapshot()
    assert "station.md" not in sources(engine, GLACIER)
    (extra / "station.md").write_text(GLACIER_TEXT, encoding="utf-8")
    ingest_elsewhere(tmp_path, tmp_path / "store", extra)

    assert sources(engine, GLACIER) == {"station.md"}
    after = engine.snapshot()
    assert after.version != before.version
    new_ids = [c.id for c in after.corpus.chunks if c.source == "station.md"]
    assert new_ids
    # BM25 alone could find the note; the dense index must hold its vector too, or the client is stale.
    vector = embedder.embed_query("glacier camp on the ice cap")
    assert new_ids[0] in {cid for cid, _ in after.store.nearest(vector, 3)}
    # A question already running keeps its version whole: the old snapshot still lacks the note.
    assert "station.md" not in {c.source for c in before.corpus.chunks}
    assert not before.chain.invoke({"text": GLACIER, "history": []}).citations
    assert before.chain.invoke({"text": STOCKHOLM, "history": []}).citations


def test_unchanged_store_keeps_its_snapshot_and_own_ingest_reuses_the_writer(
    tmp_path: Path, embedder: Embedder, folders: tuple[Path, Path]
) -> None:
    """No commit: the same snapshot object answers; this engine's own ingest needs no store reopened."""
    seeds, extra = folders
    engine = make_engine(tmp_path / "store", embedder)
    engine.ingest([seeds])
    first = engine.snapshot()
    assert engine.snapshot() is first
    engine.ingest([seeds])  # nothing changed: no commit, no new version
    assert engine.snapshot() is first
    (extra / "station.md").write_text(GLACIER_TEXT, encoding="utf-8")
    engine.ingest([extra])
    second = engine.snapshot()
    assert second is not first and second.store is engine.store
    assert sources(engine, GLACIER) == {"station.md"}


def test_deletion_and_rebuild_by_another_process_are_followed(
    tmp_path: Path, embedder: Embedder, folders: tuple[Path, Path]
) -> None:
    """A file removed elsewhere stops being quoted; a rebuild elsewhere (a new generation) is followed."""
    seeds, extra = folders
    (extra / "station.md").write_text(GLACIER_TEXT, encoding="utf-8")
    engine = make_engine(tmp_path / "store", embedder)
    engine.ingest([seeds])
    engine.ingest([extra])
    assert sources(engine, GLACIER) == {"station.md"}
    generation = engine.snapshot().store.generation

    ingest_elsewhere(tmp_path, tmp_path / "store", "--rebuild", seeds, extra)
    snapshot = engine.snapshot()
    assert snapshot.store.generation != generation
    assert sources(engine, GLACIER) == {"station.md"}

    (extra / "station.md").unlink()
    ingest_elsewhere(tmp_path, tmp_path / "store", extra)
    assert "station.md" not in {c.source for c in engine.snapshot().corpus.chunks}
    assert "station.md" not in sources(engine, GLACIER)


def test_a_version_that_is_not_a_number_or_missing_reads_as_zero(
    tmp_path: Path, embedder: Embedder, folders: tuple[Path, Path]
) -> None:
    """A damaged or absent version (a store from before versions) neither crashes a question nor an ingest."""
    seeds, extra = folders
    engine = make_engine(tmp_path / "store", embedder)
    engine.ingest([seeds])
    metadata = dict(engine.store.docs.metadata or {})
    engine.store.docs.modify(metadata={**metadata, VERSION: "garbage"})
    assert engine.store.committed_version() == f"{engine.store.generation}.0"
    assert engine.ask("What did the US offer in Stockholm?").citations
    (extra / "station.md").write_text(GLACIER_TEXT, encoding="utf-8")
    engine.ingest([extra])
    assert engine.store.committed_version() == f"{engine.store.generation}.1"
    assert sources(engine, GLACIER) == {"station.md"}


def test_engines_on_one_chroma_server_see_each_other(
    tmp_path: Path, embedder: Embedder, folders: tuple[Path, Path]
) -> None:
    """Two engines against one `chroma run`: what one ingests, the other answers at its next question."""
    seeds, extra = folders
    with running_chroma(tmp_path / "server") as url:
        reader = make_engine(tmp_path / "reader-cache", embedder, chroma_url=url)
        writer = make_engine(tmp_path / "writer-cache", embedder, chroma_url=url)
        writer.ingest([seeds])
        assert "station.md" not in sources(reader, GLACIER)
        (extra / "station.md").write_text(GLACIER_TEXT, encoding="utf-8")
        writer.ingest([extra])
        assert sources(reader, GLACIER) == {"station.md"}
        assert reader.snapshot().store is reader.store, "a server client needs no reopening"


def test_a_running_repl_answers_from_another_process_ingest(
    tmp_path: Path, embedder: Embedder, folders: tuple[Path, Path]
) -> None:
    """The REPL, open before the ingest, quotes the new file at its very next question."""
    seeds, extra = folders
    make_engine(tmp_path / "store", embedder).ingest([seeds])
    env = child_env(tmp_path, seeds, CITEBOT_STORE=str(tmp_path / "store"))
    with terminal(["repl"], env, tmp_path) as child:
        start(child)
        assert "station.md" not in enter(child, GLACIER, "could not find")
        (extra / "station.md").write_text(GLACIER_TEXT, encoding="utf-8")
        ingest_elsewhere(tmp_path, tmp_path / "store", extra)
        screen = enter(child, GLACIER, "Hofsjokull")
        assert "station.md" in screen


@pytest.fixture
def seeded(tmp_path: Path, embedder: Embedder, folders: tuple[Path, Path]) -> Engine:
    """An engine with the seed document ingested."""
    engine = make_engine(tmp_path / "store", embedder)
    engine.ingest([folders[0]])
    return engine


def test_opening_a_version_warms_its_vectors_in_a_thread_that_ends_with_it(
    seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chroma's vector index is loaded beside the corpus's opening, in a thread joined before it returns."""
    engine = seeded
    warmed: list[str] = []
    real = ChunkStore.warm_vectors

    def spied(store: ChunkStore) -> None:
        warmed.append(threading.current_thread().name)
        real(store)

    monkeypatch.setattr(ChunkStore, "warm_vectors", spied)
    assert engine.ask(STOCKHOLM).citations
    assert warmed == ["citebot-warm"]
    assert not [t for t in threading.enumerate() if t.name == "citebot-warm"]


class FailingChunks:
    """A Chroma collection whose every query fails (a server gone, a damaged index)."""

    def query(self, **_: object) -> None:
        raise RuntimeError("the vector index is unreadable")


def test_a_failing_warm_up_raises_nothing_and_a_store_without_a_build_skips_it(
    seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warm-up is only a head start: its failure is left to the question's own search to report."""
    engine = seeded
    monkeypatch.setattr(engine.store, "chunks", FailingChunks())
    engine.store.warm_vectors()  # no exception
    monkeypatch.setattr(engine.store, "build", None)
    monkeypatch.setattr(FailingChunks, "query", lambda *_, **__: pytest.fail("queried without a build"))
    engine.store.warm_vectors()
