"""What may name a collection or a Chroma server: checked before anything is opened or created."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from retrieval.errors import InputError
from retrieval.redaction import redact_url

MANIFEST_SUFFIX = "-docs"
# Chroma's own rule (3-512 characters of [A-Za-z0-9._-], alphanumeric at both ends), narrowed: no dots, so a
# name is never a path, and at most 63 characters, so it also serves as a file name for the lock.
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,61}[A-Za-z0-9]$")


def check_collection_name(name: str) -> str:
    """The name, if it can name a collection whose manifest's name (`<name>-docs`) no other collection has."""
    if not _COLLECTION_NAME.fullmatch(name):
        raise InputError(
            f"Invalid collection name {name!r}: use 3-63 letters, digits, '-' or '_', "
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
