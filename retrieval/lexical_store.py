"""The BM25 index persisted beside the store, one folder per indexed content, memory-mapped when opened.

Building bm25s's index from every chunk's cached words was most of a cold start on a large store (15.1 of
24.6 s at 100k chunks, `make bench-scale`'s profile). The first process to open a version writes its index
to `index/bm25-<collection>/v<version>-<digest>/`; every later one memory-maps it and builds nothing. The
folder is named for the committed version it was written at and found by the digest of what it indexes
(the sorted chunk ids and their titles): the manifest can move on between reading the version and reading
the records, the digest cannot. It is written into a `.partial-<pid>-*` folder and renamed whole, so a
writer killed midway leaves only that folder, which readers ignore and a later opening removes once its
process is gone. A missing index is built; an unreadable one is named in a notice, removed and built; a
read-only store builds in memory and writes nothing. All but the two most recently used folders are
pruned: a reader that mapped one keeps its pages after the unlink (Linux), and a reader still opening the
previous version finds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.lexical import LexicalIndex
from retrieval.token_cache import FOLDER

# Bump when what a folder holds changes: an index of another format is then never found (its digest differs).
FORMAT = 1
META = "meta.json"
IDS = "ids.bin"
PARTIAL = ".partial-"
# The newest two: the version being answered from and the one before, which a reader may still be opening.
KEEP = 2
# What a damaged folder raises while it is read (orjson's and json's decode errors are ValueErrors).
_DAMAGE = (OSError, ValueError, KeyError, TypeError, IndexError)


class DamagedIndex(Exception):
    """A persisted index that does not hold what its meta.json says."""


def content_digest(ids: Sequence[str], title_of: Callable[[str], str]) -> str:
    """sha256 of what BM25 indexes: each chunk id (it names the chunk's text) and its document's title."""
    import bm25s

    # NUL separates: a path may hold any other character, and every id starts with its file's path.
    text = "\0".join(f"{cid}\0{title_of(cid)}" for cid in ids)
    return hashlib.sha256(f"{FORMAT}\0{bm25s.__version__}\0{text}".encode()).hexdigest()


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
    """The persisted BM25 indexes of one collection in a store folder."""

    def __init__(
        self, store_folder: Path, collection: str, notice: Callable[[str], None] | None = None
    ) -> None:
        self.folder = store_folder / FOLDER / f"bm25-{collection}"
        self.notice = notice

    def entries(self, digest: str | None = None) -> list[Path]:
        """The complete folders (of this content, where digest is given), partial ones left out."""
        if not self.folder.is_dir():
            return []
        pattern = f"v*-{digest[:16]}" if digest else "v*"
        return sorted(p for p in self.folder.glob(pattern) if p.is_dir())

    def open(self, digest: str, ids: Sequence[str], writable: bool) -> LexicalIndex | None:
        """The persisted index of this content, memory-mapped; None where there is none or it is damaged."""
        if writable:
            self.clean_partials()
        for entry in self.entries(digest):
            try:
                index = _load(entry, digest, ids)
            except (DamagedIndex, *_DAMAGE) as exc:
                if not entry.exists():  # pruned by a writer just now: not damage
                    continue
                if self.notice:
                    self.notice(f"The BM25 index {entry} was unreadable ({exc}); it is rebuilt.")
                if writable:
                    shutil.rmtree(entry, ignore_errors=True)
                continue
            if writable:
                # Used now: pruning keeps the most recently used, not the most recently written.
                with contextlib.suppress(OSError):
                    os.utime(entry / META)
            return index
        return None

    def write(self, index: LexicalIndex, ids: Sequence[str], digest: str, version: str) -> Path | None:
        """Persist index (over ids, in order) whole, then prune; None where it cannot be written now."""
        if not index.size:
            return None
        final = self.folder / f"v{version}-{digest[:16]}"
        partial = self.folder / f"{PARTIAL}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            partial.mkdir(parents=True)
            index.bm25.save(partial, show_progress=False)
            (partial / IDS).write_bytes("\0".join(ids).encode())
            files = {p.name: p.stat().st_size for p in sorted(partial.iterdir())}
            meta = {"format": FORMAT, "digest": digest, "version": version, "size": index.size}
            meta["files"] = files
            (partial / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
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

        def used(entry: Path) -> float:
            try:
                return (entry / META).stat().st_mtime
            except OSError:
                return 0.0

        others = sorted((e for e in self.entries() if e != kept), key=used, reverse=True)
        for entry in others[KEEP - 1 :]:
            shutil.rmtree(entry, ignore_errors=True)

    def clean_partials(self) -> None:
        """Remove partial folders whose writer is gone (killed midway); a live writer's are left alone."""
        if not self.folder.is_dir():
            return
        for entry in self.folder.glob(f"{PARTIAL}*"):
            pid = entry.name.removeprefix(PARTIAL).split("-")[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)


def _load(entry: Path, digest: str, ids: Sequence[str]) -> LexicalIndex:
    """The index in entry, its arrays memory-mapped, checked against its meta.json and the ids it indexes."""
    import bm25s

    meta: dict[str, Any] = json.loads((entry / META).read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT or meta.get("digest") != digest:
        raise DamagedIndex("its meta.json names other contents")
    for name, size in meta["files"].items():
        found = (entry / name).stat().st_size
        if found != size:
            raise DamagedIndex(f"{name} is {found} bytes, not {size}")
    if (entry / IDS).read_bytes().decode().split("\0") != list(ids):
        raise DamagedIndex(f"{IDS} names other chunks")
    bm25 = bm25s.BM25.load(entry, mmap=True, load_corpus=False)
    scores = bm25.scores
    indptr, size = scores["indptr"], int(meta["size"])
    nonzero = len(scores["data"])
    if scores["num_docs"] != size or size != len(ids) or len(scores["indices"]) != nonzero:
        raise DamagedIndex("its arrays disagree on the number of chunks or entries")
    if len(indptr) < 2 or indptr[0] != 0 or indptr[-1] != nonzero or np.any(np.diff(indptr) < 0):
        raise DamagedIndex("its column pointers are not a CSC matrix's")
    return LexicalIndex.from_bm25(bm25, size)
