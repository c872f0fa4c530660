"""Files to Documents: find the documents under the given paths, never leaving them; read them exactly."""

from __future__ import annotations

import errno
import os
import stat
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.errors import InputError, LoadError, NoTextError
from retrieval.ingest.extraction import Extractor
from retrieval.ingest.loaders import (
    PLAIN_SUFFIXES,
    SUPPORTED_SUFFIXES,
    Extracted,
    ExtractError,
    NoText,
    parser_version,
)
from retrieval.store.layout import MARKER
from retrieval.store.no_follow import LISTABLE, open_folder, open_in, read_regular_file
from retrieval.text.content import fingerprint
from retrieval.text.regions import RegionMap

DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024
# How Office's `~$name.docx` owner files are counted among the ignored: not as the documents they name.
OWNER_FILE = "~$"
# The longest path the OS opens by name (Linux's PATH_MAX, with its NUL); a file deeper is refused by path.
_PATH_MAX = 4096
# Folder handles a walk keeps open (far under the usual limit of 1,024 descriptors per process); past it,
# the least recently used is closed and opened again from its parent when a subfolder needs it.
_OPEN_HANDLES = 64


@dataclass(frozen=True)
class SourceFile:
    """A file found for ingest: where it is and the name it is cited by."""

    path: Path
    source: str
    root: Path


@dataclass(frozen=True)
class Document:
    """A file's whole text as read or extracted, with what identifies its version and where its parts are."""

    source: str
    path: Path
    text: str
    sha256: str
    regions: RegionMap = field(default_factory=RegionMap)
    # The parser that extracted the text ("" for plain text, whose text is the file's own).
    parser: str = ""
    own_title: str = ""

    @property
    def extracted(self) -> bool:
        """Whether the text is not the file's own characters (a PDF's, a deck's): it is kept in the store."""
        return self.path.suffix.lower() not in PLAIN_SUFFIXES

    @property
    def title(self) -> str:
        """The document's own title, else its first non-empty line: a heading for every chunk."""
        if self.own_title.strip():
            return " ".join(self.own_title.split())[:200]
        for line in self.text.splitlines():
            if line.strip():
                return line.strip()[:200]
        return self.source


@dataclass
class Discovery:
    """What a walk found: files to read, files passed over on purpose, and folders it could not read."""

    files: list[SourceFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)
    # Files of other types (images, archives, binaries), counted by suffix ("" for none), never read.
    ignored: Counter[str] = field(default_factory=Counter)


def is_inside(path: str, root: str) -> bool:
    """Whether path is root or lies below it (as strings of resolved paths)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def _name_problem(name: str) -> str | None:
    """Why a file name cannot be cited, if it cannot (names are ids: they must be printable text)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8"
    return None


@dataclass(eq=False)
class _Folder:
    """A folder of the walk, known by its parent: a handle on it is opened from its parent's handle."""

    path: Path
    parent: _Folder | None


class _Walk:
    """One walk under one root: iterative (any depth), never through a symbolic link, regular files only.

    Each folder is opened in its parent's handle without following a link (openat), and listed from that
    handle: a folder swapped for a link after its parent was listed is refused, never read through.
    """

    def __init__(
        self, root: Path, max_bytes: int, found: Discovery, skip: frozenset[tuple[int, int]] = frozenset()
    ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.found = found
        self.skip = skip
        # Handles on folders, least recently used first: a folder's subfolders open from it, and so do
        # its siblings' from their parent; one whose handle was let go is opened again from above.
        self.handles: OrderedDict[_Folder, int] = OrderedDict()

    def source(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def consider(self, path: Path, info: os.stat_result) -> None:
        """Add a listed entry that is not a folder: a regular file of a supported type within the size cap."""
        # Word and PowerPoint keep a `~$name.docx` owner file beside a document while it is open: a few bytes
        # naming who has it open, not a document, so it is passed over like any other type's file.
        if path.suffix.lower() not in SUPPORTED_SUFFIXES or path.name.startswith("~$"):
            self.found.ignored[OWNER_FILE if path.name.startswith("~$") else path.suffix.lower()] += 1
            return
        source = self.source(path)
        problem = _name_problem(source)
        if stat.S_ISLNK(info.st_mode):
            problem = problem or self.link_problem(path)
        elif not stat.S_ISREG(info.st_mode):
            problem = problem or "not a regular file (a device, FIFO or socket)"
        elif info.st_size > self.max_bytes:
            problem = (
                problem or f"larger than the {_megabytes(self.max_bytes)} limit ({_megabytes(info.st_size)})"
            )
        if problem:
            self.found.skipped.append(f"{_printable(source)}: {problem}")
            return
        self.found.files.append(SourceFile(path, source, self.root))

    def link_problem(self, path: Path) -> str:
        """Links are never followed: say where this one leads, so the user can ingest the target itself."""
        target = os.path.realpath(path)
        if not os.path.exists(target):
            return "a broken symbolic link"
        if is_inside(target, str(self.root)):
            return "a symbolic link to a file inside the folder (indexed under its own name)"
        return "a symbolic link that leads outside the ingested folder (links are not followed)"

    def run(self) -> None:
        """Walk the root depth-first with an explicit stack (a folder nested 1,000 deep is no recursion)."""
        stack = [_Folder(self.root, None)]
        try:
            while stack:
                folder = stack.pop()
                entries = self.listed(folder)
                if entries is not None:
                    stack.extend(reversed(self.take(folder, entries)))
        finally:
            for handle in self.handles.values():
                os.close(handle)
            self.handles.clear()

    def listed(self, folder: _Folder) -> list[os.DirEntry[str]] | None:
        """The folder's entries by name (None once its failure is noted), read from its own handle."""
        where = _printable(self.source(folder.path) or ".")
        try:
            with list_folder(self.handle_of(folder), folder.path) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                # Listed as a folder, a link when opened: swapped since, and never followed (nor its files
                # kept: a link found while listing drops them too).
                self.found.skipped.append(
                    f"{where}/: a symbolic link now (it was a folder when listed); links are not followed"
                )
                return None
            self.found.unreadable.append(folder.path)
            self.found.failed.append(
                f"{where}/: cannot read this folder ({exc.strerror or exc}); its files were left as they are"
            )
            return None
        if folder.parent is not None and any(entry.name == MARKER for entry in entries):
            return None  # a citebot store (another one, or a copy): its files are citebot's, not documents
        return entries

    def take(self, folder: _Folder, entries: list[os.DirEntry[str]]) -> list[_Folder]:
        """Consider each visible entry of a listed folder; its subfolders, in order, to be walked."""
        subfolders: list[_Folder] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = folder.path / entry.name
            try:
                # The OS refuses a path this long to every later reader (a citation's check, --watch): such a
                # file fails as it did when the walk went by path.
                if len(os.fsencode(path)) >= _PATH_MAX:
                    raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(path))
                info = entry.stat(follow_symlinks=False)  # in the folder's handle, still open
            except OSError as exc:
                self.found.unreadable.append(path)
                self.found.failed.append(f"{_printable(self.source(path))}: cannot read ({exc.strerror})")
                continue
            if stat.S_ISDIR(info.st_mode):
                if (info.st_dev, info.st_ino) not in self.skip:  # the store's own folder is never walked
                    subfolders.append(_Folder(path, folder))
            else:
                self.consider(path, info)
        return subfolders

    def handle_of(self, folder: _Folder) -> int:
        """A handle on the folder, opened (with any folder above it whose handle was let go) each in its
        parent's, no link followed; the most recently used handles are kept, the rest closed."""
        chain: list[_Folder] = []
        above: _Folder | None = folder
        while above is not None and above not in self.handles:
            chain.append(above)
            above = above.parent
        for each in reversed(chain):
            parent = each.parent
            if parent is None:
                handle = open_folder(self.root, LISTABLE)
            else:
                handle = open_in(self.handles[parent], each.path.name, LISTABLE)
            self.handles[each] = handle
            if len(self.handles) > _OPEN_HANDLES:
                os.close(self.handles.popitem(last=False)[1])  # the least recently used, never this one
        self.handles.move_to_end(folder)
        return self.handles[folder]


def list_folder(handle: int, path: Path) -> AbstractContextManager[Iterator[os.DirEntry[str]]]:
    """The entries of the folder open as handle (path only names it: a seam where tests refuse a folder or
    change one between its listing and the next step)."""
    return os.scandir(handle)


def discover(
    paths: Iterable[Path], max_bytes: int = DEFAULT_MAX_FILE_BYTES, skip: Iterable[Path] = ()
) -> Discovery:
    """List the supported files under each path (folders recursively, hidden entries and links skipped);
    the folders in skip (the store's own) are never walked, known by device and inode, not by name."""
    found = Discovery()
    skipped = _identities(skip)
    for given in paths:
        path = Path(given).expanduser()
        try:
            exists = path.exists()
        except OSError as exc:
            raise InputError(f"Cannot use {given}: {exc.strerror or exc}") from exc
        if not exists:
            raise InputError(f"No such file or folder: {given}")
        # The path given is the user's own choice, so a link there is followed; links below it are not.
        resolved = path.resolve()
        if resolved.is_dir():
            if _identities([resolved]) & skipped or (resolved / MARKER).is_file():
                raise InputError(
                    f"{given} is a citebot store folder, not documents: ingest the folders that hold them"
                )
            _Walk(resolved, max_bytes, found, skipped).run()
        elif resolved.is_file():
            _Walk(resolved.parent, max_bytes, found).consider(resolved, resolved.stat())
        else:
            raise InputError(f"{given} is not a regular file or folder (a device, FIFO or socket)")
    # A file reached twice (overlapping folders) is indexed once, under the name its first root gives it.
    unique: dict[Path, SourceFile] = {}
    for file in found.files:
        unique.setdefault(file.path, file)
    found.files = sorted(unique.values(), key=lambda f: f.source)
    return found


def _identities(folders: Iterable[Path]) -> frozenset[tuple[int, int]]:
    """Each existing folder's (device, inode): the same folder however its path is spelled."""
    out = set()
    for folder in folders:
        try:
            info = os.stat(folder)
        except OSError:
            continue  # not made yet: nothing of it can be under a folder walked
        out.add((info.st_dev, info.st_ino))
    return frozenset(out)


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _printable(name: str, limit: int = 160) -> str:
    """A file name as a message can show it: control characters escaped, a very long one cut in the middle."""
    shown = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        for ch in name
    )
    return shown if len(shown) <= limit else f"{shown[: limit // 2]}…{shown[-limit // 2 :]}"


def read_bytes(file: SourceFile, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The file's raw bytes (a regular file, at most max_bytes, reached through no link: not its own name
    nor any folder on its path), or a LoadError naming it."""
    name = _printable(file.source)
    try:
        return read_regular_file(file.path, max_bytes)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            # Walked without one: the file or a folder on its path was swapped for a link since.
            reason = "cannot read (a symbolic link is on its path now; links are not followed)"
        elif exc.errno == errno.EINVAL:
            reason = "not a regular file (a device, FIFO or socket)"
        elif exc.errno == errno.EFBIG:
            reason = f"larger than the {_megabytes(max_bytes)} limit"
        else:
            reason = f"cannot read ({exc.strerror or exc})"
        raise LoadError(f"{name}: {reason}") from exc


def decode(file: SourceFile, data: bytes, extractor: Extractor | None = None) -> Document:
    """A file's bytes as a Document (text files read here, other formats by the extractor's worker), or a
    LoadError that names the file and says why its text cannot be had (NoTextError: it holds none)."""
    suffix = file.path.suffix.lower()
    try:
        extracted = _extract(suffix, data, extractor)
    except NoText as exc:
        raise NoTextError(f"{_printable(file.source)}: {exc}") from exc
    except ExtractError as exc:
        raise LoadError(f"{_printable(file.source)}: {exc}") from exc
    return Document(
        file.source,
        file.path,
        extracted.text,
        fingerprint(data),
        extracted.regions,
        parser_version(suffix),
        extracted.title,
    )


def _extract(suffix: str, data: bytes, extractor: Extractor | None) -> Extracted:
    if extractor is not None:
        return extractor.extract(suffix, data)
    with Extractor() as own:
        return own.extract(suffix, data)


def load(file: SourceFile, extractor: Extractor | None = None) -> Document:
    """Read one file into a Document."""
    return decode(file, read_bytes(file), extractor)
