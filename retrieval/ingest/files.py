"""Files to Documents: find the documents under the given paths, never leaving them; read them exactly."""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Iterable
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
from retrieval.text.content import fingerprint
from retrieval.text.regions import RegionMap

DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024
# How Office's `~$name.docx` owner files are counted among the ignored: not as the documents they name.
OWNER_FILE = "~$"


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


class _Walk:
    """One walk under one root: iterative (any depth), never through a symbolic link, regular files only."""

    def __init__(self, root: Path, max_bytes: int, found: Discovery) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.found = found

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
        stack = [self.root]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = sorted(listing, key=lambda e: e.name)
            except OSError as exc:
                self.found.unreadable.append(folder)
                where = self.source(folder) or "."
                self.found.failed.append(
                    f"{_printable(where)}/: cannot read this folder ({exc.strerror or exc}); "
                    "its files were left as they are"
                )
                continue
            for entry in reversed(entries):
                if entry.name.startswith("."):
                    continue
                path = Path(entry.path)
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    self.found.unreadable.append(path)
                    self.found.failed.append(f"{_printable(self.source(path))}: cannot read ({exc.strerror})")
                    continue
                if stat.S_ISDIR(info.st_mode):
                    stack.append(path)
                else:
                    self.consider(path, info)


def discover(paths: Iterable[Path], max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Discovery:
    """List the supported files under each path (folders recursively, hidden entries and links skipped)."""
    found = Discovery()
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
            _Walk(resolved, max_bytes, found).run()
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
    """The file's raw bytes (a regular file, not a link, at most max_bytes), or a LoadError naming it."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    name = _printable(file.source)
    try:
        handle = os.open(file.path, flags)
    except OSError as exc:
        raise LoadError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    try:
        # Checked on the open handle: the file may have been swapped for a FIFO or device since the walk.
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise LoadError(f"{name}: not a regular file (a device, FIFO or socket)")
        with os.fdopen(handle, "rb", closefd=False) as stream:
            data = stream.read(max_bytes + 1)
    except OSError as exc:
        raise LoadError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    finally:
        os.close(handle)
    if len(data) > max_bytes:
        raise LoadError(f"{name}: larger than the {_megabytes(max_bytes)} limit")
    return data


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
