"""Chroma, embedded on disk or a server: the chunks, their vectors, and which version of each file is indexed.

Two collections: `<name>` holds the chunks (deterministic ids, text, offsets, vectors); `<name>-docs` is the
manifest, one record per file naming its indexed version and chunk ids. Writing a file's manifest record is
the commit point of its ingest: chunks not named by the manifest are invisible to search and swept away by
the next ingest, so a crash leaves every file at its old version or its new one, never between.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from retrieval.errors import StoreError
from retrieval.redaction import redact_url
from retrieval.store_failures import OPENING, translated_failures
from retrieval.store_folder import DATABASE, REBUILD, check_folder, read_marker, write_marker
from retrieval.store_names import MANIFEST_SUFFIX, check_chroma_url, check_collection_name

PAGE = 2000


@dataclass(frozen=True)
class StoreLocation:
    """Where the store lives: a local folder (always; also the cache) and optionally a Chroma server."""

    path: Path
    chroma_url: str | None = None
    collection: str = "citebot"

    def describe(self) -> str:
        """A one-line name for messages and status (a password in the server URL is never shown)."""
        return f"{self.where()} (collection {self.collection})"

    def where(self) -> str:
        """The server's URL (password hidden) or the store folder."""
        return redact_url(self.chroma_url) if self.chroma_url else str(self.path)


@dataclass(frozen=True)
class DocRecord:
    """The manifest's entry for one file: the version indexed and its chunks."""

    source: str
    path: str
    root: str
    sha256: str
    title: str
    chunk_ids: tuple[str, ...]
    ingested_at: str

    def to_metadata(self) -> dict[str, str | int]:
        """Flattened for Chroma metadata (which holds scalars only)."""
        data: dict[str, Any] = asdict(self)
        data["chunk_ids"] = json.dumps(list(self.chunk_ids))
        data["chunks"] = len(self.chunk_ids)
        return data

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> DocRecord:
        """Inverse of to_metadata."""
        return cls(
            source=str(meta["source"]),
            path=str(meta["path"]),
            root=str(meta["root"]),
            sha256=str(meta["sha256"]),
            title=str(meta.get("title", "")),
            chunk_ids=tuple(json.loads(str(meta["chunk_ids"]))),
            ingested_at=str(meta["ingested_at"]),
        )


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as the store holds it."""

    id: str
    source: str
    start: int
    end: int
    text: str
    line: int = 1
    sentences: str = ""


def chunk_id(source: str, start: int, end: int, digest: str) -> str:
    """Deterministic id: source, offsets and a content hash."""
    return f"{source}#{start}-{end}@{digest[:12]}"


def now_iso() -> str:
    """The time, for records."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _client(location: StoreLocation, read_only_copy: Path | None = None) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    if location.chroma_url:
        url = urlparse(location.chroma_url)
        port = url.port or (443 if url.scheme == "https" else 8000)
        return chromadb.HttpClient(
            host=url.hostname or "", port=port, ssl=url.scheme == "https", settings=settings
        )
    folder = read_only_copy or location.path / "chroma"
    return chromadb.PersistentClient(path=str(folder), settings=settings)


def forget_clients() -> None:
    """Drop Chroma's per-path client cache: a store folder whose files were moved must be opened anew."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def _read_only_copy(path: Path) -> Path:
    """A private copy of a read-only store's Chroma folder (Chroma's engine writes to its files on open)."""
    copy = Path(tempfile.mkdtemp(prefix="citebot-read-only-")) / "chroma"
    shutil.copytree(path / "chroma", copy)
    atexit.register(shutil.rmtree, copy.parent, ignore_errors=True)
    return copy


def _writable(path: Path) -> bool:
    return os.access(path / "chroma", os.W_OK) and os.access(path / DATABASE, os.W_OK)


class ChunkStore:
    """The chunks collection and the manifest, in one Chroma database."""

    def __init__(self, location: StoreLocation, create: bool = True) -> None:
        self.location = location
        self.damaged: list[str] = []
        check_collection_name(location.collection)
        if location.chroma_url:
            check_chroma_url(location.chroma_url)
            try:
                location.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"Cannot create the cache folder {location.path}: {exc.strerror}") from exc
            self.created = False
        else:
            self.created = check_folder(location.path, create)
        # A store on a read-only disk (a snapshot, a shared mount) is answered from a private copy.
        self.read_only = (
            not location.chroma_url and (location.path / "chroma").is_dir() and not _writable(location.path)
        )
        with self._guard(OPENING):
            copy = _read_only_copy(location.path) if self.read_only else None
            self.client = _client(location, copy)
            self._open_collections(create and not self.read_only)
            self.langchain = self._langchain_store()

    def _open_collections(self, create: bool) -> None:
        name, manifest = self.location.collection, self.location.collection + MANIFEST_SUFFIX
        present = {c.name for c in self.client.list_collections()}
        marker = None if self.location.chroma_url else read_marker(self.location.path)
        known = set(marker.get("collections", [])) if marker else set()
        if (name in present) != (manifest in present):
            missing = manifest if name in present else name
            raise StoreError(
                f"The store {self.location.describe()} is damaged: {missing} is missing; {REBUILD}"
            )
        if name not in present:
            if name in known:
                where = self.location.describe()
                raise StoreError(f"The store {where} is damaged: its collection has disappeared; {REBUILD}")
            if not create:
                where = self.location.describe()
                raise StoreError(f"The store {where} has nothing indexed yet; run `citebot ingest` first")
            self.created = True
        self.chunks = self.client.get_or_create_collection(name, configuration={"hnsw": {"space": "cosine"}})
        self.docs = self.client.get_or_create_collection(manifest)
        indexed = int((marker or {}).get("documents", {}).get(name, 0))
        if indexed and not self.docs.count():
            # A database whose pages were overwritten can read as empty: the marker remembers it was not.
            raise StoreError(
                f"The store at {self.location.path} is damaged: {DATABASE} reads as empty, but {indexed} "
                f"files were indexed; {REBUILD}"
            )
        if marker is not None and name not in known and not self.read_only:
            write_marker(self.location.path, {**marker, "collections": sorted(known | {name})})

    def _guard(self, doing: str) -> AbstractContextManager[None]:
        """Any failure of Chroma (or of the disk under it) while doing this becomes one StoreError."""
        server = self.location.where() if self.location.chroma_url else None
        return translated_failures(self.location.path, server, doing)

    def drop(self) -> None:
        """Delete this collection and its manifest (a rebuild starts from nothing)."""
        name = self.location.collection
        with self._guard("dropping the collection"):
            self.client.delete_collection(name)
            self.client.delete_collection(name + MANIFEST_SUFFIX)
        if not self.location.chroma_url:
            marker = read_marker(self.location.path)
            known = set(marker.get("collections", [])) - {name}
            write_marker(self.location.path, {**marker, "collections": sorted(known)})

    def _langchain_store(self) -> Any:
        """The chunks collection as a LangChain Chroma store, searched by vector (we embed ourselves)."""
        from langchain_chroma import Chroma

        return Chroma(client=self.client, collection_name=self.location.collection)

    def documents(self) -> dict[str, DocRecord]:
        """The manifest: every indexed file by source (damaged records are left out, named in `damaged`)."""
        records: dict[str, DocRecord] = {}
        damaged: list[str] = []
        with self._guard("reading the manifest"):
            for record_id, meta in self._pages(self.docs, include=["metadatas"]):
                try:
                    record = DocRecord.from_metadata(meta or {})
                except (KeyError, ValueError, TypeError):
                    # One bad record must not stop every command; its file is indexed anew by the next ingest.
                    damaged.append(str(record_id))
                    continue
                records[record.source] = record
        self.damaged = damaged
        return records

    def _pages(self, collection: Any, include: list[str]) -> Iterator[tuple[str, Any]]:
        offset = 0
        while True:
            page = collection.get(limit=PAGE, offset=offset, include=include)
            ids = page["ids"]
            if not ids:
                return
            metas = page.get("metadatas") or [None] * len(ids)
            docs = page.get("documents") or [None] * len(ids)
            for i, item_id in enumerate(ids):
                yield item_id, (metas[i] if "metadatas" in include else docs[i])
            offset += len(ids)

    def document_count(self) -> int:
        """How many files the manifest holds (without reading their records)."""
        with self._guard("counting documents"):
            return int(self.docs.count())

    def chunk_ids(self) -> set[str]:
        """Every chunk id present, committed or not."""
        with self._guard("listing chunks"):
            return {item_id for item_id, _ in self._pages(self.chunks, include=[])}

    def put_chunks(self, chunks: list[StoredChunk], vectors: list[list[float]]) -> None:
        """Write chunks with their vectors (idempotent: ids are deterministic)."""
        with self._guard("writing chunks"):
            for begin in range(0, len(chunks), PAGE):
                part = chunks[begin : begin + PAGE]
                self.chunks.upsert(
                    ids=[c.id for c in part],
                    documents=[c.text for c in part],
                    metadatas=[
                        {
                            "source": c.source,
                            "start": c.start,
                            "end": c.end,
                            "line": c.line,
                            "sentences": c.sentences,
                        }
                        for c in part
                    ],
                    embeddings=vectors[begin : begin + PAGE],
                )

    def commit(self, records: list[DocRecord]) -> None:
        """Make each file's new version the indexed one (a record's write is that file's atomic step)."""
        # One write for many files: Chroma's per-call cost (~25 ms) dominated ingest of small files.
        # The manifest needs no vectors; Chroma needs one, so each record carries a constant.
        with self._guard("committing files"):
            for begin in range(0, len(records), PAGE):
                part = records[begin : begin + PAGE]
                self.docs.upsert(
                    ids=[r.source for r in part],
                    metadatas=[r.to_metadata() for r in part],
                    embeddings=[[1.0]] * len(part),
                )

    def forget(self, source: str) -> None:
        """Drop a file from the manifest (its chunks become orphans, swept next)."""
        with self._guard("removing a file"):
            self.docs.delete(ids=[source])

    def delete_chunks(self, ids: list[str]) -> None:
        """Remove chunks by id."""
        with self._guard("removing chunks"):
            for begin in range(0, len(ids), PAGE):
                self.chunks.delete(ids=ids[begin : begin + PAGE])

    def load_chunks(self, wanted: set[str]) -> list[StoredChunk]:
        """The committed chunks' text and offsets, in id order."""
        found: list[StoredChunk] = []
        offset = 0
        with self._guard("reading chunks"):
            while True:
                page = self.chunks.get(limit=PAGE, offset=offset, include=["documents", "metadatas"])
                if not page["ids"]:
                    break
                found.extend(
                    _stored(item_id, text, meta)
                    for item_id, text, meta in zip(
                        page["ids"], page["documents"], page["metadatas"], strict=True
                    )
                    if item_id in wanted
                )
                offset += len(page["ids"])
        return sorted(found, key=lambda c: c.id)

    def get_chunks(self, ids: list[str]) -> list[StoredChunk]:
        """Chunks by id (those present), in id order."""
        with self._guard("reading chunks"):
            page = self.chunks.get(ids=ids, include=["documents", "metadatas"])
        found = [
            _stored(i, t, m)
            for i, t, m in zip(page["ids"], page["documents"], page["metadatas"], strict=True)
        ]
        return sorted(found, key=lambda c: c.id)

    def nearest(self, vector: list[float], k: int) -> list[tuple[str, float]]:
        """Chunk ids nearest to a vector, with cosine similarity."""
        with self._guard("searching"):
            found = self.langchain.similarity_search_by_vector_with_relevance_scores(vector, k=k)
        # The collection's space is cosine, so Chroma's distance is 1 - cosine similarity.
        return [(str(doc.id), 1.0 - float(distance)) for doc, distance in found]

    def mark_ingested(self, when: str) -> None:
        """Remember when an ingest last finished, and (in the marker) how many files it left indexed."""
        with self._guard("finishing the ingest"):
            self.docs.modify(metadata={"last_ingest": when})
            count = int(self.docs.count())
        if not self.location.chroma_url:
            marker = read_marker(self.location.path)
            counts = {**marker.get("documents", {}), self.location.collection: count}
            write_marker(self.location.path, {**marker, "documents": counts})

    def last_ingested(self) -> str | None:
        """When an ingest last finished, if ever."""
        value = (self.docs.metadata or {}).get("last_ingest")
        return str(value) if value else None


def _stored(item_id: str, text: str, meta: dict[str, Any]) -> StoredChunk:
    return StoredChunk(
        item_id,
        str(meta["source"]),
        int(meta["start"]),
        int(meta["end"]),
        text,
        int(meta.get("line", 1)),
        str(meta.get("sentences", "")),
    )
