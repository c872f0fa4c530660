"""The BM25 counts persisted beside the store (a base), memory-mapped by every opening, whatever its version.

Building BM25 from every chunk's cached words was most of a cold start on a large store (15.1 of 24.6 s at
100k chunks, `make bench-scale`'s profile). A base is one segment (bm25_segment.py), the sorted chunk ids
its rows are and each document's title, in `index/bm25-<collection>/v<version>-<digest>/`: written by the
ingest that committed that version (its last step opens it), or by the first opening that found none, and
named by the digest of what it indexes (the ids and their titles). A later version opens the base nearest
it and adds the chunks committed since as a small segment built in memory (lexical_delta.py); the chunks
removed since are masked. A base is written into a `.partial-<pid>-*` folder and renamed whole, so a writer
killed midway leaves only that folder, which readers ignore and a later opening removes once its process is
gone. An unreadable base is named in a notice and removed; a read-only store writes nothing. All but the two
most recently used bases are pruned: a reader that mapped one keeps its pages after the unlink (Linux).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.lexical.segment import FILES, Segment

# Bump when what a folder holds changes: a base of another format is then never found (its digest differs).
FORMAT = 2
META, IDS, TITLES = "meta.json", "ids.bin", "titles.json"
PARTIAL = ".partial-"
# The newest two: the base being answered from and the one before, which a reader may still be opening.
KEEP = 2
# What a damaged folder raises while it is read (json's decode errors are ValueErrors).
_DAMAGE = (OSError, ValueError, KeyError, TypeError, IndexError)


class DamagedIndex(Exception):
    """A persisted base that does not hold what its meta.json says."""


class OtherFormat(Exception):
    """A base written by another version of this code: removed without a notice, as a stale cache is."""


@dataclass(frozen=True)
class Base:
    """A persisted segment, the chunk id of each of its rows and the title of each document it holds."""

    folder: Path
    digest: str
    segment: Segment
    ids: list[str]
    titles: dict[str, str]


def content_digest(ids: Sequence[str], titles: Mapping[str, str]) -> str:
    """sha256 of what BM25 indexes: each chunk id (it names the chunk's text and, by its prefix, its file)
    and each file's title."""
    # NUL separates: a path may hold any other character. Ids and titles apart: one join each, not an
    # f-string per chunk (0.06 of a 0.19 s opening at 100k chunks).
    digest = hashlib.sha256(f"{FORMAT}\0".encode())
    digest.update("\0".join(ids).encode())
    digest.update(b"\0\0")
    digest.update("\0".join(f"{s}\0{t}" for s, t in sorted(titles.items())).encode())
    return digest.hexdigest()


def _alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


class LexicalStore:
    """The persisted BM25 bases of one collection, in the folder the store layout names for them."""

    def __init__(self, folder: Path, notice: Callable[[str], None] | None = None) -> None:
        self.folder = folder
        self.notice = notice

    def entries(self) -> list[Path]:
        """The complete folders, most recently used first (partial ones left out)."""

        def used(entry: Path) -> float:
            try:
                return (entry / META).stat().st_mtime
            except OSError:
                return 0.0

        if not self.folder.is_dir():
            return []
        return sorted((p for p in self.folder.glob("v*") if p.is_dir()), key=used, reverse=True)

    def bases(self, digest: str, writable: bool) -> Iterator[Base]:
        """Each readable base, the one of exactly this content first; damaged ones named and removed."""
        if writable:
            self.clean_partials()
        entries = self.entries()
        entries.sort(key=lambda e: not e.name.endswith(f"-{digest[:16]}"))
        for entry in entries:
            try:
                base = _load(entry)
            except OtherFormat:
                if writable:
                    shutil.rmtree(entry, ignore_errors=True)
                continue
            except (DamagedIndex, *_DAMAGE) as exc:
                if not entry.exists():  # pruned by a writer just now: not damage
                    continue
                if self.notice:
                    self.notice(f"The BM25 index {entry} was unreadable ({exc}); it is rebuilt.")
                if writable:
                    shutil.rmtree(entry, ignore_errors=True)
                continue
            yield base

    def used(self, base: Base) -> None:
        """Mark base used now: pruning keeps the most recently used, not the most recently written."""
        with contextlib.suppress(OSError):
            os.utime(base.folder / META)

    def write(
        self, segment: Segment, ids: Sequence[str], titles: Mapping[str, str], digest: str, version: str
    ) -> Path | None:
        """Persist a base whole, then prune; None where it cannot be written now (it is derived data)."""
        if not len(segment):
            return None
        final = self.folder / f"v{version}-{digest[:16]}"
        partial = self.folder / f"{PARTIAL}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            partial.mkdir(parents=True)
            segment.save(partial)
            (partial / IDS).write_bytes("\0".join(ids).encode())
            (partial / TITLES).write_text(json.dumps(dict(titles), ensure_ascii=False), encoding="utf-8")
            files = {p.name: p.stat().st_size for p in sorted(partial.iterdir())}
            meta = {"format": FORMAT, "digest": digest, "version": version, "size": len(segment)}
            (partial / META).write_text(json.dumps({**meta, "files": files}, indent=1), encoding="utf-8")
            for path in partial.iterdir():
                _fsync(path)
            try:
                os.replace(partial, final)
            except OSError:  # another process wrote this content first (a rename never replaces a folder)
                if not (final / META).is_file():
                    raise
                shutil.rmtree(partial, ignore_errors=True)
            _fsync(self.folder)
        except OSError:  # full, read-only or gone: the next opening builds again
            shutil.rmtree(partial, ignore_errors=True)
            return None
        self.prune(final)
        return final

    def prune(self, kept: Path) -> None:
        """Remove all but the KEEP most recently used folders (kept always among them)."""
        for entry in [e for e in self.entries() if e != kept][KEEP - 1 :]:
            shutil.rmtree(entry, ignore_errors=True)

    def clean_partials(self) -> None:
        """Remove partial folders whose writer is gone (killed midway); a live writer's are left alone."""
        if not self.folder.is_dir():
            return
        for entry in self.folder.glob(f"{PARTIAL}*"):
            pid = entry.name.removeprefix(PARTIAL).split("-")[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)


def _load(entry: Path) -> Base:
    """The base in entry, its arrays memory-mapped, checked against its meta.json."""
    meta: dict[str, Any] = json.loads((entry / META).read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise OtherFormat(entry)
    if not entry.name.endswith(f"-{str(meta.get('digest'))[:16]}"):
        raise DamagedIndex("its meta.json names other contents")
    if set(meta["files"]) != {*FILES, IDS, TITLES}:
        raise DamagedIndex("its meta.json names other files")
    for name, size in meta["files"].items():
        found = (entry / name).stat().st_size
        if found != size:
            raise DamagedIndex(f"{name} is {found} bytes, not {size}")
    segment = Segment.load(entry)
    ids = (entry / IDS).read_bytes().decode().split("\0")
    titles = json.loads((entry / TITLES).read_text(encoding="utf-8"))
    if len(ids) != len(segment) or meta["size"] != len(segment) or ids != sorted(ids):
        raise DamagedIndex(f"{IDS} does not name its {len(segment)} chunks in order")
    if not isinstance(titles, dict):
        raise DamagedIndex(f"{TITLES} is not a JSON object")
    return Base(entry, str(meta["digest"]), segment, ids, titles)
