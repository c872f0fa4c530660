"""A snapshot of what is indexed: the committed chunks in memory, with the BM25 index derived from them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from retrieval.chunking import sentence_spans
from retrieval.citations import citation_id
from retrieval.lexical import LexicalIndex, tokens
from retrieval.regions import RegionMap
from retrieval.sentence_vectors import SentenceVectors
from retrieval.store import ChunkStore, DocRecord, StoredChunk
from retrieval.token_cache import TokenCache
from retrieval.types import Citation, Location


@dataclass(frozen=True)
class IndexedChunk:
    """A committed chunk with what a citation needs."""

    id: str
    source: str
    path: str
    start: int
    end: int
    text: str
    title: str
    line: int = 1
    # The sentences' spans and vectors as the store packs them, unpacked on first use: unpacking every
    # chunk's took 7.5 of the 77 s a 100k-chunk store took to open, and a question reads a few dozen.
    packed_sentences: str = field(default="", compare=False, repr=False)
    # The text the offsets index (the file, or its extracted text) and its pages or sections.
    text_path: str = ""
    regions: RegionMap = field(default_factory=RegionMap, compare=False, repr=False)

    @functools.cached_property
    def sentences(self) -> SentenceVectors | None:
        """The chunk's sentence spans and vectors (None for a chunk stored without them)."""
        return SentenceVectors.unpack(self.packed_sentences) if self.packed_sentences else None

    def sentence_spans(self) -> list[tuple[int, int]]:
        """The chunk's sentences, as offsets relative to its start."""
        if self.sentences is not None:
            return list(self.sentences.spans)
        return sentence_spans(self.text, 0, len(self.text))

    @functools.cached_property
    def sentence_tokens(self) -> tuple[tuple[str, ...], ...]:
        """Each sentence's content words in order, as the scorers match them (worked out once)."""
        return tuple(tuple(tokens(self.text[s:e])) for s, e in self.sentence_spans())

    @functools.cached_property
    def sentence_words(self) -> tuple[frozenset[str], ...]:
        """Each sentence's content words as a set."""
        return tuple(frozenset(words) for words in self.sentence_tokens)

    def line_of(self, offset: int) -> int:
        """The 1-based line number of an absolute offset inside this chunk."""
        return self.line + self.text.count("\n", 0, offset - self.start)

    def location(self, start: int, end: int) -> Location:
        """Where the span [start, end) inside this chunk lies: its text file, line and page or section."""
        line = self.line_of(start)
        place = self.regions.place(start, end, line)
        return Location(
            source=self.source,
            path=self.path,
            text_path=self.text_path or self.path,
            start=start,
            end=end,
            line=line,
            page=place.page,
            location=place.label,
        )

    def citation(self, n: int, start: int, end: int, score: float) -> Citation:
        """Citation n of the span [start, end) inside this chunk; its quote is the text's exact characters."""
        return Citation(
            **dict(self.location(start, end)),
            n=n,
            id=citation_id(self.source, start, end),
            quote=self.text[start - self.start : end - self.start],
            score=round(score, 4),
        )


# A writer deletes a file's superseded chunks right after committing its new version; a reader that read
# the manifest just before may find some of them gone. Reading again then sees the new version whole.
_READ_TRIES = 5


def _committed(store: ChunkStore) -> tuple[dict[str, DocRecord], list[StoredChunk]]:
    """One committed version: a manifest and every chunk it names (read again if a writer moved on)."""
    manifest: dict[str, DocRecord] = {}
    chunks: list[StoredChunk] = []
    for _ in range(_READ_TRIES):
        manifest = store.documents()
        live = {cid for record in manifest.values() for cid in record.chunk_ids}
        chunks = store.load_chunks(live)
        if len(chunks) == len(live):
            return manifest, chunks
    # Still short: serve the files whose chunks are all there rather than fail the question.
    present = {c.id for c in chunks}
    whole = {s: r for s, r in manifest.items() if set(r.chunk_ids) <= present}
    return whole, [c for c in chunks if c.source in whole]


def _lexical_words(
    store: ChunkStore, chunks: list[IndexedChunk], notice: Callable[[str], None] | None
) -> list[list[str]]:
    """What BM25 indexes for each chunk: its document's title, then its text (the title once where the text
    starts with it); the text's words from the word cache where an ingest put them, else tokenised now."""
    cache = TokenCache(store.location.path, store.location.collection, notice)
    cached = cache.get(c.id for c in chunks)
    missing = {c.id: tuple(tokens(c.text)) for c in chunks if c.id not in cached}
    if missing and not store.read_only:
        cache.put(missing)
    titles: dict[str, list[str]] = {}
    out = []
    for c in chunks:
        # The same words as tokens(title + "\n" + text): tokens() never joins words across a newline.
        words = list(cached[c.id] if c.id in cached else missing[c.id])
        if c.text.startswith(c.title):
            out.append(words)
            continue
        if c.title not in titles:
            titles[c.title] = tokens(c.title)
        out.append(titles[c.title] + words)
    return out


class Corpus:
    """The committed chunks (those the manifest names) and a BM25 index over them."""

    def __init__(self, store: ChunkStore, notice: Callable[[str], None] | None = None) -> None:
        self.manifest, loaded = _committed(store)
        self.chunks: list[IndexedChunk] = []
        folder = store.location.path
        regions = {source: record.region_map() for source, record in self.manifest.items()}
        for stored in loaded:
            record = self.manifest[stored.source]
            self.chunks.append(
                IndexedChunk(
                    stored.id,
                    stored.source,
                    record.path,
                    stored.start,
                    stored.end,
                    stored.text,
                    record.title,
                    stored.line,
                    stored.sentences or "",
                    record.text_file(folder),
                    regions[stored.source],
                )
            )
        self.position = {c.id: i for i, c in enumerate(self.chunks)}
        self._vectors: dict[str, np.ndarray] = {}
        self.lexical = LexicalIndex.from_words(_lexical_words(store, self.chunks, notice))

    def chunk_vector(self, chunk_id: str) -> np.ndarray:
        """A chunk's unit vector (the normalised mean of its sentences'), computed once."""
        vector = self._vectors.get(chunk_id)
        if vector is None:
            sentences = self.chunks[self.position[chunk_id]].sentences
            vector = np.asarray(sentences.chunk_vector() if sentences else [0.0], dtype=np.float32)
            self._vectors[chunk_id] = vector
        return vector

    def __len__(self) -> int:
        return len(self.chunks)
