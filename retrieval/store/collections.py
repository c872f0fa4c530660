"""The collections one store folder or Chroma server holds, each with how many files it indexes now."""

from __future__ import annotations

from typing import Any

from retrieval.store.generations import read_generations
from retrieval.store.names import HEAD_SUFFIX, MANIFEST_SUFFIX, base_name, generation_names, is_lease


def collection_names(client: Any) -> list[str]:
    """citebot's collections, by the names users give them (generations and heads folded in)."""
    names = set()
    for listed in client.list_collections():
        # `x`, `x-docs`, `x.g2`, `x.g2-docs`, `x.head`: a collection's name holds no dot and never ends in
        # -docs (store_names), so what comes before the first dot, less -docs, is the name. A writer's lease
        # (`x.lease`) is no collection: one left by a writer that never committed would list a ghost.
        if is_lease(str(listed.name)):
            continue
        base = str(listed.name).split(".")[0]
        names.add(base[: -len(MANIFEST_SUFFIX)] if base.endswith(MANIFEST_SUFFIX) else base)
    return sorted(names)


def collection_counts(client: Any) -> dict[str, int]:
    """Each collection's count of indexed files, in its live generation (0 where it holds none yet)."""
    counts: dict[str, int] = {}
    listed = {str(c.name) for c in client.list_collections()}
    for name in collection_names(client):
        manifest = generation_names(name, read_generations(client, name).live)[1]
        counts[name] = int(client.get_collection(manifest).count()) if manifest in listed else 0
    return counts


def drop_collection(client: Any, collection: str) -> None:
    """Delete every Chroma collection of a citebot collection: its generations, manifests and head."""
    base = base_name(collection)
    for listed in client.list_collections():
        name = str(listed.name)
        # `x`, `x-docs`, `x.gN`, `x.gN-docs`, `x.head` (collection names hold no dot: x.c is x's base).
        if name in (base, base + MANIFEST_SUFFIX, base + HEAD_SUFFIX) or name.startswith(base + ".g"):
            client.delete_collection(name)


def texts_named(client: Any, except_collection: str) -> set[str]:
    """The sha256 of every extracted text the other collections' live manifests name: texts/ is shared by
    every collection of a store folder, so one collection's ingest must keep what the others cite."""
    names: set[str] = set()
    listed = {str(c.name) for c in client.list_collections()}
    for name in collection_names(client):
        if name == except_collection:
            continue
        manifest = generation_names(name, read_generations(client, name).live)[1]
        if manifest not in listed:
            continue
        found = client.get_collection(manifest).get(include=["metadatas"])
        names.update(str(m.get("text_sha256") or "") for m in found.get("metadatas") or [] if m)
    names.discard("")
    return names
