"""The store's records as plain data: where a store lives, a file's manifest entry, a stored chunk."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrieval.store.layout import StoreLayout
from retrieval.text.redaction import redact_url
from retrieval.text.regions import RegionMap


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

    @property
    def layout(self) -> StoreLayout:
        """The paths under the store folder."""
        return StoreLayout(self.path)


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
    # For a PDF, Word file, deck or web page: the sha256 naming its extracted text in the store's texts/
    # folder, its regions (RegionMap JSON) and the parser that read it; all "" for plain text.
    text_sha256: str = ""
    regions: str = ""
    parser: str = ""

    def to_metadata(self) -> dict[str, str | int]:
        """Flattened for Chroma metadata (which holds scalars only)."""
        data: dict[str, Any] = asdict(self)
        data["chunk_ids"] = json.dumps(list(self.chunk_ids))
        data["chunks"] = len(self.chunk_ids)
        return data

    def text_file(self, store_folder: Path) -> str:
        """The file citations are offsets into: the file itself, or its text as extracted, in the store."""
        if not self.text_sha256:
            return self.path
        return str(StoreLayout(store_folder).text(self.text_sha256))

    def region_map(self) -> RegionMap:
        """The document's pages, slides or sections (none for plain text, or for a record that is damaged)."""
        try:
            return RegionMap.from_json(self.regions)
        except (ValueError, TypeError):
            return RegionMap()

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
            text_sha256=str(meta.get("text_sha256", "")),
            regions=str(meta.get("regions", "")),
            parser=str(meta.get("parser", "")),
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


def stored_chunk(item_id: str, text: str, meta: dict[str, Any]) -> StoredChunk:
    """A chunk as Chroma returns it: its id, its text and its metadata."""
    return StoredChunk(
        item_id,
        str(meta["source"]),
        int(meta["start"]),
        int(meta["end"]),
        text,
        int(meta.get("line", 1)),
        str(meta.get("sentences", "")),
    )
