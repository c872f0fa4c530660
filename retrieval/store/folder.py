"""The store's folder on disk: its marker file, telling damage from a new store, setting damage aside."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrieval.errors import InputError, NoStoreError, StoreError
from retrieval.store.atomic_file import PARTIAL, write_atomically
from retrieval.store.client import open_client
from retrieval.store.failures import OPENING, translated_failures
from retrieval.store.layout import CHROMA, DATABASE, LOCKS, MARKER
from retrieval.store.records import StoreLocation

# 2: a collection's index may live in generations named by a head record (a rebuild fills one beside the
# live one); 1: one generation under the collection's own name, still read as generation 0 and written
# as it is until a rebuild first writes a head (the marker then says 2, so an older citebot refuses it).
STORE_FORMAT = 2
READABLE_FORMATS = (1, 2)
# The lock held while a store is made; hidden, so no collection's lock (`<collection>.lock`) can be named so.
MAKING = ".making.lock"


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
    """Check (or create) the store folder; True when it was created now (by this process: of several
    making one store at once, exactly one creates it, and the others wait until it is made, then open it)."""
    if (path / MARKER).is_file():
        if _unmade(path):
            _make(path)  # or wait while another process makes it
        _check_store(path)
        return False
    if path.is_file():
        raise InputError(f"{path} is a file, not a store folder; choose another --store")
    if path.exists() and (not path.is_dir() or not _being_made(path)):
        raise StoreError(
            f"{path} is not a citebot store (no {MARKER}); choose another --store or remove that folder"
        )
    if not create:
        raise NoStoreError(f"No citebot store at {path}; run `citebot ingest FOLDER` to make one")
    made = _make(path)
    if not made:
        _check_store(path)  # another process made it a moment ago
    return made


def _make(path: Path) -> bool:
    """Make the store: its marker, then its database, under the making lock (True if this call wrote the
    marker). Chroma's first opening creates its tables, and two at once fail ("table ... already exists")."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / LOCKS).mkdir(exist_ok=True)
        handle = os.open(path / LOCKS / MAKING, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"Cannot create a store at {path}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)  # the kernel lets go of it however its holder ends
        try:
            made = _claim_marker(path, {"format": STORE_FORMAT, "collections": []})
        except OSError as exc:
            raise StoreError(f"Cannot create a store at {path}: {exc.strerror or exc}") from exc
        if _unmade(path):
            with translated_failures(path, None, OPENING):
                open_client(StoreLocation(path))
        return made
    finally:
        os.close(handle)


def _unmade(path: Path) -> bool:
    """Whether the store's marker names no collection and its database has not been made yet."""
    marker = read_marker(path)
    if marker.get("collections") != [] or marker.get("documents"):
        return False
    database = path / DATABASE
    return not (database.is_file() and database.stat().st_size > 0)


def _check_store(path: Path) -> None:
    """A folder with a marker: a format this citebot reads, and no database lost since one was made."""
    marker = read_marker(path)
    fmt = marker.get("format")
    if fmt not in READABLE_FORMATS:
        raise StoreError(f"{path} has store format {fmt!r}; this citebot reads formats up to {STORE_FORMAT}")
    if marker.get("collections") == [] and not marker.get("documents"):
        # No collection was ever made here: a database missing or empty is one another process is making
        # at this moment (or never made), not damage; nothing indexed can have been lost.
        return
    database = path / DATABASE
    # A store that has a marker has had a database: a missing or emptied one is damage, not a new store.
    if (path / CHROMA).exists() and (not database.is_file() or database.stat().st_size == 0):
        raise StoreError(f"The store at {path} is damaged: {database} is missing or empty; {REBUILD}")


def _being_made(folder: Path) -> bool:
    """Whether the folder holds nothing, or only what making a store puts there before its marker: the
    writer locks' folder and a marker being written (another ingest is making the store right now)."""
    try:
        names = [entry.name for entry in os.scandir(folder)]
    except OSError:
        return False
    # A file being written whole (atomic_file.PARTIAL) beside no marker is a store being made.
    return all(name == LOCKS or name.startswith(PARTIAL) for name in names)


def _claim_marker(path: Path, data: dict[str, Any]) -> bool:
    """Write the marker only if none exists, whole (a hard link of a complete file, which fails when the
    name is taken): False when another process wrote it first."""
    handle, partial = tempfile.mkstemp(dir=path, prefix=PARTIAL)
    try:
        with os.fdopen(handle, "wb") as out:
            os.fchmod(out.fileno(), 0o644)  # mkstemp's 0600: a shared store is read by other users' bots
            out.write((json.dumps(data) + "\n").encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(partial, path / MARKER)
        except FileExistsError:
            return False
        return True
    finally:
        Path(partial).unlink(missing_ok=True)


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
