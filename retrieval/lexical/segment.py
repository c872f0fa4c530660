"""BM25's term frequencies over a set of chunks (a segment): built from their words, saved, memory-mapped.

A segment keeps raw counts (per word, the chunks holding it and how often; each chunk's length), not scores:
BM25's scores depend on the whole collection (its size, its average length, each word's document count),
so a segment persisted at one version and a small one of the chunks committed since can be scored together
as one index at question time (lexical.py). The build is numpy over all words at once: bm25s's per-chunk
Python loop was 15.1 of 24.6 s of a cold start at 100k chunks (`make bench-scale`'s profile).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# What BM25 indexes for a chunk with no words (bm25s could not index an empty one; kept: the same lengths).
EMPTY = "\u2205"
WORDS, INDPTR, DOCS, COUNTS, LENGTHS = "words.json", "indptr.npy", "docs.npy", "counts.npy", "lengths.npy"
FILES = (WORDS, INDPTR, DOCS, COUNTS, LENGTHS)


@dataclass(frozen=True)
class Segment:
    """Per word (a column), the chunks holding it (CSC: one run of docs and counts), and chunk lengths."""

    words: Sequence[str]
    columns: dict[str, int]
    indptr: np.ndarray  # int64, one more than words: column c's postings are [indptr[c], indptr[c + 1])
    docs: np.ndarray  # int32: the chunk (its place in this segment) of each posting, ascending per column
    counts: np.ndarray  # float32: how often the word occurs in that chunk
    lengths: np.ndarray  # int32: words per chunk

    def __len__(self) -> int:
        return len(self.lengths)

    @classmethod
    def build(cls, chunks: Sequence[Sequence[str]]) -> Segment:
        """The segment of these chunks' words (tokens() of each; an empty chunk indexes EMPTY)."""
        columns: dict[str, int] = {}
        size = len(chunks)
        lengths = np.fromiter((len(c) or 1 for c in chunks), dtype=np.int32, count=size)
        flat = np.fromiter(
            (columns.setdefault(w, len(columns)) for c in chunks for w in (c or (EMPTY,))),
            dtype=np.int32,
            count=int(lengths.sum()),
        )
        rows = max(size, 1)
        # One key per (word, chunk), ordered by word then chunk: the CSC layout, counts included.
        keys, counts = np.unique(
            flat.astype(np.int64) * rows + np.repeat(np.arange(size, dtype=np.int32), lengths),
            return_counts=True,
        )
        del flat
        indptr = np.zeros(len(columns) + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys // rows, minlength=len(columns)), out=indptr[1:])
        docs = (keys % rows).astype(np.int32)
        return cls(list(columns), columns, indptr, docs, counts.astype(np.float32), lengths)

    def postings(self, word: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The chunks holding word and its count in each (None where none does)."""
        column = self.columns.get(word)
        if column is None:
            return None
        begin, end = int(self.indptr[column]), int(self.indptr[column + 1])
        return self.docs[begin:end], self.counts[begin:end]

    def save(self, folder: Path) -> None:
        """Write the arrays (.npy) and the words (JSON, in column order) into folder."""
        (folder / WORDS).write_text(json.dumps(list(self.words), ensure_ascii=False), encoding="utf-8")
        for name, array in ((INDPTR, self.indptr), (DOCS, self.docs), (COUNTS, self.counts)):
            np.save(folder / name, array, allow_pickle=False)
        np.save(folder / LENGTHS, self.lengths, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> Segment:
        """The segment saved in folder, its arrays memory-mapped (ValueError where they do not agree)."""
        words = json.loads((folder / WORDS).read_text(encoding="utf-8"))
        # Plain arrays over the mapped pages: np.memmap's slices cost more than the arithmetic on them.
        arrays = [
            np.asarray(np.load(folder / n, mmap_mode="r", allow_pickle=False))
            for n in (INDPTR, DOCS, COUNTS, LENGTHS)
        ]
        indptr, docs, counts, lengths = arrays
        if not isinstance(words, list) or len(indptr) != len(words) + 1 or len(docs) != len(counts):
            raise ValueError("its words, column pointers and postings disagree in length")
        if indptr[0] != 0 or indptr[-1] != len(docs) or np.any(np.diff(indptr) < 0):
            raise ValueError("its column pointers are not a CSC matrix's")
        if docs.dtype != np.int32 or counts.dtype != np.float32 or lengths.dtype != np.int32:
            raise ValueError("its arrays are of other types")
        return cls(words, {w: i for i, w in enumerate(words)}, indptr, docs, counts, lengths)


class Pieces:
    """A segment built a piece of chunks at a time: between pieces only their counts are kept (each word
    once, in one column table), never a piece's words, so memory holds about one piece and the result."""

    def __init__(self) -> None:
        self.columns: dict[str, int] = {}
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, piece: Segment) -> None:
        """Append a piece's chunks after those added before."""
        columns = self.columns
        # Each piece lists its words by first occurrence, so the merged columns keep build()'s order.
        mapping = np.fromiter(
            (columns.setdefault(w, len(columns)) for w in piece.words), np.int32, len(piece.words)
        )
        self._parts.append((mapping, piece.indptr, piece.docs, piece.counts, piece.lengths))

    def segment(self) -> Segment:
        """The segment of every piece's chunks."""
        parts, self._parts = self._parts, []
        sizes = np.zeros(len(self.columns), dtype=np.int64)
        for mapping, indptr, *_ in parts:
            sizes[mapping] += np.diff(indptr)
        indptr = np.zeros(len(self.columns) + 1, dtype=np.int64)
        np.cumsum(sizes, out=indptr[1:])
        docs = np.empty(int(indptr[-1]), dtype=np.int32)
        counts = np.empty(int(indptr[-1]), dtype=np.float32)
        # Placed piece by piece where each column's postings go (a counting sort: no sort of every posting,
        # so the peak is the pieces and the result): pieces come in chunk order, so within a column the
        # chunks stay ascending.
        cursor = indptr[:-1].copy()
        offset = 0
        for mapping, piece_indptr, piece_docs, piece_counts, piece_lengths in parts:
            run = np.diff(piece_indptr)
            rank = np.arange(len(piece_docs), dtype=np.int64) - np.repeat(piece_indptr[:-1], run)
            places = np.repeat(cursor[mapping], run) + rank
            docs[places] = piece_docs + np.int32(offset)
            counts[places] = piece_counts
            cursor[mapping] += run
            offset += len(piece_lengths)
        lengths = np.concatenate([part[4] for part in parts]) if parts else np.zeros(0, dtype=np.int32)
        return Segment(list(self.columns), dict(self.columns), indptr, docs, counts, lengths)
