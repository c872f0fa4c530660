"""The persisted BM25 index: written by the first opening of a content, memory-mapped by every later one.

Bad input tried: the index folder deleted; its score array truncated to half; its vocabulary overwritten
with garbage of the same size; its meta.json overwritten with garbage; its id list naming other chunks; a
writer process killed (SIGKILL) after saving the arrays but before the rename, its partial folder left
behind; a read-only store; a new version ingested under a reader that had mapped the old index, and that
old index then pruned (unlinked) under it. Each time the index answers exactly as one built from scratch
(same positions, same scores, same order of ties), with one notice where the index was damaged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from retrieval.corpus import Corpus
from retrieval.engine import Engine
from retrieval.lexical import LexicalIndex
from retrieval.lexical_store import IDS, META, PARTIAL, LexicalStore
from retrieval.store import ChunkStore
from retrieval.token_cache import TokenCache
from tests.test_token_cache import from_scratch

QUERIES = [
    "What did the US offer in Stockholm?",
    "coffee machine descaled Friday",
    "release manager Priya",
    "tundra caribou migration",
    "zebra",
]
TWIN = "The tundra caribou migration crosses the river in late May, counted by the survey team.\n"


def persisted(engine: Engine) -> LexicalStore:
    """The engine's collection's persisted indexes."""
    return LexicalStore(engine.config.location.path, engine.config.location.collection)


def assert_same_as_fresh(corpus: Corpus) -> None:
    """Every query ranks and scores every chunk as an index built from scratch does, ties in its order."""
    reference = from_scratch(corpus)
    assert corpus.lexical.size == reference.size == len(corpus)
    for query in QUERIES:
        assert corpus.lexical.search(query, len(corpus)) == reference.search(query, len(corpus)), query
        assert np.array_equal(corpus.lexical.scores(query), reference.scores(query)), query
    assert dict(corpus.lexical.df) == dict(reference.df)
    for word in [*reference.df, "zebra"]:
        assert corpus.lexical.idf(word) == reference.idf(word)


def mapped(index: LexicalIndex) -> bool:
    """Whether the index's arrays are memory-mapped files (read from disk, not built)."""
    return all(isinstance(index.bm25.scores[k], np.memmap) for k in ("data", "indices", "indptr"))


@pytest.fixture
def indexed(engine: Engine, corpus: Path) -> Iterator[Engine]:
    """The small corpus plus three files of one identical chunk each (ties), ingested."""
    for twin in ("north", "south", "east"):
        (corpus / twin).mkdir()
        (corpus / twin / "caribou.txt").write_text(TWIN, encoding="utf-8")
    engine.ingest([corpus])
    yield engine


def test_the_persisted_index_equals_a_fresh_build_ties_included(indexed: Engine) -> None:
    """The first opening builds and writes it; the second maps it; both rank as a fresh build does."""
    first = Corpus(indexed.store)
    assert not mapped(first.lexical)
    [entry] = persisted(indexed).entries()
    assert entry.name.startswith(f"v{indexed.store.seen_version}-")
    again = Corpus(indexed.store)
    assert mapped(again.lexical)
    tied = [s for _, s in again.lexical.search("tundra caribou", 10)]
    assert len(tied) >= 3 and tied[0] == tied[1] == tied[2], "the three twins tie"
    assert_same_as_fresh(first)
    assert_same_as_fresh(again)


def test_reopening_reads_no_word_cache_and_builds_nothing(
    indexed: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the index persisted, the word cache can be deleted: opening neither reads it nor builds BM25."""
    Corpus(indexed.store)
    cache = TokenCache(indexed.config.location.path, indexed.config.location.collection)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{cache.path}{suffix}").unlink(missing_ok=True)

    def refused(*_: object) -> None:
        raise AssertionError("opening read words or built an index")

    monkeypatch.setattr(TokenCache, "get", refused)
    monkeypatch.setattr(LexicalIndex, "from_words", refused)
    monkeypatch.setattr(indexed.store, "get_chunks", refused)
    opened = Corpus(indexed.store)
    assert mapped(opened.lexical)
    assert not cache.path.exists()
    monkeypatch.undo()
    assert_same_as_fresh(opened)


def damage(entry: Path, how: str) -> None:
    """Damage one persisted index folder as a failing disk or a stray write would."""
    if how == "truncated":
        data = entry / "data.csc.index.npy"
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    elif how == "vocabulary garbage":
        vocabulary = entry / "vocab.index.json"
        vocabulary.write_bytes(b"\xff" * vocabulary.stat().st_size)
    elif how == "meta garbage":
        (entry / META).write_bytes(b"not json {")
    elif how == "other ids":
        ids = entry / IDS
        ids.write_bytes(b"x" * ids.stat().st_size)


@pytest.mark.parametrize("how", ["truncated", "vocabulary garbage", "meta garbage", "other ids"])
def test_a_damaged_index_is_rebuilt_with_a_notice(indexed: Engine, how: str) -> None:
    """Damage is named in one notice, the folder replaced by a good one, the answers unchanged."""
    Corpus(indexed.store)
    [entry] = persisted(indexed).entries()
    damage(entry, how)
    notices: list[str] = []
    rebuilt = Corpus(indexed.store, notices.append)
    assert len(notices) == 1 and "unreadable" in notices[0] and str(entry) in notices[0], notices
    assert not mapped(rebuilt.lexical)
    assert_same_as_fresh(rebuilt)
    later: list[str] = []
    assert mapped(Corpus(indexed.store, later.append).lexical) and not later


def test_a_missing_index_is_rebuilt_quietly(indexed: Engine) -> None:
    """A deleted index folder (or a store from before it) is built again and persisted, no notice."""
    Corpus(indexed.store)
    shutil.rmtree(persisted(indexed).folder)
    notices: list[str] = []
    rebuilt = Corpus(indexed.store, notices.append)
    assert not notices and len(persisted(indexed).entries()) == 1
    assert_same_as_fresh(rebuilt)


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
import bm25s
from retrieval.corpus import Corpus
from retrieval.store import ChunkStore, StoreLocation

real_save = bm25s.BM25.save

def save_then_die(self, *args, **kwargs):
    real_save(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

bm25s.BM25.save = save_then_die
Corpus(ChunkStore(StoreLocation(Path(sys.argv[1]), collection=sys.argv[2]), create=False))
"""


def test_a_writer_killed_midway_leaves_the_old_index_served_and_its_partial_cleaned(
    indexed: Engine, corpus: Path
) -> None:
    """SIGKILL between saving the arrays and the rename: the partial folder is ignored, then removed."""
    old = Corpus(indexed.store)
    (corpus / "glacier.md").write_text("# Glacier\n\nThe glacier camp is on the ice cap.\n", encoding="utf-8")
    indexed.ingest([corpus])
    location = indexed.config.location
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    killed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_WRITER), str(location.path), location.collection],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr
    store = persisted(indexed)
    [partial] = store.folder.glob(f"{PARTIAL}*")
    assert not (partial / META).exists()
    assert len(store.entries()) == 1, "the killed writer's index was never renamed into place"
    assert_same_as_fresh(old)
    notices: list[str] = []
    new = Corpus(indexed.store, notices.append)
    assert not notices and not partial.exists(), "ignored, then cleaned"
    assert len(store.entries()) == 2
    assert_same_as_fresh(new)


def test_a_live_writers_partial_folder_is_left_alone(indexed: Engine) -> None:
    """A partial folder whose process still runs is another writer at work, not debris."""
    store = persisted(indexed)
    store.folder.mkdir(parents=True)
    busy = store.folder / f"{PARTIAL}{os.getppid()}-cafe"
    busy.mkdir()
    Corpus(indexed.store)
    assert busy.is_dir() and len(store.entries()) == 1


def test_a_read_only_store_builds_in_memory_and_writes_nothing(
    indexed: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing persisted: built in memory, nothing written; persisted (by a writer): mapped, untouched."""
    monkeypatch.setattr(indexed.store, "read_only", True)
    built = Corpus(indexed.store)
    assert not mapped(built.lexical) and not persisted(indexed).folder.exists()
    assert_same_as_fresh(built)
    monkeypatch.setattr(indexed.store, "read_only", False)
    Corpus(indexed.store)
    [entry] = persisted(indexed).entries()
    used = (entry / META).stat().st_mtime_ns
    monkeypatch.setattr(indexed.store, "read_only", True)
    read = Corpus(indexed.store)
    assert mapped(read.lexical) and (entry / META).stat().st_mtime_ns == used
    assert_same_as_fresh(read)


def test_new_versions_get_new_indexes_old_ones_are_pruned_and_old_readers_still_answer(
    indexed: Engine, corpus: Path
) -> None:
    """Each ingest's version gets its own index; the third prunes the first, which its reader still maps."""
    Corpus(indexed.store)
    first = Corpus(indexed.store)
    assert mapped(first.lexical)
    before = {q: first.lexical.search(q, len(first)) for q in QUERIES}
    store = persisted(indexed)
    for n, word in enumerate(["tundra", "caribou"]):
        text = f"# More {n}\n\nThe {word} survey ran twice.\n"
        (corpus / f"more-{n}.md").write_text(text, encoding="utf-8")
        indexed.ingest([corpus])
        newer = indexed.corpus
        assert len(newer) == len(first) + n + 1
        assert_same_as_fresh(newer)
    assert len(store.entries()) == 2, "the oldest index was pruned"
    assert {q: first.lexical.search(q, len(first)) for q in QUERIES} == before, "its pages stay mapped"
    assert_same_as_fresh(first)
    assert indexed.ask("Who ran the caribou survey twice?").citations


def test_an_empty_store_opens_and_persists_nothing(engine: Engine) -> None:
    """No chunks: an empty index, nothing written (bm25s cannot save an empty index)."""
    store = ChunkStore(engine.config.location)
    opened = Corpus(store)
    assert opened.lexical.size == 0 and opened.lexical.search("anything", 5) == []
    assert not persisted(engine).entries()
