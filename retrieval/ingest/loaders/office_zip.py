"""Office files (.docx, .pptx) are zips: how much they inflate to is checked before a parser opens them.

A 4.4 MB .docx whose member inflates to gigabytes (a zip bomb) drove the parser worker past 4 GB. python-docx
and python-pptx read every member whole, so the zip's members are measured first: their declared sizes (the
central directory), then their actual sizes while each is inflated in pieces, both against a total cap and,
for members past a floor, a ratio cap. A file that is not a zip at all is left to its parser, whose reason
("not a readable Word file (...)") names what it is instead.
"""

from __future__ import annotations

import io
import zipfile
import zlib

from retrieval.ingest.loaders import ExtractError

# What an Office file may inflate to in all. The file cap is 50 MB (files.py) and a real document's media are
# stored at ratio ~1, so a real file inflates to about its own size plus its XML; its XML parsed costs ~7
# times its size (a 14 MB document.xml peaked the worker at 176 MB), so 256 MiB stays under the worker's
# 1 GiB address-space limit (extraction.py) with room to spare, at 5 times the largest file accepted.
MAX_INFLATED_BYTES = 256 * 1024 * 1024
# How many times its compressed size one member may inflate to. DEFLATE tops out near 1,032; a bomb sits
# there. Real Office XML measured 2 to 33 times (a 40,000-paragraph document.xml 2.3, python-docx's default
# styles 29 to 33); 200 leaves repetitive real tables room.
MAX_RATIO = 200
# Below this a member is too small to matter, whatever its ratio (an empty part's 200 bytes may be 40x).
RATIO_FLOOR_BYTES = 1024 * 1024
# A member that cannot be inflated (damaged, encrypted, an unknown method): its parser gives the reason.
_DAMAGED = (zipfile.BadZipFile, zlib.error, NotImplementedError, ValueError, OSError, EOFError, RuntimeError)
# Inflated per read: memory stays bounded by this, whatever a member's size.
_PIECE = 1024 * 1024


def _size(count: int) -> str:
    """A byte count as a person reads it: "4.0 GB", "310 MB", "12 KB"."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}" if count < 10 * scale else f"{count // scale} {unit}"
    return f"{count} bytes"


def _problem(name: str, inflated: int, compressed: int, total: int) -> str | None:
    """Why a member of this size (total: inflated so far, itself included) is refused; None if it is not."""
    if total > MAX_INFLATED_BYTES:
        return f"it inflates to over {_size(MAX_INFLATED_BYTES)} (a zip bomb?)"
    if inflated >= RATIO_FLOOR_BYTES and inflated > MAX_RATIO * max(compressed, 1):
        return (
            f"{name[:80]} inflates {_size(compressed)} to {_size(inflated)}, over {MAX_RATIO} times its size "
            "(a zip bomb?)"
        )
    return None


def inflation_problem(data: bytes) -> str | None:
    """Why this zip must not be opened (its members inflate past the caps); None when it may be (or when it
    is no zip: its parser says what it is)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return None
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        total = 0
        for info in members:  # declared sizes: a bomb is refused without inflating a byte
            total += info.file_size
            problem = _problem(info.filename, info.file_size, info.compress_size, total)
            if problem:
                return problem
        total = 0
        for info in members:  # actual sizes, in pieces: a member that inflates past what it declares
            inflated = 0
            try:
                with archive.open(info) as member:
                    while piece := member.read(_PIECE):
                        inflated += len(piece)
                        total += len(piece)
                        problem = _problem(info.filename, inflated, info.compress_size, total)
                        if problem:
                            return problem
            except _DAMAGED:
                continue  # a damaged or encrypted member: the parser gives the file's own reason
    return None


def check_inflation(data: bytes) -> None:
    """ExtractError when this Office file's zip inflates past the caps."""
    problem = inflation_problem(data)
    if problem:
        raise ExtractError(problem)
