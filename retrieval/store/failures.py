"""Chroma's failures (a lost server, a full disk, a damaged database) as one StoreError saying what to do."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retrieval.errors import InputError, StoreError

OPENING = "opening it"


def _is_failure(exc: BaseException) -> bool:
    # Chroma's Rust core raises pyo3's PanicException, a BaseException, on a damaged database.
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _reason(exc: BaseException) -> str:
    """The first line of a failure, short (Chroma's messages can run to pages)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:160]


def _disk_full(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            return True
        text = str(seen).lower()
        # SQLite's words for ENOSPC/EFBIG ("database or disk is full") and for a write the disk refused.
        if any(w in text for w in ("no space", "disk is full", "file too large", "disk i/o error")):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def failure_message(path: Path, server: str | None, doing: str, exc: BaseException) -> str:
    """What the user is told when doing this failed (server: its URL with any password hidden)."""
    if server and doing == OPENING:
        return f"Cannot reach the Chroma server at {server} ({_reason(exc)})"
    if server:
        return f"Lost the Chroma server at {server} while {doing} ({_reason(exc)})"
    if _disk_full(exc):
        return (
            f"Could not write to the disk holding {path} while {doing} (is it full?); "
            "what was committed is kept: free some space and run the same command again"
        )
    if doing == OPENING:
        return f"The store at {path} is damaged or not readable: {_reason(exc)}"
    return f"The store at {path} failed while {doing}: {_reason(exc)}"


@contextmanager
def translated_failures(path: Path, server: str | None, doing: str) -> Iterator[None]:
    """Turn any failure inside the block into one StoreError; citebot's own errors pass as they are."""
    try:
        yield
    except (StoreError, InputError):
        raise
    except BaseException as exc:
        if not _is_failure(exc):
            raise
        raise StoreError(failure_message(path, server, doing, exc)) from exc
