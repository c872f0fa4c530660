"""One writer per store and collection: an advisory lock file that names its holder.

The lock is `fcntl.flock` on `<store>/locks/<collection>.lock`: the kernel releases it when the holder exits,
however it dies, so a lock left by a killed ingest is never stale. The file's text (pid, host, since) only
tells a waiting writer whom it waits for. Readers take no lock: they read the committed manifest.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from retrieval.errors import BusyError, StoreError
from retrieval.store.layout import StoreLayout
from retrieval.store.names import check_collection_name


def _holder(handle: int) -> str:
    """Who holds the lock, as the lock file says ("pid 123 on host, since 12:00:00 UTC")."""
    try:
        os.lseek(handle, 0, os.SEEK_SET)
        info = json.loads(os.read(handle, 4096).decode("utf-8") or "{}")
        return f"pid {int(info['pid'])} on {info['host']}, since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def writer_lock(
    store: Path, collection: str, wait: bool = False, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the collection's writer lock; if busy, BusyError, or (wait) tell on_wait whom it waits for."""
    check_collection_name(collection)  # it becomes a file name: never a path
    folder = StoreLayout(store).locks
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = os.open(folder / f"{collection}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"Cannot take the writer lock in {folder}: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(handle)
            if not wait:
                raise BusyError(
                    f"Another ingest ({holder}) is writing to collection {collection} of {store}; "
                    "wait for it to finish, or pass --wait"
                ) from None
            if on_wait:
                on_wait(
                    f"Waiting for another ingest ({holder}) to finish writing to collection {collection}…"
                )
            fcntl.flock(handle, fcntl.LOCK_EX)
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since})
        os.ftruncate(handle, 0)
        os.pwrite(handle, record.encode("utf-8"), 0)
        yield
    finally:
        # Closing the descriptor releases the lock; the file stays, so the next writer reuses it.
        os.close(handle)
