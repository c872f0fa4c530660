"""Files to Documents: find the text files under the given paths and read them exactly."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import InputError, LoadError

SUPPORTED_SUFFIXES = frozenset({".txt", ".md"})


@dataclass(frozen=True)
class SourceFile:
    """A file found for ingest: where it is and the name it is cited by."""

    path: Path
    source: str
    root: Path


@dataclass(frozen=True)
class Document:
    """A file's whole text as read, with what identifies its version."""

    source: str
    path: Path
    text: str
    sha256: str

    @property
    def title(self) -> str:
        """The first non-empty line, used as a heading for every chunk."""
        for line in self.text.splitlines():
            if line.strip():
                return line.strip()[:200]
        return self.source


def discover(paths: Iterable[Path]) -> list[SourceFile]:
    """List the supported files under each path (folders recursively, hidden entries skipped)."""
    found: dict[Path, SourceFile] = {}
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise InputError(f"No such file or folder: {given}")
        root = path.resolve() if path.is_dir() else path.resolve().parent
        for file in _walk(path.resolve()):
            found.setdefault(file, SourceFile(file, file.relative_to(root).as_posix(), root))
    return sorted(found.values(), key=lambda f: f.source)


def _walk(path: Path) -> Iterable[Path]:
    if path.is_file():
        yield path
        return
    for child in sorted(path.rglob("*")):
        rel = child.relative_to(path)
        if any(part.startswith(".") for part in rel.parts):
            continue
        # A broken link is listed too, so its failure is reported rather than passed over.
        if child.suffix.lower() in SUPPORTED_SUFFIXES and (child.is_file() or child.is_symlink()):
            yield child


def read_bytes(file: SourceFile) -> bytes:
    """The file's raw bytes, or a LoadError naming it."""
    try:
        return file.path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{file.source}: cannot read ({exc.strerror or exc})") from exc


def fingerprint(data: bytes) -> str:
    """The version of a file's content."""
    return hashlib.sha256(data).hexdigest()


def decode(file: SourceFile, data: bytes) -> Document:
    """Decode a file's bytes as citebot reads text: UTF-8, newlines kept as they are."""
    if file.path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise LoadError(f"{file.source}: unsupported file type {file.path.suffix or '(none)'}")
    if b"\x00" in data:
        raise LoadError(f"{file.source}: binary file (contains NUL bytes)")
    try:
        # Same as open(path, encoding="utf-8", newline="").read(): offsets index this exact string.
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(f"{file.source}: not UTF-8 text (byte {exc.start})") from exc
    return Document(file.source, file.path, text, fingerprint(data))


def load(file: SourceFile) -> Document:
    """Read one file into a Document."""
    return decode(file, read_bytes(file))
