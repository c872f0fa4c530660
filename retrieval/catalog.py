"""What a collection holds, document by document, and the two ways to take something out of it."""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from retrieval.errors import InputError
from retrieval.search.freshness import Freshness
from retrieval.store.chunk_store import ChunkStore, DocRecord, StoreLocation, forget_clients
from retrieval.store.client import open_client, read_only_copy, writable
from retrieval.store.collections import collection_counts
from retrieval.store.collections import drop_collection as drop_chroma_collections
from retrieval.store.failures import translated_failures
from retrieval.store.folder import check_folder, read_marker, write_marker
from retrieval.store.layout import StoreLayout
from retrieval.store.names import check_chroma_url, check_collection_name
from retrieval.store.writer_lock import server_lease, writer_lock
from retrieval.text.regions import SECTION


@dataclass(frozen=True)
class IndexedDocument:
    """One indexed file as `citebot docs` lists it."""

    source: str
    path: str
    format: str
    # Pages of a PDF, slides of a deck (0 where the format has neither).
    pages: int
    chunks: int
    ingested_at: str
    parser: str
    stale: bool

    def as_json(self) -> dict[str, Any]:
        """The document as `docs --json` prints it."""
        return asdict(self)


def _pages(record: DocRecord) -> int:
    numbers = {r.number for r in record.region_map().regions if r.kind != SECTION and r.number is not None}
    return len(numbers)


def list_documents(store: ChunkStore, freshness: Freshness) -> list[IndexedDocument]:
    """Every file the collection indexes, by its name, with whether the file changed since."""
    return [
        IndexedDocument(
            source=record.source,
            path=record.path,
            format=Path(record.path).suffix.lower().lstrip(".") or "text",
            pages=_pages(record),
            chunks=len(record.chunk_ids),
            ingested_at=record.ingested_at,
            parser=record.parser,
            stale=not freshness.is_fresh(record),
        )
        for record in sorted(store.documents().values(), key=lambda r: r.source)
    ]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def records_named(paths: list[Path], manifest: dict[str, DocRecord]) -> list[DocRecord]:
    """The records a list of paths names: a file indexed, every file indexed under a folder, or a name as
    `docs` lists it; a path that names nothing is an InputError that says why."""
    chosen: dict[str, DocRecord] = {}
    for given in paths:
        absolute = str(Path(given).expanduser().absolute())
        resolved = str(Path(given).expanduser().resolve())
        found = [
            r
            for r in manifest.values()
            if r.source == str(given) or any(_inside(r.path, p) for p in (absolute, resolved))
        ]
        if not found:
            roots = {r.root for r in manifest.values()}
            if not any(_inside(p, root) for root in roots for p in (absolute, resolved)):
                raise InputError(
                    f"{given} is outside every folder ingested into this collection; nothing removed"
                )
            raise InputError(
                f"{given} is not indexed in this collection (`citebot docs` lists what is); nothing removed"
            )
        chosen.update((r.source, r) for r in found)
    return [chosen[source] for source in sorted(chosen)]


def forget_records(store: ChunkStore, records: list[DocRecord]) -> None:
    """Remove files from the index, each in one step (its manifest record goes first: the commit point);
    the caller holds the writer lock."""
    for record in records:
        store.forget(record.source)
        store.delete_chunks(list(record.chunk_ids))
    store.recount()


def list_collections(location: StoreLocation) -> dict[str, int]:
    """The collections of a store folder or server, each with its count of indexed files."""
    if location.chroma_url:
        check_chroma_url(location.chroma_url)
    else:
        check_folder(location.path, create=False)
    server = location.where() if location.chroma_url else None
    with translated_failures(location.path, server, "listing the collections"):
        local = not location.chroma_url
        copy = read_only_copy(location.path) if local and not writable(location.path) else None
        return collection_counts(open_client(location, copy))


def drop_collection(location: StoreLocation) -> int:
    """Delete a whole collection (under its writer lock): its Chroma collections and its derived files;
    how many files it indexed. Texts extracted for other collections are kept."""
    check_collection_name(location.collection)
    if location.chroma_url:
        check_chroma_url(location.chroma_url)
    with writer_lock(location.path, location.collection), server_lease(location):
        store = ChunkStore(location, create=False)
        count = store.document_count()
        drop_chroma_collections(store.client, location.collection)
        forget_clients()
        layout = StoreLayout(location.path)
        if not location.chroma_url:
            marker = read_marker(location.path)
            counts = {k: v for k, v in marker.get("documents", {}).items() if k != location.collection}
            named = [c for c in marker.get("collections", []) if c != location.collection]
            write_marker(location.path, {**marker, "collections": named, "documents": counts})
        for derived in (layout.word_cache(location.collection), layout.manifest(location.collection)):
            derived.unlink(missing_ok=True)
        _remove_tree(layout.bm25_bases(location.collection))
    return count


def _remove_tree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
