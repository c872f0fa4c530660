"""One committed version of the index: its manifest, its chunk ids and the BM25 index over them.

Opening a version reads no chunk: the manifest names the chunk ids, BM25's counts are memory-mapped from
the base persisted by the ingest that committed a version (or by the first opening that found none;
lexical_store.py), plus the chunks committed since it, indexed from
their cached words (lexical_delta.py, token_cache.py), and a question reads the few dozen chunks it
considers by id. Reading every chunk from Chroma, then building BM25, at opening was most of a cold start
on a large store (`make bench-scale`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable

from retrieval.lexical.bases import LexicalStore, content_digest
from retrieval.lexical.delta import nearest
from retrieval.lexical.index import LexicalIndex, Part
from retrieval.lexical.segment import Pieces, Segment
from retrieval.lexical.word_cache import HEAD_CHARS, TokenCache, Words
from retrieval.search.indexed_chunk import IndexedChunk as IndexedChunk
from retrieval.store.chunk_store import PAGE, ChunkStore, DocRecord, StoredChunk
from retrieval.store.manifest_cache import ManifestCache
from retrieval.text.regions import RegionMap
from retrieval.text.words import tokens

# Chunks whose words are held at once while a whole BM25 index is built. Every chunk's words at once (a
# Python string per word) peaked at 10.9 GB building the 1M-chunk store's index (`make bench-scale`,
# 2026-12-03). Measured on the 100k-chunk store (the ingest's last step alone, BUILD_PIECE set in a
# `python -c`, 2026-12-04): pieces kept as whole segments peaked at 486 MB and 5.05 s at 5,000, 525 MB and
# 4.92 s at 10,000, 648 MB at 20,000, 1,058 MB and 5.85 s at 50,000; with Pieces, 10,000: 473 MB, 4.74 s.
BUILD_PIECE = 10_000
# Chunks kept once read (a question reads up to about 60): enough for a conversation's follow-ups.
_KEPT_CHUNKS = 4096


class Corpus:
    """The committed chunks (those the manifest names), read by id on demand, and a BM25 index over them."""

    def __init__(self, store: ChunkStore, notice: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.manifest: dict[str, DocRecord] = ManifestCache(store, notice).read()
        # Sorted, as the chunks were when every one was read: BM25's ties break the same way.
        self.ids: list[str] = sorted({cid for r in self.manifest.values() for cid in r.chunk_ids})
        self.position = {cid: i for i, cid in enumerate(self.ids)}
        self._source = {cid: r.source for r in self.manifest.values() for cid in r.chunk_ids}
        self._regions: dict[str, RegionMap] = {}
        self._kept: OrderedDict[str, IndexedChunk] = OrderedDict()
        # Files found whole (every chunk present) or broken (one gone): a broken one is never served.
        self._whole: set[str] = set()
        self._broken: set[str] = set()
        self._lock = threading.Lock()
        self.lexical = self._lexical(notice)

    def _lexical(self, notice: Callable[[str], None] | None) -> LexicalIndex:
        """This version's BM25 index: the nearest persisted base and a delta of the chunks committed since;
        else built from every chunk's words and persisted as the new base."""
        persisted = LexicalStore(
            self.store.location.layout.bm25_bases(self.store.location.collection), notice
        )
        titles = {source: record.title for source, record in self.manifest.items()}
        digest = content_digest(self.ids, titles)
        writable = not self.store.read_only
        delta = nearest(persisted.bases(digest, writable), self.ids, self.position, self._source, titles)
        if delta is not None:
            if writable:
                persisted.used(delta.base)
            added = [self.ids[i] for i in delta.added]
            return delta.index(self._lexical_words(added, notice)[0] if added else [], len(self.ids))
        segment, whole = self._built_segment(notice)
        # An index missing a chunk the manifest names (deleted since it was read) is this opening's alone.
        if writable and whole:
            persisted.write(segment, self.ids, titles, digest, self.store.seen_version)
        return LexicalIndex.from_parts([Part(segment)], len(self.ids))

    def _built_segment(self, notice: Callable[[str], None] | None) -> tuple[Segment, bool]:
        """BM25's counts over every chunk, built BUILD_PIECE chunks at a time, and whether all were found."""
        pieces = Pieces()
        whole = True
        for begin in range(0, len(self.ids), BUILD_PIECE):
            words, found = self._lexical_words(self.ids[begin : begin + BUILD_PIECE], notice)
            pieces.add(Segment.build(words))
            whole = whole and found
        return pieces.segment(), whole

    def _lexical_words(
        self, ids: list[str], notice: Callable[[str], None] | None
    ) -> tuple[list[list[str]], bool]:
        """What BM25 indexes for each of ids: its document's title, then its text (the title once where the
        text starts with it); the text's words from the word cache, else read, tokenised and kept. And
        whether every chunk was found."""
        cache = TokenCache(self.store.location.layout.word_cache(self.store.location.collection), notice)
        words = cache.get(ids)
        missing = [cid for cid in ids if cid not in words]
        if missing:
            found = {c.id: Words.of(c.text) for c in self._read(missing)}
            if not self.store.read_only:
                cache.put(found)
            words.update(found)
        titles: dict[str, list[str]] = {}
        out: list[list[str]] = []
        whole = True
        for cid in ids:
            entry = words.get(cid)
            if entry is None:  # gone from the store since the manifest was read (a newer version's doing)
                out.append([])
                whole = False
                continue
            title = self.manifest[self._source[cid]].title
            # The same words as tokens(title + "\n" + text): tokens() never joins words across a newline.
            if entry.head.startswith(title[:HEAD_CHARS]):
                out.append(list(entry.words))
                continue
            if title not in titles:
                titles[title] = tokens(title)
            out.append(titles[title] + list(entry.words))
        return out, whole

    def _read(self, ids: list[str]) -> list[StoredChunk]:
        """Chunks by id from the store, a page at a time (those still present)."""
        found: list[StoredChunk] = []
        for begin in range(0, len(ids), PAGE):
            found.extend(self.store.get_chunks(ids[begin : begin + PAGE]))
        return found

    def _indexed(self, stored: StoredChunk) -> IndexedChunk:
        record = self.manifest[stored.source]
        regions = self._regions.get(stored.source)
        if regions is None:
            regions = self._regions[stored.source] = record.region_map()
        return IndexedChunk(
            stored.id,
            stored.source,
            record.path,
            stored.start,
            stored.end,
            stored.text,
            record.title,
            stored.line,
            stored.sentences or "",
            record.text_file(self.store.location.path),
            regions,
            self.store.location.collection,
        )

    def chunks_for(self, ids: Iterable[str]) -> dict[str, IndexedChunk]:
        """The committed chunks among ids, read in one call where not kept; a file of which any chunk is
        gone (a newer version's writer deleted it) is left out whole, never served half."""
        wanted = [cid for cid in dict.fromkeys(ids) if cid in self.position]
        with self._lock:
            out = {cid: self._kept[cid] for cid in wanted if cid in self._kept}
        missing = [cid for cid in wanted if cid not in out]
        if missing:
            read = {c.id: self._indexed(c) for c in self._read(missing) if c.source == self._source[c.id]}
            self._check_whole({self._source[cid] for cid in missing})
            out.update(read)
            with self._lock:
                self._kept.update((cid, c) for cid, c in read.items() if c.source not in self._broken)
                while len(self._kept) > _KEPT_CHUNKS:
                    self._kept.popitem(last=False)
        return {cid: out[cid] for cid in wanted if cid in out and out[cid].source not in self._broken}

    def _check_whole(self, sources: set[str]) -> None:
        """Find out, once per file, whether every chunk its record names is in the store (ids only)."""
        unchecked = [s for s in sources if s not in self._whole and s not in self._broken]
        if not unchecked:
            return
        named = [cid for s in unchecked for cid in self.manifest[s].chunk_ids]
        present: set[str] = set()
        for begin in range(0, len(named), PAGE):
            present |= self.store.present(named[begin : begin + PAGE])
        with self._lock:
            for source in unchecked:
                whole = all(cid in present for cid in self.manifest[source].chunk_ids)
                (self._whole if whole else self._broken).add(source)

    def chunk(self, cid: str) -> IndexedChunk | None:
        """One committed chunk by id (None when it is not in this version)."""
        return self.chunks_for([cid]).get(cid)

    @property
    def chunks(self) -> list[IndexedChunk]:
        """Every committed chunk, in id order (reads them all: for tests, benchmarks and small stores)."""
        return list(self.chunks_for(self.ids).values())

    def __len__(self) -> int:
        return len(self.ids)
