"""One writer per collection: a lock file in the store folder, and on a Chroma server a lease kept there.

The lock is `fcntl.flock` on `<store>/locks/<collection>.lock`: the kernel releases it when the holder exits,
however it dies, so a lock left by a killed ingest is never stale. The file's text (pid, host, since) only
tells a waiting writer whom it waits for. Readers take no lock: they read the committed manifest.

A store folder is one host's, so its lock cannot hold back a second host (or a second operator with their own
--store) writing the same collection of one Chroma server: two writers each sweep the other's uncommitted
chunks as orphans and commit records naming chunks that are gone. On a server the writer also holds a lease
kept in the server itself: the collection `<name>.lease`, whose metadata names the holder
(`host:pid:random`, pid, host, since) and when it expires, in the server's own clock (its heartbeat), so that
hosts' clocks never matter. Why it is safe, from what Chroma guarantees:

- Taking. Chroma's catalogue has `UNIQUE (name, database_id)` on collections (chromadb/migrations/sysdb), and
  `create_collection` (without get_or_create) fails when the name exists: creating `<name>.lease` is a
  compare-and-set on "no lease", and of any number of writers racing exactly one creates it. The claim is its
  metadata, written with it. A creator whose answer was lost finds its own holder name there.
- Holding. The holder renews the expiry every sixth of the lease (30 s) by the collection's id, then reads
  the lease by name: if its id is no longer the holder's, the lease was taken over and is lost for good. The
  holder trusts the lease only for half its length after the start of its last successful renewal (its own
  monotonic clock), and every write of the store checks that first (check_lease); once lapsed, never again.
- Taking over. A lease whose expiry has passed in the server's clock (a holder killed, or frozen) is moved
  aside: renamed by its id to `<name>.lease-stale-<random>` (Chroma renames by id, and to a name no other
  collection has), then the taker creates the lease as above. Two takers of one expired lease each rename
  that same id (the second rename moves the stale copy again, or finds it gone) and then race the creation,
  which one wins. A lease renewed or created since is another id, which no taker's rename touches.
- Why no two trust it at once. A taker acts only when the server's clock has passed the last renewal's
  heartbeat by a full lease; the holder stopped trusting half a lease after that renewal began, earlier.
  What remains is a write that began in the holder's last trusted moment and lands a half lease (15 s) later,
  or clocks that run at twice each other's rate. Should that happen, the next ingest still repairs it: a
  record naming chunks the server lacks is indexed again, never reported unchanged (indexer.py).
A lease left by a killed writer expires after its lease time; one released is renamed by its id, then deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from retrieval.errors import BusyError, StoreError
from retrieval.store.client import open_client
from retrieval.store.failures import translated_failures
from retrieval.store.layout import StoreLayout
from retrieval.store.names import check_collection_name, lease_name
from retrieval.store.records import StoreLocation

LEASE_SECONDS = 30.0
_POLL_S = 0.5  # how often a waiting writer looks at the lease again
_TAKE_TRIES = 5  # takeovers raced by other takers, tried again at once before reporting the holder


def _holder(handle: int) -> str:
    """Who holds the lock, as the lock file says ("pid 123 on host, since 12:00:00 UTC")."""
    try:
        os.lseek(handle, 0, os.SEEK_SET)
        info = json.loads(os.read(handle, 4096).decode("utf-8") or "{}")
        return f"pid {int(info['pid'])} on {info['host']}, since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _busy(holder: str, collection: str, where: str) -> BusyError:
    return BusyError(
        f"Another ingest ({holder}) is writing to collection {collection} of {where}; "
        "wait for it to finish, or pass --wait"
    )


def _waiting(holder: str, collection: str) -> str:
    return f"Waiting for another ingest ({holder}) to finish writing to collection {collection}…"


def _since() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


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
                raise _busy(holder, collection, str(store)) from None
            if on_wait:
                on_wait(_waiting(holder, collection))
            fcntl.flock(handle, fcntl.LOCK_EX)
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": _since()})
        os.ftruncate(handle, 0)
        os.pwrite(handle, record.encode("utf-8"), 0)
        yield
    finally:
        # Closing the descriptor releases the lock; the file stays, so the next writer reuses it.
        os.close(handle)


@dataclass(frozen=True)
class Claim:
    """A lease's metadata: who holds it, since when, and until when (milliseconds of the server's clock)."""

    holder: str
    pid: int
    host: str
    since: str
    expires_ms: int

    def metadata(self) -> dict[str, str | int]:
        """As the lease collection's metadata."""
        return {
            "holder": self.holder,
            "pid": self.pid,
            "host": self.host,
            "since": self.since,
            "expires_ms": self.expires_ms,
        }

    @classmethod
    def of(cls, metadata: Any) -> Claim | None:
        """The claim a lease's metadata holds (None where it holds none that reads)."""
        try:
            return cls(
                str(metadata["holder"]),
                int(metadata["pid"]),
                str(metadata["host"]),
                str(metadata["since"]),
                int(metadata["expires_ms"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def describe(self) -> str:
        """As the lock file's holder reads: "pid 123 on host, since 2026-01-01 12:00:00 UTC"."""
        return f"pid {self.pid} on {self.host}, since {self.since}" if self.holder else "another process"


UNKNOWN = Claim("", 0, "", "", 0)  # a lease whose claim does not read, or that races kept changing


class ServerLease:
    """This writer's lease on one collection of a Chroma server: taken, renewed, checked, released."""

    def __init__(self, location: StoreLocation, seconds: float = LEASE_SECONDS) -> None:
        self.location = location
        self.seconds = seconds
        self.name = lease_name(location.collection)
        self.token = secrets.token_hex(6)
        host, pid = socket.gethostname(), os.getpid()
        self.claim = Claim(f"{host}:{pid}:{self.token}", pid, host, _since(), 0)
        with self.guard("opening it"):
            self.client = open_client(location)
        self._lease: Any = None  # the lease collection, while held
        self._trusted_until = 0.0  # monotonic: half a lease after the last successful renewal began
        self._lost: str | None = None
        self._unclaimed: dict[str, float] = {}  # leases seen without a claim: since when (monotonic)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def guard(self, doing: str) -> AbstractContextManager[None]:
        """A failure of the server while doing this becomes one StoreError naming it."""
        return translated_failures(self.location.path, self.location.where(), doing)

    def _server_ms(self) -> int:
        return int(self.client.heartbeat()) // 1_000_000

    def try_take(self) -> Claim | None:
        """Take the lease if no live one exists: None once held, else the claim of the writer holding it."""
        from chromadb.errors import ChromaError
        from chromadb.errors import NotFoundError as ChromaNotFound

        found: Claim | None = None
        refused: ChromaError | None = None
        for _ in range(_TAKE_TRIES):
            began = time.monotonic()
            now = self._server_ms()
            mine = replace(self.claim, expires_ms=now + int(self.seconds * 1000))
            try:
                self._held(self.client.create_collection(self.name, metadata=mine.metadata()), began)
                return None
            except ChromaError as exc:
                refused = exc  # it exists (whose, and until when?), or the server refuses to create it
            try:
                current = self.client.get_collection(self.name)
            except ChromaNotFound:
                continue  # released since: race for it again
            found = Claim.of(current.metadata)
            if found is not None and found.holder == self.claim.holder:
                self._held(current, began)  # this writer's creation, whose answer was lost
                return None
            if found is None:
                # A lease made by hand, or damaged: given one lease time before it counts as expired.
                first = self._unclaimed.setdefault(str(current.id), began)
                if began - first < self.seconds:
                    return UNKNOWN
            elif now < found.expires_ms:
                return found
            self._move_aside(current)
        if found is None and refused is not None:
            raise refused  # never found a lease: creating one failed for another reason
        return found or UNKNOWN

    def _held(self, lease: Any, began: float) -> None:
        self._lease = lease
        self._trusted_until = began + self.seconds / 2

    def _move_aside(self, lease: Any) -> None:
        """Rename an expired lease by its id (never one taken since), then delete it."""
        from chromadb.errors import NotFoundError as ChromaNotFound

        stale = f"{self.name}-stale-{self.token}"
        with contextlib.suppress(ChromaNotFound):
            self.client.delete_collection(stale)  # this writer's own, left by an earlier try
        try:
            lease.modify(name=stale)
        except ChromaNotFound:
            return  # another taker moved it and deleted it
        with contextlib.suppress(ChromaNotFound):
            self.client.delete_collection(stale)  # or another taker moved it again: theirs to delete

    def start_renewing(self) -> None:
        """Renew the lease in a thread every sixth of its length until released."""
        self._renewer = threading.Thread(target=self._renew_loop, name="citebot-lease", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.seconds / 6):
            if self._lost:
                return
            with contextlib.suppress(Exception):  # a server away: the lease lapses, and check() says so
                self.renew()

    def renew(self) -> None:
        """Move the expiry on (by the lease's id), then make sure the lease by its name is still this one."""
        from chromadb.errors import NotFoundError as ChromaNotFound

        began = time.monotonic()
        if self._lost or began >= self._trusted_until:
            return
        now = self._server_ms()
        try:
            expires = now + int(self.seconds * 1000)
            self._lease.modify(metadata=replace(self.claim, expires_ms=expires).metadata())
            current = self.client.get_collection(self.name)
        except ChromaNotFound:
            current = None  # moved aside and deleted by a taker, and no new lease made yet
        if current is None or current.id != self._lease.id:
            taker = Claim.of(current.metadata) if current is not None else None
            self._lost = f"taken over by {(taker or UNKNOWN).describe()}"
            return
        self._trusted_until = began + self.seconds / 2

    def check(self) -> None:
        """Refuse to write once the lease is lost or lapsed (another writer may hold it by now)."""
        if self._lost is None and time.monotonic() >= self._trusted_until:
            self._lost = f"not renewed for {self.seconds / 2:.0f} s"
        if self._lost:
            raise BusyError(
                f"This ingest lost its writer lease on collection {self.location.collection} of "
                f"{self.location.where()} ({self._lost}): another writer may hold it now, so nothing more "
                "is written; what was committed is kept: run the same command again"
            )

    def release(self) -> None:
        """Stop renewing; remove the lease if it is still this writer's (renamed by its id, then deleted)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=self.seconds)
        if self._lease is not None:
            # A lease that cannot be removed (the server away) expires by itself.
            with contextlib.suppress(Exception):
                self._move_aside(self._lease)
            self._lease = None


# The leases this process holds, by store location: every write of a store checks its own first.
_HELD: dict[StoreLocation, ServerLease] = {}


def check_lease(location: StoreLocation) -> None:
    """Before a write to a server collection: BusyError if this process's lease on it was lost or lapsed."""
    if location.chroma_url:
        lease = _HELD.get(location)
        if lease is not None:
            lease.check()


@contextmanager
def server_lease(
    location: StoreLocation,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    seconds: float = LEASE_SECONDS,
) -> Iterator[None]:
    """Hold the server collection's writer lease (nothing for a store folder: its lock is enough);
    if busy, BusyError naming the holder, or (wait) tell on_wait whom it waits for and wait."""
    if not location.chroma_url:
        yield
        return
    check_collection_name(location.collection)
    lease = ServerLease(location, seconds)
    told = False
    while True:
        with lease.guard("taking the writer lease"):
            holder = lease.try_take()
        if holder is None:
            break
        if not wait:
            raise _busy(holder.describe(), location.collection, location.where())
        if on_wait and not told:
            on_wait(_waiting(holder.describe(), location.collection))
            told = True
        time.sleep(_POLL_S)
    key = location
    _HELD[key] = lease
    lease.start_renewing()
    try:
        yield
    finally:
        if _HELD.get(key) is lease:
            del _HELD[key]
        lease.release()
