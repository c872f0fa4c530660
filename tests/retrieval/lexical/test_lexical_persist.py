"""The persisted BM25 index: a base written by the ingest that committed a version (or, where none is found,
by the opening that built it), mapped by every later opening, with the chunks committed since as a delta.

Every index is compared with bm25s's own, built from scratch over the same chunks: same positions, same
scores bit for bit, same order of ties, same document frequencies. Bad input tried: the index folder
deleted; its count array truncated to half; its word list overwritten with garbage of the same size; its
meta.json overwritten with garbage; its id list naming other chunks; an ingest process killed (SIGKILL)
after saving the base's arrays but before the rename, its partial folder left behind; a partial folder of a
writer still running; a read-only store; an empty store; files added, removed and retitled since the base;
a new version ingested under a reader that had mapped the old base, and that base then pruned (unlinked)
under it. Each time the index answers as bm25s's does, with one notice where the base was damaged.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import bm25s
import numpy as np
import pytest

import retrieval.lexical.delta
import retrieval.search.corpus
from retrieval.engine import Engine
from retrieval.lexical.bases import IDS, META, PARTIAL, Base, LexicalStore
from retrieval.lexical.delta import delta_from
from retrieval.lexical.index import LexicalIndex
from retrieval.lexical.segment import COUNTS, EMPTY, WORDS, Pieces, Segment
from retrieval.lexical.word_cache import TokenCache
from retrieval.search.corpus import Corpus
from retrieval.store.chunk_store import ChunkStore
from retrieval.text.words import tokens

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
    return LexicalStore(engine.config.location.layout.bm25_bases(engine.config.location.collection))


def bm25s_words(corpus: Corpus) -> list[list[str]]:
    """Each chunk's title and text, tokenised now (what a corpus built before any cache held)."""
    texts = [c.text if c.text.startswith(c.title) else f"{c.title}\n{c.text}" for c in corpus.chunks]
    return [tokens(t) or [EMPTY] for t in texts]


def assert_same_as_bm25s(index: LexicalIndex, words: list[list[str]], queries: list[str]) -> None:
    """Every query ranks and scores every chunk as bm25s's index over these words does, ties in its order."""
    reference = bm25s.BM25()
    reference.index(words, show_progress=False)
    assert index.size == len(words)
    for query in queries:
        asked = [w for w in tokens(query) if w in index.df]
        if not asked:
            assert not any(w in reference.vocab_dict for w in tokens(query))
            continue
        found, scores = reference.retrieve([asked], k=len(words), show_progress=False, n_threads=1)
        assert index.search(query, len(words)) == [
            (int(i), float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0
        ], query
        assert np.array_equal(index._scores(asked), reference.get_scores(asked)), query
    indptr = reference.scores["indptr"]
    expected = {w: int(indptr[c + 1] - indptr[c]) for w, c in reference.vocab_dict.items() if w}
    assert dict(index.df) == expected


def assert_same_as_fresh(corpus: Corpus) -> None:
    """The corpus's index against bm25s's built from scratch over its chunks, for QUERIES."""
    assert len(corpus.chunks) == len(corpus), "every chunk read"
    assert_same_as_bm25s(corpus.lexical, bm25s_words(corpus), QUERIES)
    for word in [*corpus.lexical.df, "zebra"]:
        df = corpus.lexical.df.get(word, 0)
        assert corpus.lexical.idf(word) == math.log(1 + (len(corpus) - df + 0.5) / (df + 0.5))


def mapped(index: LexicalIndex) -> bool:
    """Whether the index's base is memory-mapped from disk (read, not built)."""
    return isinstance(index.parts[0].segment.docs.base, np.memmap)


@pytest.fixture
def indexed(engine: Engine, corpus: Path) -> Iterator[Engine]:
    """The small corpus plus three files of one identical chunk each (ties), ingested."""
    for twin in ("north", "south", "east"):
        (corpus / twin).mkdir()
        (corpus / twin / "caribou.txt").write_text(TWIN, encoding="utf-8")
    engine.ingest([corpus])
    # The ingest persisted a base (test_an_ingest_persists_the_base_its_readers_map); these tests begin
    # where a store from before that, or a base deleted since, does: an opening finds none.
    shutil.rmtree(persisted(engine).folder)
    yield engine


def test_the_persisted_index_equals_a_fresh_build_ties_included(indexed: Engine) -> None:
    """The first opening builds and writes it; the second maps it; both rank as a fresh build does."""
    first = Corpus(indexed.store)
    assert not mapped(first.lexical)
    [entry] = persisted(indexed).entries()
    assert entry.name.startswith(f"v{indexed.store.seen_version}-")
    again = Corpus(indexed.store)
    assert mapped(again.lexical)
    tied = [score for _, score in again.lexical.search("tundra caribou", 10)]
    assert len(tied) >= 3 and tied[0] == tied[1] == tied[2], "the three twins tie"
    assert_same_as_fresh(first)
    assert_same_as_fresh(again)


def test_reopening_reads_no_word_cache_and_builds_nothing(
    indexed: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the index persisted, the word cache can be deleted: opening neither reads it nor builds BM25."""
    Corpus(indexed.store)
    cache = TokenCache(indexed.config.location.layout.word_cache(indexed.config.location.collection))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{cache.path}{suffix}").unlink(missing_ok=True)

    def refused(*_: object) -> None:
        raise AssertionError("opening read words or built an index")

    monkeypatch.setattr(TokenCache, "get", refused)
    monkeypatch.setattr(Segment, "build", refused)
    monkeypatch.setattr(indexed.store, "get_chunks", refused)
    opened = Corpus(indexed.store)
    assert mapped(opened.lexical)
    assert not cache.path.exists()
    monkeypatch.undo()
    assert_same_as_fresh(opened)


def damage(entry: Path, how: str) -> None:
    """Damage one persisted index folder as a failing disk or a stray write would."""
    if how == "truncated":
        counts = entry / COUNTS
        counts.write_bytes(counts.read_bytes()[: counts.stat().st_size // 2])
    elif how == "word list garbage":
        words = entry / WORDS
        words.write_bytes(b"\xff" * words.stat().st_size)
    elif how == "meta garbage":
        (entry / META).write_bytes(b"not json {")
    elif how == "other ids":
        ids = entry / IDS
        ids.write_bytes(b"x" * ids.stat().st_size)


@pytest.mark.parametrize("how", ["truncated", "word list garbage", "meta garbage", "other ids"])
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
import retrieval.search.corpus
import retrieval.lexical.delta
from retrieval.lexical.segment import Segment
from retrieval.engine import Engine, EngineConfig
from retrieval.store.chunk_store import StoreLocation

real_save = Segment.save

def save_then_die(self, *args, **kwargs):
    real_save(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

Segment.save = save_then_die
retrieval.lexical.delta.REBUILD_SHARE = 0.0  # a new base, not a delta
location = StoreLocation(Path(sys.argv[1]), collection=sys.argv[2])
Engine(EngineConfig(location, device="cpu", scorer=False)).ingest([Path(sys.argv[3])])
"""


def test_an_ingest_killed_writing_the_base_leaves_its_partial_cleaned_and_answers(
    indexed: Engine, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest SIGKILLed between saving the base's arrays and the rename, its chunks committed: the
    partial folder is ignored, the next opening builds the base itself, then removes the partial."""
    monkeypatch.setattr(retrieval.lexical.delta, "REBUILD_SHARE", 0.0)
    old = Corpus(indexed.store)
    (corpus / "glacier.md").write_text("# Glacier\n\nThe glacier camp is on the ice cap.\n", encoding="utf-8")
    location = indexed.config.location
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(location.path), location.collection, str(corpus)],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr
    store = persisted(indexed)
    [partial] = store.folder.glob(f"{PARTIAL}*")
    assert not (partial / META).exists()
    assert len(store.entries()) == 1, "the killed writer's index was never renamed into place"
    assert_same_as_fresh(old)
    notices: list[str] = []
    indexed.live._notice = notices.append
    new = indexed.corpus
    assert len(new) == len(old) + 1, "the killed ingest's chunks were committed"
    assert not notices and not partial.exists(), "ignored, then cleaned"
    assert len(store.entries()) == 2
    assert_same_as_fresh(new)


def test_an_ingest_persists_the_base_its_readers_map(engine: Engine, corpus: Path) -> None:
    """After an ingest the committed version's base is on disk: the first opening maps it, builds nothing,
    and the ingesting engine's own next question opens no corpus again."""
    engine.ingest([corpus])
    [entry] = persisted(engine).entries()
    assert entry.name.startswith(f"v{engine.store.seen_version}-")
    prepared = engine.live._prepared
    assert prepared is not None and engine.corpus is prepared[1] and engine.live._prepared is None
    opened = Corpus(engine.store)
    assert mapped(opened.lexical)
    assert_same_as_fresh(opened)


def test_a_whole_build_in_pieces_equals_one_build(indexed: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A base built BUILD_PIECE chunks at a time holds what one build over every chunk does."""
    whole = Corpus(indexed.store).lexical.parts[0].segment
    shutil.rmtree(persisted(indexed).folder)
    monkeypatch.setattr(retrieval.search.corpus, "BUILD_PIECE", 2)
    pieced = Corpus(indexed.store)
    segment = pieced.lexical.parts[0].segment
    assert len(pieced) > 4 and list(segment.words) == list(whole.words)
    for name in ("indptr", "docs", "counts", "lengths"):
        got, wanted = getattr(segment, name), getattr(whole, name)
        assert got.dtype == wanted.dtype and np.array_equal(got, wanted), name
    assert_same_as_fresh(pieced)


@pytest.mark.parametrize("size", [1, 3, 250, 999, 1000])
def test_segments_built_in_pieces_equal_one_segment(size: int) -> None:
    """Randomised: Pieces of any size give what Segment.build does over all their chunks at once."""
    rng = random.Random(size)
    chunks = [chunk_words(rng, f"t{rng.randrange(9)}") for _ in range(1000)]
    whole = Segment.build(chunks)
    pieces = Pieces()
    for begin in range(0, len(chunks), size):
        pieces.add(Segment.build(chunks[begin : begin + size]))
    pieced = pieces.segment()
    assert list(pieced.words) == list(whole.words)
    for name in ("indptr", "docs", "counts", "lengths"):
        got, wanted = getattr(pieced, name), getattr(whole, name)
        assert got.dtype == wanted.dtype and np.array_equal(got, wanted), name


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


def test_new_bases_prune_old_ones_and_old_readers_still_answer(
    indexed: Engine, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Versions changed past the share get new bases; the third prunes the first, which its reader maps."""
    monkeypatch.setattr(retrieval.lexical.delta, "REBUILD_SHARE", 0.0)
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


def test_files_added_and_removed_since_the_base_are_a_delta(
    indexed: Engine, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within the share, a new version maps the base, masks the removed chunks, indexes only the added."""
    monkeypatch.setattr(retrieval.lexical.delta, "REBUILD_SHARE", 0.5)
    Corpus(indexed.store)
    [entry] = persisted(indexed).entries()
    (corpus / "glacier.md").write_text("# Glacier\n\nThe tundra glacier camp.\n", encoding="utf-8")
    indexed.ingest([corpus])
    added = Corpus(indexed.store)
    assert (
        mapped(added.lexical) and len(added.lexical.parts) == 2 and len(added.lexical.parts[1].segment) == 1
    )
    assert_same_as_fresh(added)
    (corpus / "coffee.md").unlink()
    indexed.ingest([corpus])
    removed = Corpus(indexed.store)
    positions = removed.lexical.parts[0].positions
    assert mapped(removed.lexical) and positions is not None and (positions < 0).any()
    assert_same_as_fresh(removed)
    assert persisted(indexed).entries() == [entry], "no new base within the share"


def test_a_change_past_the_share_builds_and_persists_a_new_base(indexed: Engine, corpus: Path) -> None:
    """Past REBUILD_SHARE of the chunks changed, the opening builds the whole index and persists it."""
    Corpus(indexed.store)
    for n in range(4):
        (corpus / f"new-{n}.md").write_text(f"# New {n}\n\nThe tundra note {n}.\n", encoding="utf-8")
    indexed.ingest([corpus])  # its last step opens the new version, as a reader would
    assert len(persisted(indexed).entries()) == 2
    rebuilt = Corpus(indexed.store)
    assert mapped(rebuilt.lexical) and len(rebuilt.lexical.parts) == 1
    assert_same_as_fresh(rebuilt)


def chunk_words(rng: random.Random, title: str) -> list[str]:
    """A chunk's words: its document's title word, then Zipf-drawn words (sometimes none)."""
    vocabulary = [f"w{i}" for i in range(400)]
    drawn = rng.choices(vocabulary, [1 / (r + 2.7) for r in range(400)], k=rng.choice([0, 3, 12, 40]))
    return [title, *drawn] if rng.random() < 0.9 else drawn


def test_a_base_with_added_removed_and_retitled_files_scores_as_bm25s(tmp_path: Path) -> None:
    """Randomised: a saved, mapped base and files removed, added and retitled since score as bm25s does."""
    rng = random.Random(16)
    titles = {f"doc{i:02}.md": f"t{rng.randrange(30)}" for i in range(40)}
    chunks = {
        f"{s}#{n}": (s, chunk_words(rng, t)) for s, t in titles.items() for n in range(rng.randint(1, 4))
    }
    old_ids = sorted(chunks)
    Segment.build([chunks[c][1] for c in old_ids]).save(tmp_path)
    base = Base(tmp_path, "-", Segment.load(tmp_path), old_ids, dict(titles))
    gone = {f"doc{i:02}.md" for i in (3, 17, 29)}
    retitled = {f"doc{i:02}.md" for i in (5, 22)}
    new_titles = {s: ("rtt" if s in retitled else t) for s, t in titles.items() if s not in gone}
    new_titles |= {f"new{i}.md": f"t{i}" for i in range(3)}
    current = {c: v for c, v in chunks.items() if v[0] not in gone}
    for s in retitled:
        current |= {c: (s, ["rtt", *w[1:]]) for c, (src, w) in chunks.items() if src == s}
    current |= {f"new{i}.md#0": (f"new{i}.md", chunk_words(rng, f"t{i}")) for i in range(3)}
    ids = sorted(current)
    delta = delta_from(
        base, ids, {c: i for i, c in enumerate(ids)}, {c: v[0] for c, v in current.items()}, new_titles
    )
    moved = [c for c in old_ids if chunks[c][0] in gone | retitled]
    assert delta.removed == len(moved) and len(delta.added) == len(ids) - len(old_ids) + len(moved)
    index = delta.index([current[ids[i]][1] for i in delta.added], len(ids))
    assert isinstance(index.parts[0].segment.counts.base, np.memmap)
    asked = [f"w{i}" for i in range(60)] + ["rtt", "t3", "zebra"]
    queries = [" ".join(rng.choices(asked, k=rng.randint(1, 6))) for _ in range(60)]
    assert_same_as_bm25s(index, [current[c][1] or [EMPTY] for c in ids], queries)
