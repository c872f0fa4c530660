"""Opening a path one folder at a time, each in its parent's handle, never through a symbolic link.

`O_NOFOLLOW` guards only a path's last component: a folder on the way that was swapped for a link (between an
ingest's listing and its reading, say) is followed by the kernel's own lookup. Opening every component with
`openat` from its parent's handle, each without following a link, makes a link anywhere on the path an error.
The paths given are resolved (they hold no link when made), so a link found now was put there since.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_NO_LINK = os.O_NOFOLLOW | os.O_CLOEXEC
# O_PATH (Linux) opens a folder to pass through, as a path lookup does, without the right to list it.
_THROUGH = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | _NO_LINK
LISTABLE = os.O_RDONLY | os.O_DIRECTORY | _NO_LINK
READABLE = os.O_RDONLY | os.O_NONBLOCK | _NO_LINK


def open_in(parent: int, name: str, flags: int) -> int:
    """Open name in the folder parent without following a link; a link there is ELOOP, whatever flags say."""
    try:
        return os.open(name, flags, dir_fd=parent)
    except OSError as exc:
        # O_DIRECTORY reports a link as ENOTDIR: said as what it is, a link, so callers can tell the two.
        if exc.errno == errno.ENOTDIR and is_link_in(parent, name):
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name) from None
        raise


def is_link_in(parent: int, name: str) -> bool:
    """Whether name in the folder parent is a symbolic link (False if it cannot be looked at)."""
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except OSError:
        return False


def open_folder(path: Path, flags: int = _THROUGH) -> int:
    """A handle on the folder at path (absolute, no '..'), each component opened in its parent without
    following a link: OSError (ELOOP where a component is a link, ENOTDIR where it is not a folder)."""
    if not path.is_absolute() or ".." in path.parts:
        raise ValueError(f"not an absolute path without '..': {path}")  # a caller's mistake, not the disk's
    handle = os.open(path.anchor, _THROUGH)
    names = path.parts[1:]
    try:
        for at, name in enumerate(names):
            inner = open_in(handle, name, flags if at == len(names) - 1 else _THROUGH)
            os.close(handle)
            handle = inner
        if not names and flags != _THROUGH:
            inner = os.open(path.anchor, flags)
            os.close(handle)
            handle = inner
    except BaseException:
        os.close(handle)
        raise
    return handle


def open_file(path: Path, flags: int = READABLE) -> int:
    """A handle on the file at path (absolute) opened with no link followed at any component (open_folder)."""
    folder = open_folder(path.parent)
    try:
        return open_in(folder, path.name, flags)
    finally:
        os.close(folder)


# What an indexed file is read back at most, to check it is unchanged or to quote it: regular files only, so
# a file swapped for a device or FIFO (/dev/zero) never reads without end; the cap bounds a file that grew
# after its ingest (10x the 50 MiB default size cap, so that a raised cap still reads its files).
MAX_CHECKED_BYTES = 512 * 1024 * 1024


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file at path (absolute), reached through no link, at most max_bytes; else
    OSError: ELOOP (a link on its path, or it is one), EINVAL (a device, FIFO or socket), EFBIG (larger)."""
    handle = open_file(path)
    try:
        # Checked on the open handle: the file may have been swapped for a FIFO or device since it was seen.
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        with os.fdopen(handle, "rb", closefd=False) as stream:
            data = stream.read(max_bytes + 1)
    finally:
        os.close(handle)
    if len(data) > max_bytes:
        raise OSError(errno.EFBIG, os.strerror(errno.EFBIG), str(path))
    return data
