"""A committed chunk as a question reads it: its text, where it lies, its sentences and their words."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from retrieval.search.citations import citation_id
from retrieval.store.sentence_vectors import SentenceVectors
from retrieval.text.regions import RegionMap
from retrieval.text.sentences import sentence_spans
from retrieval.text.words import tokens
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
    collection: str = ""

    @functools.cached_property
    def sentences(self) -> SentenceVectors | None:
        """The chunk's sentence spans and vectors (None for a chunk stored without them)."""
        return SentenceVectors.unpack(self.packed_sentences) if self.packed_sentences else None

    @functools.cached_property
    def unit_vector(self) -> np.ndarray:
        """The chunk's unit vector: the normalised mean of its sentences' ([0.0] without sentences)."""
        sentences = self.sentences
        return np.asarray(sentences.chunk_vector() if sentences else [0.0], dtype=np.float32)

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
            collection=self.collection,
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
