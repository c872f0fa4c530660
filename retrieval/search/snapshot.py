"""The committed version a question is answered from, swapped whole when a newer one is committed.

Before each question the live index reads the store's version (two metadata reads, about a millisecond
embedded). When another process (or this one's ingest) has committed since, it opens that version: a new
Chroma client where the old one cannot see the new vectors, the corpus read anew, a chain over both. The
swap is one assignment; a question already running keeps the snapshot it started with, so every part of an
answer (BM25, vectors, quotes) comes from one version.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable

from retrieval.search.corpus import Corpus
from retrieval.store.chunk_store import ChunkStore, forget_clients
from retrieval.types import Answer

ChainFactory = Callable[[ChunkStore, Corpus], Runnable[Any, Answer]]


@dataclass(frozen=True)
class Snapshot:
    """One committed version of the index: the store handle that reads it, its corpus and their chain."""

    version: str
    store: ChunkStore
    corpus: Corpus
    chain: Runnable[Any, Answer]


class LiveIndex:
    """The newest committed snapshot of one collection, opened when first asked for and when it moves on."""

    def __init__(self, chain_for: ChainFactory, notice: Callable[[str], None] | None = None) -> None:
        self._chain_for = chain_for
        self._notice = notice
        self._snapshot: Snapshot | None = None
        # A version's corpus opened by prepare() (an ingest's last step), taken by the next current().
        self._prepared: tuple[str, Corpus] | None = None
        # One opening at a time: two questions arriving after an ingest build one snapshot, not two.
        self._lock = threading.Lock()

    @property
    def loaded(self) -> Snapshot | None:
        """The snapshot in use, without looking for a newer one."""
        return self._snapshot

    def current(self, writer: ChunkStore) -> Snapshot:
        """The newest committed version's snapshot (writer: the engine's own handle, reused if it sees it)."""
        version, writer_sees = writer.newest_version()
        snapshot = self._snapshot
        if snapshot is not None and snapshot.version == version:
            return snapshot
        with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and snapshot.version == version:
                return snapshot
            store = writer if writer_sees else self._reader(writer, snapshot, version)
            # Chroma loads the vectors' index meanwhile (measured at 100k chunks: the first answer 0.37 ->
            # 0.11 s, the corpus's opening 0.26 -> 0.35 s; BENCHMARKS.md, "the vectors warmed").
            warming = threading.Thread(target=store.warm_vectors, name="citebot-warm", daemon=True)
            warming.start()
            try:
                prepared, self._prepared = self._prepared, None
                if prepared is not None and prepared[0] == version and store is writer:
                    corpus = prepared[1]
                else:
                    corpus = Corpus(store, self._notice)
                snapshot = Snapshot(version, store, corpus, self._chain_for(store, corpus))
            finally:
                warming.join()  # no thread outlives the opening (a client may be closed after it)
            self._snapshot = snapshot
            return snapshot

    def prepare(self, writer: ChunkStore) -> None:
        """Open the version writer just committed, so that its BM25 base is persisted for every process
        that opens it, and this one's next question opens nothing (the chain is built when first asked).

        Why: the first question after a large ingest otherwise built the base itself (79 s at 1M chunks).
        Skipped where another writer has committed since: that one prepares its own version.
        """
        version, writer_sees = writer.newest_version()
        if not writer_sees:
            return
        with self._lock:
            if self._snapshot is None or self._snapshot.version != version:
                self._prepared = (version, Corpus(writer, self._notice))

    def rebuild_chains(self) -> None:
        """Build the chain again over the same version (the engine's settings changed, say k)."""
        with self._lock:
            old = self._snapshot
            if old is not None:
                self._snapshot = Snapshot(
                    old.version, old.store, old.corpus, self._chain_for(old.store, old.corpus)
                )

    def forget(self) -> None:
        """Drop the snapshot: the next question opens the newest version."""
        with self._lock:
            self._snapshot = None

    @staticmethod
    def _reader(writer: ChunkStore, old: Snapshot | None, version: str) -> ChunkStore:
        """A store handle that reads version whole: the old snapshot's, or one opened anew."""
        if old is not None and old.store.sees(version):
            return old.store
        # Chroma caches one client per folder; a handle opened from that cache would share its stale index.
        # A server's clients are not cached (nor stale): the old snapshot's, in use by a question, is kept.
        if not writer.location.chroma_url:
            forget_clients()
        return ChunkStore(writer.location, create=False)
