"""The word cache: ingest keeps each chunk's BM25 words, so opening the index reads and tokenises no chunk.

Where a version's BM25 index is persisted the cache is not read at all
(tests/retrieval/lexical/test_lexical_persist.py); these tests remove the persisted index first, so that the
cache is what an opening reads.

Bad input tried: the cache file deleted, overwritten with garbage, and locked by another writer; in each
case the index opens with the same BM25 scores as one tokenised from scratch.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import retrieval.search.corpus
from retrieval.engine import Engine
from retrieval.lexical.index import LexicalIndex
from retrieval.lexical.word_cache import HEAD_CHARS, TokenCache, Words
from retrieval.search.corpus import Corpus
from retrieval.text.words import tokens

QUERIES = ["What did the US offer in Stockholm?", "coffee machine descaled Friday", "release manager Priya"]


def from_scratch(corpus: Corpus) -> LexicalIndex:
    """BM25 over each chunk's title and text, tokenised now (what a corpus built before the cache held)."""
    texts = [c.text if c.text.startswith(c.title) else f"{c.title}\n{c.text}" for c in corpus.chunks]
    return LexicalIndex(texts)


def assert_same_bm25(corpus: Corpus) -> None:
    """Every query scores every chunk exactly as the index tokenised from scratch does."""
    reference = from_scratch(corpus)
    for query in QUERIES:
        assert np.array_equal(corpus.lexical.scores(query), reference.scores(query)), query
    assert corpus.lexical.df == reference.df


@pytest.fixture
def indexed(engine: Engine, corpus: Path) -> Iterator[Engine]:
    """The engine with the small corpus ingested."""
    engine.ingest([corpus])
    yield engine


def cache_of(engine: Engine) -> TokenCache:
    """The engine's word cache (the persisted BM25 index removed, so that an opening reads the cache)."""
    location = engine.config.location
    shutil.rmtree(location.layout.bm25_bases(location.collection), ignore_errors=True)
    return TokenCache(location.layout.word_cache(location.collection))


def test_ingest_keeps_every_chunks_words_and_opening_reads_them(
    indexed: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk's row holds tokens(text); opening a corpus reads no chunk and tokenises only titles."""
    chunks = indexed.store.load_chunks(indexed.store.chunk_ids())
    cached = cache_of(indexed).get(c.id for c in chunks)
    assert cached == {c.id: Words(tuple(tokens(c.text)), c.text[:HEAD_CHARS]) for c in chunks}
    seen: list[str] = []

    def counting(text: str) -> list[str]:
        seen.append(text)
        return tokens(text)

    monkeypatch.setattr(retrieval.search.corpus, "tokens", counting)
    read: list[list[str]] = []
    real_get = indexed.store.get_chunks
    monkeypatch.setattr(indexed.store, "get_chunks", lambda ids: read.append(ids) or real_get(ids))
    opened = Corpus(indexed.store)
    assert read == [], "opening read chunks from Chroma"
    assert set(seen) <= {r.title for r in opened.manifest.values()}
    monkeypatch.undo()
    assert_same_bm25(opened)


@pytest.mark.parametrize("damage", ["deleted", "garbage"])
def test_a_missing_or_damaged_cache_is_rebuilt_with_the_same_scores(indexed: Engine, damage: str) -> None:
    """Deleted: filled again on opening. Garbage: named in a notice, replaced, filled again."""
    cache = cache_of(indexed)
    if damage == "deleted":
        cache.path.unlink()
    else:
        cache.path.write_bytes(b"this is not a database" * 100)
        for suffix in ("-wal", "-shm"):
            Path(f"{cache.path}{suffix}").unlink(missing_ok=True)
    notices: list[str] = []
    opened = Corpus(indexed.store, notices.append)
    assert_same_bm25(opened)
    assert (len(notices) == 1 and "unreadable" in notices[0]) if damage == "garbage" else not notices
    assert len(cache.get(c.id for c in opened.chunks)) == len(opened.chunks), "filled again"


def test_a_cache_locked_by_another_writer_still_opens(indexed: Engine) -> None:
    """A writer holding the cache's lock makes an opening tokenise what it lacks, not wait or fail."""
    cache = cache_of(indexed)
    cache.path.unlink()
    holder = sqlite3.connect(cache.path)
    try:
        holder.execute(
            "CREATE TABLE chunk_words (id TEXT PRIMARY KEY, words TEXT NOT NULL, head TEXT NOT NULL)"
        )
        holder.execute("BEGIN EXCLUSIVE")
        opened = Corpus(indexed.store)
        assert_same_bm25(opened)
    finally:
        holder.rollback()
        holder.close()


def test_answers_are_unchanged_by_the_cache(indexed: Engine, corpus: Path) -> None:
    """The same question gives the same citations from a cached and an uncached opening."""
    first: Any = indexed.ask(QUERIES[0]).citations
    cache_of(indexed).path.unlink()
    indexed.live.forget()
    again: Any = indexed.ask(QUERIES[0]).citations
    assert [c.id for c in first] == [c.id for c in again] and first
