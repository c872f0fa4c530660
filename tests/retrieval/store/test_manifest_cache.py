"""The manifest file beside the store: used while its version is the committed one, never after a commit.

Bad input tried: a file of garbage, one of valid JSON in the wrong shape, one naming the right version but
fewer records, a stale one after an ingest that changed a file in place (same count, new version), a file
whose folder cannot be written (a read-only store), and a store with a damaged manifest record.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.engine import Engine
from retrieval.inference.embedder import Embedder
from retrieval.store.manifest_cache import ManifestCache
from tests.conftest import make_engine

ROTA = "The night porter of the glassworks is Ilse Brandt.\n"


@pytest.fixture
def engine(tmp_path: Path, embedder: Embedder) -> Engine:
    """An engine over two small files, ingested."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rota.txt").write_text(ROTA, encoding="utf-8")
    (docs / "lunch.txt").write_text("Lunch is served from noon in the canteen.\n", encoding="utf-8")
    engine = make_engine(tmp_path / "store", embedder)
    engine.ingest([docs])
    return engine


def cache_of(engine: Engine, notices: list[str] | None = None) -> ManifestCache:
    """The manifest cache of the engine's store, its notices kept."""
    return ManifestCache(engine.store, (notices if notices is not None else []).append)


def test_a_second_opening_reads_the_file_not_the_store(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = cache_of(engine).read()
    assert set(first) == {"rota.txt", "lunch.txt"} and cache_of(engine).path.is_file()

    def no_store_reads() -> None:
        raise AssertionError("the manifest was read from the store")

    monkeypatch.setattr(engine.store, "documents", no_store_reads)
    assert cache_of(engine).read() == first


def test_a_commit_makes_the_file_stale(engine: Engine, tmp_path: Path) -> None:
    cache_of(engine).read()
    before = json.loads(cache_of(engine).path.read_text(encoding="utf-8"))
    (tmp_path / "docs" / "rota.txt").write_text("The night porter is now Jonas Berg.\n", encoding="utf-8")
    engine.ingest([tmp_path / "docs"])  # the same two files: same count, a new version
    records = cache_of(engine).read()
    old_rota = next(r for r in before["records"] if r["source"] == "rota.txt")
    assert records["rota.txt"].sha256 != old_rota["sha256"]
    assert records == engine.store.documents()
    after = json.loads(cache_of(engine).path.read_text(encoding="utf-8"))
    assert after["version"] != before["version"] and after["count"] == before["count"] == 2
    assert any("Jonas Berg" in c.text for c in engine.corpus.chunks)


@pytest.mark.parametrize(
    "content",
    [b"\x00garbage{", b'{"format": 1}', b"[1, 2]"],
    ids=["garbage", "no version", "a list"],
)
def test_a_damaged_file_is_read_around_with_a_notice(engine: Engine, content: bytes) -> None:
    cache = cache_of(engine)
    cache.path.parent.mkdir(parents=True, exist_ok=True)
    cache.path.write_bytes(content)
    notices: list[str] = []
    assert cache_of(engine, notices).read() == engine.store.documents()
    assert len(notices) == 1 and "manifest cache" in notices[0] and "read from the store" in notices[0]
    assert json.loads(cache.path.read_text(encoding="utf-8"))["count"] == 2  # written anew


def test_a_file_short_of_records_is_not_used(engine: Engine) -> None:
    cache = cache_of(engine)
    cache.read()
    data = json.loads(cache.path.read_text(encoding="utf-8"))
    data["records"] = data["records"][:1]
    cache.path.write_text(json.dumps(data), encoding="utf-8")
    assert set(cache_of(engine).read()) == {"rota.txt", "lunch.txt"}


def test_a_read_only_store_writes_no_file(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """As test_lexical_persist does: the tests run as root, whom no file mode stops."""
    cache = cache_of(engine)
    cache.path.unlink(missing_ok=True)
    monkeypatch.setattr(engine.store, "read_only", True)
    assert set(cache.read()) == {"rota.txt", "lunch.txt"}
    assert not cache.path.exists()


def test_a_damaged_record_is_never_cached(engine: Engine) -> None:
    written = cache_of(engine).path.read_bytes()  # by the ingest's last step, before the damage
    engine.store.docs.upsert(ids=["broken.txt"], metadatas=[{"source": "broken.txt"}], embeddings=[[1.0]])
    assert "broken.txt" not in cache_of(engine).read() and engine.store.damaged == ["broken.txt"]
    assert cache_of(engine).path.read_bytes() == written, "not rewritten with the damaged store's records"
