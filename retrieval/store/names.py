"""What may name a collection or a Chroma server: checked before anything is opened or created."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from retrieval.errors import InputError
from retrieval.text.redaction import redact_url

MANIFEST_SUFFIX = "-docs"
# Chroma's own rule (3-512 characters of [A-Za-z0-9._-], alphanumeric at both ends), narrowed: no dots, so a
# name is never a path, and at most 63 characters, so it also serves as a file name for the lock. Names of
# one or two characters ("hr") are allowed: Chroma stores them as `<name>.c` (base_name).
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$")
_SHORT = 3  # Chroma's shortest name
_SHORT_SUFFIX = ".c"


def check_collection_name(name: str) -> str:
    """The name, if it can name a collection whose manifest's name (`<name>-docs`) no other collection has."""
    if not _COLLECTION_NAME.fullmatch(name):
        raise InputError(
            f"Invalid collection name {name!r}: use 1-63 letters, digits, '-' or '_', "
            "starting and ending with a letter or digit"
        )
    if name.endswith(MANIFEST_SUFFIX):
        # `x-docs` would be the manifest of collection `x`.
        raise InputError(
            f"Invalid collection name {name!r}: names ending in {MANIFEST_SUFFIX!r} are reserved"
        )
    return name


def check_chroma_url(url: str) -> str:
    """The URL, if it names a Chroma server (http(s)://host[:port]); else an InputError."""
    try:
        parsed = urlparse(url)
        parsed.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError as exc:
        raise InputError(f"The Chroma URL must look like http://host:port, not {redact_url(url)!r}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InputError(f"The Chroma URL must look like http://host:port, not {redact_url(url)!r}")
    return url


# A generation's physical names hold a dot, which a collection name never does: they clash with no name.
_GENERATION = re.compile(r"\.g([1-9][0-9]{0,8})(?:" + re.escape(MANIFEST_SUFFIX) + ")?")
HEAD_SUFFIX = ".head"
LEASE_SUFFIX = ".lease"


def base_name(collection: str) -> str:
    """The Chroma name a collection's first generation takes: its own, or `hr.c` for one under 3 characters.

    A user's name holds no dot, so `hr.c` is no other collection's name, and what precedes the first dot of
    any physical name is the collection's (store_collections.py).
    """
    return collection if len(collection) >= _SHORT else collection + _SHORT_SUFFIX


def generation_names(collection: str, generation: int) -> tuple[str, str]:
    """The chunks and manifest collections of one generation: generation 0 keeps the first names."""
    base = base_name(collection) if generation == 0 else f"{base_name(collection)}.g{generation}"
    return base, base + MANIFEST_SUFFIX


def head_name(collection: str) -> str:
    """The collection whose metadata names the live generation (absent: generation 0)."""
    return base_name(collection) + HEAD_SUFFIX


def lease_name(collection: str) -> str:
    """The collection whose existence is a server collection's writer lease (writer_lock.py)."""
    return base_name(collection) + LEASE_SUFFIX


def is_lease(physical: str) -> bool:
    """Whether a physical collection is a writer lease, or one moved aside (`x.lease`, `x.lease-stale-…`)."""
    return LEASE_SUFFIX in physical  # a collection's name holds no dot: only the suffix can put it there


def generation_of(physical: str, collection: str) -> int | None:
    """Which generation of collection a physical collection belongs to (None: not one of its own)."""
    base = base_name(collection)
    if physical in (base, base + MANIFEST_SUFFIX):
        return 0
    if not physical.startswith(base):
        return None
    found = _GENERATION.fullmatch(physical, len(base))
    return int(found.group(1)) if found else None
