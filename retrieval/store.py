"""Chroma, embedded on disk or a server: the chunks, their vectors, and which version of each file is indexed.

Two collections: `<name>` holds the chunks (deterministic ids, text, offsets, vectors); `<name>-docs` is the
manifest, one record per file naming its indexed version and chunk ids. Writing a file's manifest record is
the commit point of its ingest: chunks not named by the manifest are invisible to search and swept away by
the next ingest, so a crash leaves every file at its old version or its new one, never between.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from retrieval.errors import StoreError

MARKER = "citebot-store.json"
STORE_FORMAT = 1
PAGE = 2000


@dataclass(frozen=True)
class StoreLocation:
    """Where the store lives: a local folder (always; also the cache) and optionally a Chroma server."""

    path: Path
    chroma_url: str | None = None
    collection: str = "citebot"

    def describe(self) -> str:
        """A one-line name for messages and status."""
        where = self.chroma_url or str(self.path)
        return f"{where} (collection {self.collection})"


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


def _check_folder(path: Path, create: bool) -> None:
    marker = path / MARKER
    if marker.is_file():
        try:
            fmt = json.loads(marker.read_text(encoding="utf-8")).get("format")
        except (OSError, ValueError, AttributeError) as exc:
            raise StoreError(f"{path} is damaged: {MARKER} is unreadable") from exc
        if fmt != STORE_FORMAT:
            raise StoreError(f"{path} has store format {fmt!r}; this citebot reads format {STORE_FORMAT}")
        return
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise StoreError(
            f"{path} is not a citebot store (no {MARKER}); choose another --store or remove that folder"
        )
    if not create:
        raise StoreError(f"No citebot store at {path} yet; run `citebot ingest` first")
    try:
        path.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"format": STORE_FORMAT}) + "\n", encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"Cannot create a store at {path}: {exc.strerror or exc}") from exc


def _client(location: StoreLocation) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    if location.chroma_url:
        url = urlparse(location.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise StoreError(f"The Chroma URL must look like http://host:port, not {location.chroma_url!r}")
        port = url.port or (443 if url.scheme == "https" else 8000)
        return chromadb.HttpClient(host=url.hostname, port=port, ssl=url.scheme == "https", settings=settings)
    return chromadb.PersistentClient(path=str(location.path / "chroma"), settings=settings)


def _is_failure(exc: BaseException) -> bool:
    # Chroma's Rust core raises pyo3's PanicException, a BaseException, on a damaged database.
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


class ChunkStore:
    """The chunks collection and the manifest, in one Chroma database."""

    def __init__(self, location: StoreLocation, create: bool = True) -> None:
        self.location = location
        if len(location.collection) < 3:
            raise StoreError("The collection name needs at least 3 characters (a Chroma rule)")
        if not location.chroma_url:
            _check_folder(location.path, create)
        else:
            location.path.mkdir(parents=True, exist_ok=True)
        try:
            self.client = _client(location)
            self.chunks = self.client.get_or_create_collection(
                location.collection, configuration={"hnsw": {"space": "cosine"}}
            )
            self.docs = self.client.get_or_create_collection(f"{location.collection}-docs")
            self.langchain = self._langchain_store()
        except StoreError:
            raise
        except BaseException as exc:
            if not _is_failure(exc):
                raise
            if location.chroma_url:
                raise StoreError(f"Cannot reach the Chroma server at {location.chroma_url}: {exc}") from exc
            raise StoreError(f"The store at {location.path} is damaged or not readable: {exc}") from exc

    def _langchain_store(self) -> Any:
        """The chunks collection as a LangChain Chroma store, searched by vector (we embed ourselves)."""
        from langchain_chroma import Chroma

        return Chroma(client=self.client, collection_name=self.location.collection)

    def documents(self) -> dict[str, DocRecord]:
        """The manifest: every indexed file by source."""
        records: dict[str, DocRecord] = {}
        for _, meta in self._pages(self.docs, include=["metadatas"]):
            record = DocRecord.from_metadata(meta)
            records[record.source] = record
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
        return int(self.docs.count())

    def chunk_ids(self) -> set[str]:
        """Every chunk id present, committed or not."""
        return {item_id for item_id, _ in self._pages(self.chunks, include=[])}

    def put_chunks(self, chunks: list[StoredChunk], vectors: list[list[float]]) -> None:
        """Write chunks with their vectors (idempotent: ids are deterministic)."""
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
        for begin in range(0, len(records), PAGE):
            part = records[begin : begin + PAGE]
            self.docs.upsert(
                ids=[r.source for r in part],
                metadatas=[r.to_metadata() for r in part],
                embeddings=[[1.0]] * len(part),
            )

    def forget(self, source: str) -> None:
        """Drop a file from the manifest (its chunks become orphans, swept next)."""
        self.docs.delete(ids=[source])

    def delete_chunks(self, ids: list[str]) -> None:
        """Remove chunks by id."""
        for begin in range(0, len(ids), PAGE):
            self.chunks.delete(ids=ids[begin : begin + PAGE])

    def load_chunks(self, wanted: set[str]) -> list[StoredChunk]:
        """The committed chunks' text and offsets, in id order."""
        found: list[StoredChunk] = []
        offset = 0
        while True:
            page = self.chunks.get(limit=PAGE, offset=offset, include=["documents", "metadatas"])
            if not page["ids"]:
                break
            for item_id, text, meta in zip(page["ids"], page["documents"], page["metadatas"], strict=True):
                if item_id in wanted:
                    found.append(
                        StoredChunk(
                            item_id,
                            str(meta["source"]),
                            int(meta["start"]),
                            int(meta["end"]),
                            text,
                            int(meta.get("line", 1)),
                            str(meta.get("sentences", "")),
                        )
                    )
            offset += len(page["ids"])
        return sorted(found, key=lambda c: c.id)

    def nearest(self, vector: list[float], k: int) -> list[tuple[str, float]]:
        """Chunk ids nearest to a vector, with cosine similarity."""
        found = self.langchain.similarity_search_by_vector_with_relevance_scores(vector, k=k)
        # The collection's space is cosine, so Chroma's distance is 1 - cosine similarity.
        return [(str(doc.id), 1.0 - float(distance)) for doc, distance in found]

    def mark_ingested(self, when: str) -> None:
        """Remember when an ingest last finished."""
        self.docs.modify(metadata={"last_ingest": when})

    def last_ingested(self) -> str | None:
        """When an ingest last finished, if ever."""
        value = (self.docs.metadata or {}).get("last_ingest")
        return str(value) if value else None
