"""The committed index's version: a counter in the manifest's metadata that every commit and removal moves on.

A reader (another process, or this one's next question) compares it with the version it has open to tell
cheaply, with two metadata reads, whether the committed index changed; the live generation is part of it,
so a rebuild's switch is a new version too ("2.17": generation 2, its manifest's 17th change).
"""

from __future__ import annotations

from typing import Any

from retrieval.store.names import generation_names, head_name

VERSION = "version"


def version_number(metadata: Any) -> int:
    """A manifest's version; 0 before the first commit that recorded one, or where it was damaged."""
    try:
        return int((metadata or {}).get(VERSION, 0))
    except (TypeError, ValueError, AttributeError):
        return 0


def read_committed_version(client: Any, collection: str) -> str:
    """The live generation and its manifest's version as Chroma holds them now."""
    from chromadb.errors import NotFoundError as ChromaNotFound

    try:
        head = client.get_collection(head_name(collection)).metadata or {}
    except ChromaNotFound:  # no head: generation 0, as every store before rebuilds
        head = {}
    live = int(head.get("generation", 0))
    try:
        metadata = client.get_collection(generation_names(collection, live)[1]).metadata
    except ChromaNotFound:  # a rebuild switched the head and dropped that generation just now
        metadata = {}
    return f"{live}.{version_number(metadata)}"
