"""Incremental ingest: add new files, replace changed ones, drop deleted ones; atomic per file."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from retrieval.errors import LoadError, NoTextError
from retrieval.inference.embedder import Embedder
from retrieval.ingest.chunking import chunk
from retrieval.ingest.extraction import DEFAULT_TIME_LIMIT_S, Extractor
from retrieval.ingest.files import (
    DEFAULT_MAX_FILE_BYTES,
    Discovery,
    Document,
    SourceFile,
    decode,
    discover,
    is_inside,
    read_bytes,
)
from retrieval.ingest.loaders import parser_version
from retrieval.lexical.word_cache import TokenCache, Words
from retrieval.store.chunk_store import ChunkStore, DocRecord, StoredChunk, chunk_id, now_iso
from retrieval.store.layout import StoreLayout
from retrieval.store.sentence_vectors import SentenceVectors
from retrieval.store.texts import TextStore
from retrieval.text.content import fingerprint, text_sha256
from retrieval.text.sentences import Span, sentence_spans


class Progress(Protocol):
    """Told how an ingest goes: a step ('files', 'sentences'), how many more are done, its total if known."""

    def __call__(self, step: str, done: int, total: int | None = None) -> None: ...


@dataclass
class IngestSummary:
    """What one ingest run did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    skipped: int = 0
    # Files of types citebot does not read (images, archives...) under the folders ingested, and by suffix.
    ignored: int = 0
    ignored_types: Counter[str] = field(default_factory=Counter)
    chunks: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    skips: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, int | float | dict[str, int]]:
        """The summary as `--json` prints it."""
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": self.failed,
            "skipped": self.skipped,
            "ignored": self.ignored,
            # Most frequent first: {".png": 12, ".xlsx": 3}; "": no suffix, "~$": Office owner files.
            "ignored_types": dict(sorted(self.ignored_types.items(), key=lambda item: (-item[1], item[0]))),
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class _Pending:
    document: Document
    root: Path
    is_new: bool
    chunks: list[StoredChunk]


_PRESENCE_PAGE = 2000  # chunk ids per presence check of the records an ingest may call unchanged
# Sentences embedded and written per slice of chunks: what bounds an ingest's memory however large a file
# is. 2,048 sentences are ~3 MB as float32 (384 dimensions), ~25 MB while the embedder hands them back as
# Python floats; a batch of small files (batch_chunks, 256 chunks) is seldom more, so it stays one write.
_SLICE_SENTENCES = 2048


def _stored_chunks(document: Document, max_chars: int) -> list[StoredChunk]:
    out = []
    for piece in chunk(document.text, max_chars=max_chars):
        digest = fingerprint(piece.text.encode("utf-8"))
        out.append(
            StoredChunk(
                chunk_id(document.source, piece.start, piece.end, digest),
                document.source,
                piece.start,
                piece.end,
                piece.text,
                piece.line,
            )
        )
    return out


def _sentence_spans(text: str) -> list[Span]:
    return sentence_spans(text, 0, len(text)) or [(0, len(text))]


def _slices(chunks: list[StoredChunk]) -> Iterator[list[tuple[StoredChunk, list[Span]]]]:
    """The chunks, each with its sentence spans, in order, in slices of about _SLICE_SENTENCES sentences."""
    part: list[tuple[StoredChunk, list[Span]]] = []
    count = 0
    for stored in chunks:
        spans = _sentence_spans(stored.text)
        part.append((stored, spans))
        count += len(spans)
        if count >= _SLICE_SENTENCES:
            yield part
            part, count = [], 0
    if part:
        yield part


class Indexer:
    """Brings the store in line with the files under some paths."""

    def __init__(
        self,
        store: ChunkStore,
        embedder: Embedder,
        max_chars: int = 1000,
        batch_chunks: int = 256,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        parse_time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    ):
        self.store = store
        self.embedder = embedder
        self.max_chars = max_chars
        self.batch_chunks = batch_chunks
        self.max_file_bytes = max_file_bytes
        self.parse_time_limit_s = parse_time_limit_s
        self.texts = TextStore(store.location.path)
        self.words = TokenCache(store.location.layout.word_cache(store.location.collection))
        # Sources whose records name chunks the store lacks: indexed again, never "unchanged" (_unchanged).
        self.lacking: set[str] = set()

    def sweep(self, manifest: dict[str, DocRecord]) -> int:
        """Delete chunks no manifest record names (left by an interrupted run; only under the writer lock)."""
        live = {cid for record in manifest.values() for cid in record.chunk_ids}
        orphans = sorted(self.store.chunk_ids() - live)
        self.store.delete_chunks(orphans)
        return len(orphans)

    def ingest(self, paths: Iterable[Path], progress: Progress | None = None) -> IngestSummary:
        """Index the files under paths; report per-file failures in the summary, never abort on one."""
        began = time.perf_counter()
        paths = list(paths)
        found = discover(paths, self.max_file_bytes, skip=[self.store.location.path])  # never its own store
        summary = IngestSummary(
            failed=len(found.failed),
            skipped=len(found.skipped),
            ignored=found.ignored.total(),
            ignored_types=found.ignored,
            failures=found.failed,
            skips=found.skipped,
        )
        manifest = self.store.documents()
        damaged = list(self.store.damaged)
        self.sweep(manifest)
        by_path = {record.path: record for record in manifest.values()}
        files = unique_names([_known_as(file, by_path) for file in found.files], manifest)
        self.lacking = self._lacking([manifest[f.source] for f in files if f.source in manifest])
        pending: list[_Pending] = []
        if progress:
            progress("files", 0, total=len(files))
        with Extractor(self.parse_time_limit_s) as extractor:
            for file in files:
                item = self._prepare(file, manifest, summary, extractor)
                if progress:
                    progress("files", 1)
                if item:
                    pending.append(item)
                if sum(len(p.chunks) for p in pending) >= self.batch_chunks:
                    self._write(pending, manifest, summary, progress)
                    pending = []
        self._write(pending, manifest, summary, progress)
        self._remove_deleted(paths, found, manifest, summary)
        # Texts no record names any more (a replaced PDF's old text); a reader still citing one falls back
        # to the indexed passage, as for any changed file.
        self.texts.prune(self._texts_in_use(manifest))
        for record_id in damaged:
            # A record that could not be read names chunks already swept; its file is added anew when seen.
            if record_id not in manifest:
                self.store.forget(record_id)
        self.store.mark_ingested(now_iso())
        summary.seconds = time.perf_counter() - began
        return summary

    def _texts_in_use(self, manifest: dict[str, DocRecord]) -> set[str]:
        """The extracted texts this collection's records or any other collection of the store name."""
        layout = StoreLayout(self.store.location.path)
        kept = {str(layout.text(r.text_sha256)) for r in manifest.values() if r.text_sha256}
        on_disk = {str(p) for p in layout.texts.glob("*.txt")} if layout.texts.is_dir() else set()
        if on_disk <= kept:  # nothing to prune: the other collections' manifests need not be read
            return kept
        return kept | {str(layout.text(sha)) for sha in self.store.texts_named_elsewhere()}

    def _prepare(
        self, file: SourceFile, manifest: dict[str, DocRecord], summary: IngestSummary, extractor: Extractor
    ) -> _Pending | None:
        record = manifest.get(file.source)
        try:
            if record and record.path != str(file.path) and os.path.exists(record.path):
                raise LoadError(
                    f"{file.path}: another file with the same name is indexed ({record.path}); "
                    "ingest their common parent folder instead"
                )
            data = read_bytes(file, self.max_file_bytes)
            if record and self._unchanged(record, file, data):
                summary.unchanged += 1
                return None
            document = decode(file, data, extractor)
        except NoTextError as exc:
            # A blank document is the user's own choice, not a fault: named, exit 0. One that had text when
            # last indexed is dropped, as a file the walk now skips is: its old passages are no longer in it.
            summary.skipped += 1
            summary.skips.append(str(exc))
            if record:
                self._forget(record, manifest, summary)
            return None
        except LoadError as exc:
            summary.failed += 1
            summary.failures.append(str(exc))
            return None
        return _Pending(document, file.root, record is None, _stored_chunks(document, self.max_chars))

    def _lacking(self, records: list[DocRecord]) -> set[str]:
        """The sources of records naming a chunk the store lacks (deleted behind the manifest's back, or lost
        to a second writer): asked in pages of ids, not file by file."""
        wanted = [cid for record in records for cid in record.chunk_ids]
        present: set[str] = set()
        for begin in range(0, len(wanted), _PRESENCE_PAGE):
            present |= self.store.present(wanted[begin : begin + _PRESENCE_PAGE])
        return {record.source for record in records if not present.issuperset(record.chunk_ids)}

    def _unchanged(self, record: DocRecord, file: SourceFile, data: bytes) -> bool:
        """Same bytes, same path, read by the same parser, its chunks all in the store, its extracted text
        still kept."""
        if record.sha256 != fingerprint(data) or record.path != str(file.path):
            return False
        if record.source in self.lacking:
            return False  # a manifest that names chunks the store lacks is never trusted
        if record.parser != parser_version(file.path.suffix):
            return False  # a new parser version reads it again (its text, and so its chunks, may differ)
        return not record.text_sha256 or os.path.isfile(record.text_file(self.store.location.path))

    def _write(
        self,
        pending: list[_Pending],
        manifest: dict[str, DocRecord],
        summary: IngestSummary,
        progress: Progress | None,
    ) -> None:
        # The chunks go to the store a bounded slice at a time (a 50 MB file is ~50,000 chunks and ~900,000
        # sentences: as one batch its vectors alone took ~13 GB). Each file's record still commits only after
        # all its chunks are written, in one manifest write for the batch (that write is each file's commit);
        # a crash before it leaves orphans, which the next sweep deletes.
        for part in _slices([c for item in pending for c in item.chunks]):
            self._put(part, progress)
        for item in pending:
            # The extracted text is in place before the record naming it commits.
            if item.document.extracted:
                self.texts.put(item.document.text)
        records = [
            DocRecord(
                source=item.document.source,
                path=str(item.document.path),
                root=str(item.root),
                sha256=item.document.sha256,
                title=item.document.title,
                chunk_ids=tuple(c.id for c in item.chunks),
                ingested_at=now_iso(),
                text_sha256=text_sha256(item.document.text) if item.document.extracted else "",
                regions=item.document.regions.to_json() if item.document.regions else "",
                parser=item.document.parser,
            )
            for item in pending
        ]
        if records:
            self.store.commit(records)
        superseded: set[str] = set()
        for item, record in zip(pending, records, strict=True):
            old = manifest.get(record.source)
            if old:
                superseded |= set(old.chunk_ids) - set(record.chunk_ids)
            manifest[record.source] = record
            summary.chunks += len(item.chunks)
            if item.is_new:
                summary.added += 1
            else:
                summary.updated += 1
        self.store.delete_chunks(sorted(superseded))

    def _put(self, part: list[tuple[StoredChunk, list[Span]]], progress: Progress | None) -> None:
        """Embed these chunks' sentences in one call, then write the chunks with their vectors and words."""
        texts = [stored.text[a:b] for stored, spans in part for a, b in spans]
        # float32 from the start: the embedder's lists of Python floats cost ~8 times the memory.
        vectors = np.asarray(
            self.embedder.embed(texts, progress=(lambda n: progress("sentences", n)) if progress else None),
            dtype=np.float32,
        ).reshape(len(texts), -1)
        at = 0
        written: list[StoredChunk] = []
        chunk_vectors: list[list[float]] = []
        for stored, spans in part:
            sentences = SentenceVectors(tuple(spans), vectors[at : at + len(spans)])
            at += len(spans)
            written.append(replace(stored, sentences=sentences.pack()))
            chunk_vectors.append(sentences.chunk_vector())
        # One chunk write per slice (a whole batch of small files is one slice): Chroma's per-call cost
        # dominates small files.
        self.store.put_chunks(written, chunk_vectors)
        # Their BM25 words too, so that no reader has to tokenise them (a cache: a failure costs only time).
        self.words.put({c.id: Words.of(c.text) for c in written})

    def _remove_deleted(
        self, paths: list[Path], found: Discovery, manifest: dict[str, DocRecord], summary: IngestSummary
    ) -> None:
        """Drop files under the given folders that the walk no longer lists (deleted, or now skipped)."""
        folders = [str(Path(p).expanduser().resolve()) for p in paths if Path(p).is_dir()]
        listed = {str(f.path) for f in found.files}
        unseen = [str(u) for u in found.unreadable]
        for record in list(manifest.values()):
            inside = any(is_inside(record.path, folder) for folder in folders)
            # Files under a folder that could not be read are kept as they are: nothing is lost to a glitch.
            if not inside or record.path in listed or any(is_inside(record.path, u) for u in unseen):
                continue
            self._forget(record, manifest, summary)

    def _forget(self, record: DocRecord, manifest: dict[str, DocRecord], summary: IngestSummary) -> None:
        """Remove one indexed file: its record (the commit), then its chunks."""
        self.store.forget(record.source)
        self.store.delete_chunks(list(record.chunk_ids))
        del manifest[record.source]
        summary.removed += 1


def unique_names(files: list[SourceFile], manifest: dict[str, DocRecord]) -> list[SourceFile]:
    """Files under names no other file holds: `notes.md` of a second folder becomes `docs-b/notes.md`.

    A name is held by another file indexed under it that still exists, or by a file earlier in this ingest
    (the folders' order on the command line decides who keeps the plain name). A file already indexed keeps
    its name (_known_as), so ids never change once given.
    """
    held = {source for source, record in manifest.items() if os.path.exists(record.path)}
    owner = {source: record.path for source, record in manifest.items()}
    out: list[SourceFile] = []
    for file in files:
        source = file.source
        folders = [file.root, *file.root.parents]
        depth = 0
        while source in held and owner.get(source) != str(file.path):
            if depth < len(folders) and folders[depth].name:
                source = f"{folders[depth].name}/{source}"
                depth += 1
            else:  # as far up as the root: the file's whole path is its name
                source = file.path.as_posix().lstrip("/")
                break
        held.add(source)
        owner[source] = str(file.path)
        out.append(file if source == file.source else replace(file, source=source))
    return out


def _known_as(file: SourceFile, by_path: dict[str, DocRecord]) -> SourceFile:
    """The file under the name it is already indexed by, if another ingest reached it from another folder."""
    record = by_path.get(str(file.path))
    if record is None or record.source == file.source:
        return file
    return replace(file, source=record.source, root=Path(record.root))
