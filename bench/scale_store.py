"""A synthetic store of N chunks for bench.scale, written by the real ingest, with random sentence vectors.

The documents are written as .txt files and indexed by Engine.ingest, the code `citebot ingest` runs (writer
lock, build record with the packaged model's identity, Indexer). Only the encoder is replaced: the engine's
embedder gives every sentence a seeded random unit vector, so a 100k-chunk store builds in minutes on 2
cores instead of hours; chunks, sentence spans, packing, manifest records and Chroma's vector index are what
an ingest of those files writes. A store is built once per parameters (the engine's write-path code among
them) and reused: they are written (build.json) only once it is complete.

Run as `python -m bench.scale_store CHUNKS FOLDER`; prints the build's figures as one JSON object.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.scale_corpus import GENERATOR_VERSION, PARAGRAPHS, SEED, documents
from retrieval.engine import Engine, EngineConfig
from retrieval.inference.embedder import Embedder
from retrieval.ingest.chunking import CHUNKER_VERSION
from retrieval.store.chunk_store import StoreLocation
from retrieval.store.folder import STORE_FORMAT
from retrieval.types import ModelIdentity

PARAMETERS = "build.json"
RETRIEVAL = Path(__file__).resolve().parent.parent / "retrieval"
# The modules an ingest writes the store through: when one changes, a cached store may no longer be what an
# ingest writes. engine.py is left out: it only takes the writer lock and calls indexing.py (hashing it
# built the 100k store again for every change to how the engine answers). The tokeniser decides the word
# cache, and is measured by its output (tokens_sha256), not by lexical.py's bytes: the BM25 index
# (lexical.py, lexical_store.py, corpus.py) is derived data, checked against the manifest when opened, so
# changing it keeps the cached store.
WRITE_PATH = (
    "indexing.py",
    "chunking.py",
    "sentence_vectors.py",
    "token_cache.py",
    "build_record.py",
    "store*.py",
    "store/**/*.py",
)


class RandomEmbedder(Embedder):
    """The packaged model's identity (loaded once, for the build record), with seeded random unit vectors."""

    @functools.cache  # noqa: B019 (one embedder per build: hashing the weights again per batch costs)
    def identity(self) -> ModelIdentity:
        """The packaged model's identity, worked out once."""
        return super().identity()

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> list[list[float]]:
        """One unit vector per text, a function of the texts alone (the same batch always gets the same)."""
        if not texts:
            return []
        digest = hashlib.blake2b("\x00".join(texts).encode("utf-8"), digest_size=8).digest()
        rng = np.random.default_rng(int.from_bytes(digest, "little"))
        dimension = self.identity().dimension
        vectors = rng.standard_normal((len(texts), dimension), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        if progress:
            progress(len(texts))
        return [list(row) for row in vectors.tolist()]


def write_path_digest() -> str:
    """sha256 over the engine's code that decides what an ingest writes (so a changed engine builds anew)."""
    digest = hashlib.sha256()
    for path in sorted(p for pattern in WRITE_PATH for p in RETRIEVAL.glob(pattern)):
        digest.update(path.relative_to(RETRIEVAL).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def tokens_digest() -> str:
    """sha256 of the tokeniser's words for the first documents' text (what the word cache holds)."""
    from retrieval.text.words import tokens

    sample = "\n".join(text for _, text in documents(3)) + " U.S. won't it's I'd vitamin D"
    return hashlib.sha256(" ".join(tokens(sample)).encode("utf-8")).hexdigest()


def parameters(chunks: int, embedder: Embedder) -> dict[str, Any]:
    """What decides a store's contents: a cached store with other parameters is built again."""
    identity = embedder.identity()
    return {
        "chunks": chunks,
        "write_path_sha256": write_path_digest(),
        "tokens_sha256": tokens_digest(),
        "seed": SEED,
        "generator_version": GENERATOR_VERSION,
        "paragraphs_per_document": PARAGRAPHS,
        "chunker_version": CHUNKER_VERSION,
        "store_format": STORE_FORMAT,
        "model": identity.name,
        "model_sha256": identity.sha256,
        "variant": identity.variant,
        "dimension": identity.dimension,
    }


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under folder."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def cached(folder: Path, wanted: dict[str, Any]) -> dict[str, Any] | None:
    """The figures of a complete build of these parameters in folder, if there is one."""
    try:
        recorded = json.loads((folder / PARAMETERS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return dict(recorded["build"]) if recorded.get("parameters") == wanted else None


def build(
    chunks: int, folder: Path, model_cache: Path | None = None, variant: str | None = None
) -> dict[str, Any]:
    """The store of chunks synthetic chunks in folder/store (from folder/docs), built unless cached.

    model_cache and variant: as for an ingest (default: the user's cache, the variant this CPU runs fastest).
    """
    if chunks % PARAGRAPHS:
        raise ValueError(f"chunks must be a multiple of {PARAGRAPHS} (one document holds {PARAGRAPHS})")
    location = StoreLocation(folder / "store")
    config = EngineConfig(location, model_cache=model_cache) if model_cache else EngineConfig(location)
    embedder = RandomEmbedder(cache=config.model_cache, threads=config.threads, variant=variant)
    wanted = parameters(chunks, embedder)
    if (figures := cached(folder, wanted)) is not None:
        return {**figures, "reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    docs = folder / "docs"
    docs.mkdir(parents=True)
    began = time.perf_counter()
    for name, text in documents(chunks // PARAGRAPHS):
        (docs / name).write_text(text, encoding="utf-8")
    generated = time.perf_counter() - began
    began = time.perf_counter()
    # `citebot ingest`'s own path (writer lock, build record, Indexer, whatever else an ingest writes) with
    # the encoder swapped, as the tests swap in their shared model.
    engine = Engine(config)
    engine.embedder = embedder
    summary = engine.ingest([docs])
    ingested = time.perf_counter() - began
    if summary.chunks != chunks or summary.failed:
        raise RuntimeError(f"expected {chunks} chunks, the ingest wrote {summary.chunks}: {summary.failures}")
    figures = {
        "chunks": chunks,
        "documents": summary.added,
        "generate_s": round(generated, 1),
        "ingest_s": round(ingested, 1),
        "chunks_per_s": round(chunks / ingested),
        "store_mb": round(folder_bytes(config.location.path) / 1e6, 1),
        "documents_mb": round(folder_bytes(docs) / 1e6, 1),
    }
    record = {"parameters": wanted, "build": figures}
    (folder / PARAMETERS).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return {**figures, "reused": False}


def main() -> None:
    """Build (or reuse) one store and print its figures."""
    chunks, folder = int(sys.argv[1]), Path(sys.argv[2])
    print(json.dumps(build(chunks, folder)))


if __name__ == "__main__":
    main()
