"""Keeping an index in step with folders: watch them, drop editors' noise, call back once per burst.

Folders are watched by watchfiles (inotify on Linux); a file given by itself is checked by stat instead, since
an editor that saves by renaming a new file over it leaves an inotify watch on the old inode. Nothing here
prints or ingests: the door passes callbacks that do both.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from retrieval.errors import CitebotError, InputError
from retrieval.ingest.files import is_inside
from retrieval.ingest.loaders import SUPPORTED_SUFFIXES

# Editors' and downloaders' scratch files, by name: vim's swap files (.swp, .swx, ...) and its 4913 write
# test, `~` backups, emacs's `#x#` autosaves, MS Office's `~$x.docx` owner files, JetBrains' `x___jb_tmp___`,
# and half-downloaded files. Hidden names (`.#x`, `.git`, `.x.swp`) are dropped before these are tried.
NOISE = re.compile(r"\.sw[a-p]$|^4913$|~$|^#.*#$|^~\$|___jb_\w+___$|\.(tmp|part|crdownload)$", re.IGNORECASE)


@dataclass(frozen=True)
class WatchTiming:
    """How changes are grouped into one ingest, and how often the watched paths themselves are checked."""

    # An editor's save (write a temp file, rename it over, chmod) lands within a few milliseconds; 300 ms of
    # quiet also takes a burst of saves or a `git checkout` as one ingest, leaving most of the 5 s target.
    quiet_ms: int = 300
    # Changes that never pause (a long copy) are ingested at least this often; a file ingested half-written is
    # read again at its next change event.
    longest_ms: int = 2000
    # How often a watched file, a vanished or returned folder and the stop event are checked: 1 s keeps a
    # change to a file given by itself within the 5 s target, at one stat per path per second.
    check_ms: int = 1000


@dataclass
class WatchCallbacks:
    """What the watch loop calls back: the door ingests and reports."""

    # The first ingest, once the watcher runs (so a change made during it is seen); False: stop at once.
    start: Callable[[], bool]
    # Re-ingest these watched paths (those present now); False: the store was busy, try again shortly.
    ingest: Callable[[list[Path]], bool]
    # A watched path vanished (its documents stay indexed), or came back.
    gone: Callable[[Path], None] = lambda path: None
    back: Callable[[Path], None] = lambda path: None


class WatchError(CitebotError):
    """The system refused to watch a folder (say, its limit of inotify watches is reached)."""


class Ending(Enum):
    """Why the watch loop returned."""

    STOPPED = "stopped"  # the stop event was set, or the first ingest asked to stop
    ALL_GONE = "all gone"  # no watched path is left


def check_paths(paths: Sequence[Path]) -> None:
    """Refuse a path that does not exist, as ingest does (InputError, the same message)."""
    for given in paths:
        if not Path(given).expanduser().exists():
            raise InputError(f"No such file or folder: {given}")


def is_noise(name: str) -> bool:
    """Whether a file or folder name is hidden or an editor's scratch file, never worth an ingest."""
    return name.startswith(".") or bool(NOISE.search(name))


def _signature(path: Path) -> tuple[int, int, int, int] | None:
    """What tells a file or folder apart from its earlier self (None: it is not there)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


@dataclass
class _Root:
    """One watched path: given as the user typed it (ingest names files by it), resolved for matching."""

    given: Path
    resolved: Path
    folder: bool
    device: int
    seen: tuple[int, int, int, int] | None
    present: bool = True

    @classmethod
    def of(cls, given: Path) -> _Root:
        resolved = Path(given).expanduser().resolve()
        seen = _signature(resolved)
        return cls(given, resolved, resolved.is_dir(), seen[0] if seen else 0, seen)

    def here(self) -> bool:
        """Whether it is present now: a file at all, a folder as a folder on the device it was on."""
        now = _signature(self.resolved)
        if now is None:
            return False
        # An unmounted drive leaves its mount point behind, empty and on another device: ingesting that
        # would remove every document the drive holds.
        return not self.folder or (self.resolved.is_dir() and now[0] == self.device)

    def file_changed(self) -> bool:
        """For a file given by itself: whether it differs from when last looked at (and remember it)."""
        now = _signature(self.resolved)
        changed = now != self.seen
        self.seen = now
        return changed and now is not None


def _relevant(path: str, roots: Sequence[_Root], ignore: Sequence[str], kind: str) -> bool:
    """Whether a change (added, modified, deleted) may change the index: a supported file's, a folder's."""
    if any(is_inside(path, skip) for skip in ignore):
        return False
    root = next((r for r in roots if r.folder and r.present and is_inside(path, str(r.resolved))), None)
    if root is None or path == str(root.resolved):
        return False
    if any(is_noise(part) for part in Path(path).relative_to(root.resolved).parts):
        return False
    suffix = Path(path).suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return True
    # A folder moved in counts (its files bring no events of their own); one moved out or removed can no
    # longer be asked, so a name without a suffix counts when deleted (most folders have none; a deleted file
    # without one costs an ingest that finds nothing changed).
    if kind == "added":
        return os.path.isdir(path)
    return kind == "deleted" and not suffix


@dataclass
class _Loop:
    """One watch's state: its roots, whether an ingest is waiting, whether watchfiles must start anew."""

    roots: list[_Root]
    callbacks: WatchCallbacks
    ignore: list[str]
    pending: bool = False
    restart: bool = False
    started: bool = False

    def check_roots(self) -> None:
        """Name each path that vanished or came back; a change of folders restarts watchfiles."""
        for root in self.roots:
            here = root.here()
            if root.present and not here:
                root.present = False
                self.restart = True
                self.callbacks.gone(root.given)
            elif not root.present and here:
                root.present, root.seen = True, _signature(root.resolved)
                self.restart = True  # and what changed while it was away is ingested once watched again
                self.callbacks.back(root.given)
            elif here and not root.folder and root.file_changed():
                self.pending = True

    def take(self, changes: set[tuple[int, str]]) -> None:
        """Note the relevant changes of one batch from watchfiles."""
        from watchfiles import Change

        for change, path in changes:
            if _relevant(path, self.roots, self.ignore, Change(change).name):
                self.pending = True

    def wake(self, changes: set[tuple[int, str]]) -> Ending | None:
        """One turn: first ingest, roots, changes, then an ingest if anything relevant is waiting."""
        if not self.started:
            self.started = True
            if not self.callbacks.start():
                return Ending.STOPPED
            changes = set()  # made before the first ingest began, which read them
        self.check_roots()
        self.take(changes)
        present = [r for r in self.roots if r.present]
        if not present:
            return Ending.ALL_GONE
        if self.pending and not self.restart:
            # Busy (another writer): the changes stay pending and are tried again at the next check.
            self.pending = not self.callbacks.ingest([r.given for r in present])
        return None


def _ticks(every_s: float, stop: threading.Event) -> Iterator[set[tuple[int, str]]]:
    """Empty batches every so often, until stopped: the loop when no folder is watched (files only)."""
    while not stop.wait(every_s):
        yield set()


def _batches(
    folders: list[Path], timing: WatchTiming, stop: threading.Event
) -> Generator[set[tuple[int, str]] | None, None, None]:
    """watchfiles' batches over the folders (an empty one every check_ms), until stopped; Ctrl-C raises.

    None: a folder vanished between its check and watchfiles opening it (watch anew).
    """
    if not folders:
        yield set()  # the first turn (the first ingest) at once
        yield from _ticks(timing.check_ms / 1000, stop)
        return
    from watchfiles import watch as watch_folders

    try:
        for batch in watch_folders(
            *folders,
            # Filtered by the loop, which must see a folder vanish even when nothing else changed.
            watch_filter=None,
            debounce=timing.longest_ms,
            step=timing.quiet_ms,
            stop_event=stop,
            rust_timeout=timing.check_ms,
            yield_on_timeout=True,
            raise_interrupt=True,
            # An unreadable subfolder is ingest's to name ("cannot read this folder"), not a reason to stop.
            ignore_permission_denied=True,
        ):
            yield {(int(change), path) for change, path in batch}
    except FileNotFoundError:
        yield None
    except OSError as exc:
        raise WatchError(f"Cannot watch {', '.join(map(str, folders))}: {exc.strerror or exc}") from exc


def watch(
    paths: Sequence[Path],
    callbacks: WatchCallbacks,
    timing: WatchTiming | None = None,
    stop: threading.Event | None = None,
    ignore: Sequence[Path] = (),
) -> Ending:
    """Call start, then ingest once per burst of relevant changes under paths, until stop or no path is left.

    ignore: folders whose changes never count (the store's own folder, if it lies under a watched one).
    A KeyboardInterrupt (Ctrl-C, in the main thread) propagates, from the wait or from a callback.
    """
    check_paths(paths)
    timing = timing or WatchTiming()
    stop = stop or threading.Event()
    roots = [_Root.of(p) for p in paths]
    loop = _Loop(roots, callbacks, [str(Path(p).expanduser().resolve()) for p in ignore])
    while True:
        loop.restart = False
        folders = [r.resolved for r in roots if r.folder and r.present]
        with closing(_batches(folders, timing, stop)) as batches:
            for changes in batches:
                if changes is None:
                    stop.wait(timing.check_ms / 1000)  # the next turn names the folder that vanished
                    break
                ending = loop.wake(changes)
                if ending:
                    return ending
                if loop.restart:
                    break
            else:
                return Ending.STOPPED
        # Watching anew (a folder left or came back): what changed meanwhile is read by one more ingest.
        loop.pending = True
