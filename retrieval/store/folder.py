"""The store's folder on disk: its marker file, telling damage from a new store, setting damage aside."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrieval.errors import InputError, NoStoreError, StoreError
from retrieval.store.atomic_file import write_atomically
from retrieval.store.layout import CHROMA, DATABASE, MARKER

# 2: a collection's index may live in generations named by a head record (a rebuild fills one beside the
# live one); 1: one generation under the collection's own name, still read as generation 0 and written
# as it is until a rebuild first writes a head (the marker then says 2, so an older citebot refuses it).
STORE_FORMAT = 2
READABLE_FORMATS = (1, 2)


def read_marker(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path} is damaged: {MARKER} is unreadable; {REBUILD}") from exc
    if not isinstance(data, dict):
        raise StoreError(f"{path} is damaged: {MARKER} is unreadable; {REBUILD}")
    return data


def write_marker(path: Path, data: dict[str, Any]) -> None:
    try:
        # Readers open the marker at any time (a running bot reopens the store after another's ingest).
        write_atomically(path / MARKER, (json.dumps(data) + "\n").encode("utf-8"))
    except OSError as exc:
        raise StoreError(f"Cannot write {path / MARKER}: {exc.strerror or exc}") from exc


REBUILD = "run `citebot ingest --rebuild PATH...` to index the files again (the damaged files are set aside)"


def check_folder(path: Path, create: bool) -> bool:
    """Check (or create) the store folder; True when it was created now."""
    if (path / MARKER).is_file():
        fmt = read_marker(path).get("format")
        if fmt not in READABLE_FORMATS:
            raise StoreError(
                f"{path} has store format {fmt!r}; this citebot reads formats up to {STORE_FORMAT}"
            )
        database = path / DATABASE
        # A store that has a marker has had a database: a missing or emptied one is damage, not a new store.
        if (path / CHROMA).exists() and (not database.is_file() or database.stat().st_size == 0):
            raise StoreError(f"The store at {path} is damaged: {database} is missing or empty; {REBUILD}")
        return False
    if path.is_file():
        raise InputError(f"{path} is a file, not a store folder; choose another --store")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise StoreError(
            f"{path} is not a citebot store (no {MARKER}); choose another --store or remove that folder"
        )
    if not create:
        raise NoStoreError(f"No citebot store at {path}; run `citebot ingest FOLDER` to make one")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"Cannot create a store at {path}: {exc.strerror or exc}") from exc
    write_marker(path, {"format": STORE_FORMAT, "collections": []})
    return True


def set_aside_damaged(path: Path) -> Path | None:
    """Move a damaged store's Chroma files aside (never deleted), so a rebuild starts clean."""
    chroma = path / CHROMA
    if not chroma.exists():
        return None
    aside = path / f"chroma.damaged-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    try:
        chroma.rename(aside)
        if (path / MARKER).is_file():
            write_marker(path, {"format": STORE_FORMAT, "collections": []})
    except OSError as exc:
        raise StoreError(f"Cannot set the damaged store aside in {path}: {exc.strerror or exc}") from exc
    return aside
