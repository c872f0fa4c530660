"""Chroma, embedded on disk or a server: the chunks, their vectors, and which version of each file is indexed.

Two collections per generation: `<name>` holds the chunks (deterministic ids, text, offsets, vectors);
`<name>-docs` is the manifest, one record per file naming its indexed version and chunk ids, and in its
metadata the build record. Writing a file's manifest record is the commit point of its ingest: chunks not
named by the manifest are invisible to search and swept away by the next ingest, so a crash leaves every
file at its old version or its new one, never between. A rebuild fills a new generation beside the live one
and switches the head to it when complete (store_generations.py).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from retrieval.errors import StoreError, UnknownCollectionError
from retrieval.store.build_record import BuildRecord, check_format
from retrieval.store.client import forget_clients as forget_clients
from retrieval.store.client import open_client, read_only_copy, writable
from retrieval.store.collections import collection_counts, texts_named
from retrieval.store.failures import OPENING, translated_failures
from retrieval.store.folder import REBUILD, STORE_FORMAT, check_folder, read_marker, write_marker
from retrieval.store.generations import Generations, drop_generation, read_generations, switch_head
from retrieval.store.layout import CHROMA, DATABASE
from retrieval.store.names import check_chroma_url, check_collection_name, generation_names
from retrieval.store.records import DocRecord as DocRecord
from retrieval.store.records import StoredChunk as StoredChunk
from retrieval.store.records import StoreLocation as StoreLocation
from retrieval.store.records import chunk_id as chunk_id
from retrieval.store.records import now_iso as now_iso
from retrieval.store.records import stored_chunk
from retrieval.store.version import VERSION, read_committed_version, version_number
from retrieval.store.writer_lock import check_lease

PAGE = 2000
BUILD = "build"


class ChunkStore:
    """The chunks collection and the manifest of one generation (the live one unless told), in one Chroma."""

    def __init__(self, location: StoreLocation, create: bool = True, generation: int | None = None) -> None:
        """Open the live generation; with generation, create that one anew (pending until make_live)."""
        self.location = location
        self.damaged: list[str] = []
        self.pending = generation is not None
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
            not location.chroma_url and (location.path / CHROMA).is_dir() and not writable(location.path)
        )
        with self._guard(OPENING):
            copy = read_only_copy(location.path) if self.read_only else None
            self.client = open_client(location, copy)
            self._open_generation(create and not self.read_only, generation)
            self.langchain = self._langchain_store()
        self.build = self.read_build()
        # The committed version this handle's Chroma client has loaded: an embedded client keeps the vector
        # index it opened in memory and never sees another process's later vectors (measured with chromadb
        # 1.x), so a reader of a newer version opens the store anew (retrieval/search/snapshot.py).
        # Held while this handle moves the version on: a question in another thread must not read the new
        # version before seen_version says this handle wrote it (it would reopen the store for nothing).
        self._version_lock = threading.Lock()
        self.seen_version = self.committed_version()

    def _open_generation(self, create: bool, generation: int | None) -> None:
        from chromadb.errors import NotFoundError as ChromaNotFound

        for attempt in range(3):
            state = read_generations(self.client, self.location.collection)
            self.generation = state.live if generation is None else generation
            try:
                self._open_collections(create, state)
                return
            except (StoreError, ChromaNotFound):
                # A rebuild may have switched the head and dropped this generation since it was listed.
                if generation is not None or attempt == 2:
                    raise
                if read_generations(self.client, self.location.collection).live == self.generation:
                    raise

    def _open_collections(self, create: bool, state: Generations) -> None:
        name, manifest = generation_names(self.location.collection, self.generation)
        present = state.names
        marker = None if self.location.chroma_url else read_marker(self.location.path)
        known = set(marker.get("collections", [])) if marker else set()
        if (name in present) != (manifest in present):
            missing = manifest if name in present else name
            raise StoreError(
                f"The store {self.location.describe()} is damaged: {missing} is missing; {REBUILD}"
            )
        if name not in present and not self.pending:
            # The marker remembers the collection was created; a head names only a generation it made.
            if self.location.collection in known or self.generation > 0:
                where = self.location.describe()
                raise StoreError(f"The store {where} is damaged: its collection has disappeared; {REBUILD}")
            if not create:
                raise self._unknown_collection()
            self.created = True
        if name in present:
            self.chunks = self.client.get_collection(name)
            self.docs = self.client.get_collection(manifest)
        else:  # a writer on another host may create them at the same moment: both then open them
            cosine = {"hnsw": {"space": "cosine"}}
            self.chunks = self.client.get_or_create_collection(name, configuration=cosine)
            self.docs = self.client.get_or_create_collection(manifest)
        # The marker counts the live generation's files, under the collection's name.
        indexed = int((marker or {}).get("documents", {}).get(self.location.collection, 0))
        if indexed and not self.pending and not self.docs.count():
            # A database whose pages were overwritten can read as empty: the marker remembers it was not.
            raise StoreError(
                f"The store at {self.location.path} is damaged: {DATABASE} reads as empty, but {indexed} "
                f"files were indexed; {REBUILD}"
            )
        if marker is not None and self.location.collection not in known and not self.read_only:
            write_marker(
                self.location.path, {**marker, "collections": sorted(known | {self.location.collection})}
            )

    def _guard(self, doing: str) -> AbstractContextManager[None]:
        """Any failure of Chroma (or of the disk under it) while doing this becomes one StoreError."""
        server = self.location.where() if self.location.chroma_url else None
        return translated_failures(self.location.path, server, doing)

    def _writing(self, doing: str) -> AbstractContextManager[None]:
        """A write: refused once this process's lease on the server collection lapsed (writer_lock.py)."""
        check_lease(self.location)
        return self._guard(doing)

    def read_build(self) -> BuildRecord | None:
        """This generation's build record, read anew (None: built before records existed, or brand new)."""
        with self._guard("reading the build record"):
            _, manifest = generation_names(self.location.collection, self.generation)
            metadata = self.client.get_collection(manifest).metadata or {}
        if BUILD not in metadata:
            return None
        record = BuildRecord.from_json(str(metadata[BUILD]), self.location.describe())
        check_format(record, self.location.describe())
        return record

    def write_build(self, record: BuildRecord) -> None:
        """Record how this generation is built (before its first chunk, so it always describes them)."""
        self._set_metadata(BUILD, record.to_json())
        self.build = record

    def _set_metadata(self, key: str, value: str | int) -> None:
        # Chroma's modify replaces a collection's metadata whole: merge with what is there now.
        with self._writing("writing the manifest's metadata"):
            self.docs.modify(metadata={**self._manifest_metadata(), key: value})

    def _manifest_metadata(self) -> dict[str, Any]:
        """This generation's manifest metadata, read anew (another writer may have changed it)."""
        _, manifest = generation_names(self.location.collection, self.generation)
        return dict(self.client.get_collection(manifest).metadata or {})

    def committed_version(self) -> str:
        """The live generation and its manifest's version, read anew ("2.17"); every commit moves it on."""
        with self._guard("reading the index version"):
            return read_committed_version(self.client, self.location.collection)

    def sees(self, version: str) -> bool:
        """Whether this handle reads that committed version whole (a server client reads the newest of
        its own generation: one a rebuild made live is in other collections, so it is opened anew)."""
        if self.location.chroma_url:
            return not self.pending and version.partition(".")[0] == str(self.generation)
        return version == self.seen_version

    def newest_version(self) -> tuple[str, bool]:
        """The committed version now, and whether this handle reads it whole (see sees)."""
        if self.read_only:  # a private copy, which no writer moves on
            return self.seen_version, True
        with self._version_lock:
            version = self.committed_version()
            return version, self.sees(version)

    def _move_version_on(self) -> None:
        """After a commit or removal: the manifest's next version, seen by this handle (it wrote it)."""
        with self._version_lock:
            with self._guard("reading the manifest's metadata"):
                version = version_number(self._manifest_metadata()) + 1
            self._set_metadata(VERSION, version)
            if not self.pending:  # a rebuild's generation is seen by readers once it is live (make_live)
                self.seen_version = f"{self.generation}.{version}"

    def generations(self) -> Generations:
        """The collection's generations as Chroma holds them now."""
        with self._guard("listing the generations"):
            return read_generations(self.client, self.location.collection)

    def drop_generations(self, generations: list[int]) -> None:
        """Delete generations that are not live (a killed rebuild's, a replaced one); writers only."""
        state = self.generations()
        with self._writing("dropping an old generation"):
            for generation in generations:
                if generation != state.live:
                    drop_generation(self.client, self.location.collection, generation, state.names)

    def make_live(self) -> None:
        """Switch the head to this (complete) generation: from now on every reader opens it."""
        with self._writing("switching to the rebuilt index"):
            switch_head(self.client, self.location.collection, self.generation)
        self.pending = False
        # Held while this handle moves the version on: a question in another thread must not read the new
        # version before seen_version says this handle wrote it (it would reopen the store for nothing).
        self._version_lock = threading.Lock()
        self.seen_version = self.committed_version()
        if not self.location.chroma_url:
            # A head means generations: an older citebot, which would not look for them, must refuse it.
            marker = read_marker(self.location.path)
            counts = {**marker.get("documents", {}), self.location.collection: self.document_count()}
            write_marker(self.location.path, {**marker, "format": STORE_FORMAT, "documents": counts})

    def _langchain_store(self) -> Any:
        """The chunks collection as a LangChain Chroma store, searched by vector (we embed ourselves)."""
        from langchain_chroma import Chroma

        return Chroma(client=self.client, collection_name=self.chunks.name)

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

    def _unknown_collection(self) -> UnknownCollectionError:
        """The error for a collection this store lacks: it names the ones it has."""
        names = ", ".join(collection_counts(self.client)) or "none yet"
        return UnknownCollectionError(
            f"The store {self.location.where()} has no collection {self.location.collection!r} "
            f"(it has: {names}); `citebot ingest --collection {self.location.collection} FOLDER` makes it"
        )

    def texts_named_elsewhere(self) -> set[str]:
        """The extracted texts (sha256) the store's other collections name."""
        with self._guard("reading the other collections"):
            return texts_named(self.client, self.location.collection)

    def collections(self) -> dict[str, int]:
        """Every collection of this store folder or server, with its count of indexed files."""
        with self._guard("listing the collections"):
            return collection_counts(self.client)

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
        with self._writing("writing chunks"):
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
        with self._writing("committing files"):
            for begin in range(0, len(records), PAGE):
                part = records[begin : begin + PAGE]
                self.docs.upsert(
                    ids=[r.source for r in part],
                    metadatas=[r.to_metadata() for r in part],
                    embeddings=[[1.0]] * len(part),
                )
        if records:
            self._move_version_on()

    def forget(self, source: str) -> None:
        """Drop a file from the manifest (its chunks become orphans, swept next)."""
        with self._writing("removing a file"):
            self.docs.delete(ids=[source])
        self._move_version_on()

    def delete_chunks(self, ids: list[str]) -> None:
        """Remove chunks by id."""
        with self._writing("removing chunks"):
            for begin in range(0, len(ids), PAGE):
                self.chunks.delete(ids=ids[begin : begin + PAGE])

    def load_chunks(self, wanted: set[str]) -> list[StoredChunk]:
        """The chunks of wanted that are present, text and offsets, in id order (a page of ids per call)."""
        ids = sorted(wanted)
        return [chunk for at in range(0, len(ids), PAGE) for chunk in self.get_chunks(ids[at : at + PAGE])]

    def get_chunks(self, ids: list[str]) -> list[StoredChunk]:
        """Chunks by id (those present), in id order."""
        with self._guard("reading chunks"):
            page = self.chunks.get(ids=ids, include=["documents", "metadatas"])
        found = [
            stored_chunk(i, t, m)
            for i, t, m in zip(page["ids"], page["documents"], page["metadatas"], strict=True)
        ]
        return sorted(found, key=lambda c: c.id)

    def present(self, ids: list[str]) -> set[str]:
        """Which of these chunk ids the store holds (ids only: nothing else is read)."""
        with self._guard("reading chunks"):
            return {str(i) for i in self.chunks.get(ids=ids, include=[])["ids"]}

    def nearest(self, vector: list[float], k: int) -> list[tuple[str, float]]:
        """Chunk ids nearest to a vector, with cosine similarity."""
        with self._guard("searching"):
            found = self.langchain.similarity_search_by_vector_with_relevance_scores(vector, k=k)
        # The collection's space is cosine, so Chroma's distance is 1 - cosine similarity.
        return [(str(doc.id), 1.0 - float(distance)) for doc, distance in found]

    def warm_vectors(self) -> None:
        """Have Chroma load the collection's vector index now, as its first query otherwise does (0.3 s at
        100k chunks): run beside the corpus's opening, since Chroma's query releases the GIL."""
        if self.build is None:
            return
        vector = [1.0] + [0.0] * (self.build.model.dimension - 1)
        # Only a head start: whatever fails here fails again in the question's own search, and is reported.
        with contextlib.suppress(Exception):
            self.chunks.query(query_embeddings=[vector], n_results=1, include=[])

    def mark_ingested(self, when: str) -> None:
        """Remember when an ingest last finished, and (in the marker) how many files it left indexed."""
        self._set_metadata("last_ingest", when)
        self.recount()

    def recount(self) -> None:
        """Write the live generation's count of files into the marker (a store that reads as empty but
        whose marker counts files is damaged, so the count follows every removal too)."""
        with self._guard("counting the files"):
            count = int(self.docs.count())
        # A generation being rebuilt is not live yet: the marker counts the live one's files (make_live).
        if not self.location.chroma_url and not self.pending:
            marker = read_marker(self.location.path)
            counts = {**marker.get("documents", {}), self.location.collection: count}
            write_marker(self.location.path, {**marker, "documents": counts})

    def last_ingested(self) -> str | None:
        """When an ingest last finished, if ever."""
        value = (self.docs.metadata or {}).get("last_ingest")
        return str(value) if value else None
