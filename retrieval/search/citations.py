"""Citation ids (file names %-escaped where they must be) and looking a cited passage up."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

from retrieval.errors import InputError, NotFoundError
from retrieval.store.chunk_store import DocRecord, StoredChunk
from retrieval.store.no_follow import MAX_CHECKED_BYTES, read_regular_file
from retrieval.store.texts import read_text
from retrieval.text.content import decode_text, fingerprint
from retrieval.types import CitedPassage

_ID = re.compile(r"^(?P<source>.+)#(?P<start>\d+)-(?P<end>\d+)$")
# Offsets beyond this are no file's (a petabyte of text); the cap keeps int() away from giant digit strings.
_MAX_DIGITS = 15


def _escape_source(source: str) -> str:
    """A file name as an id carries it: %, unprintable characters and white space at either end %-escaped."""
    stripped = source.strip()
    lead = len(source) - len(source.lstrip())
    out = []
    for i, ch in enumerate(source):
        outer = i < lead or i >= lead + len(stripped)
        if ch == "%" or not ch.isprintable() or (outer and ch.isspace()):
            out.append("".join(f"%{byte:02X}" for byte in ch.encode("utf-8", "surrogateescape")))
        else:
            out.append(ch)
    return "".join(out)


def citation_id(source: str, start: int, end: int) -> str:
    """The human-readable id of a span: `file.txt#120-250` (odd characters in a name %-escaped)."""
    return f"{_escape_source(source)}#{start}-{end}"


def parse_citation_id(value: str) -> tuple[str, int, int]:
    """Split an id into source and offsets, or raise InputError."""
    match = _ID.match(value.strip())
    if not match:
        raise InputError(f"Not a citation id: {value!r} (expected FILE#START-END, e.g. notes.txt#120-250)")
    if max(len(match["start"]), len(match["end"])) > _MAX_DIGITS:
        shown = f"{value[:80]!r}{'…' if len(value) > 80 else ''}"
        raise InputError(f"Not a citation id: {shown} (its offsets are too large for any file)")
    start, end = int(match["start"]), int(match["end"])
    if end <= start:
        raise InputError(f"Not a citation id: {value!r} (END must be greater than START)")
    return unquote(match["source"], errors="surrogateescape"), start, end


def unknown_citation(value: str, source: str) -> NotFoundError:
    """The error for an id whose file no index holds (a scope gives it for another collection's, too)."""
    return NotFoundError(f"Unknown citation {value!r}: no indexed file is called {source!r}")


IndexedChunks = Callable[[DocRecord], list[StoredChunk]]
"""The chunks a record names, as the index holds them (what a changed file is quoted from)."""


def _is_current(record: DocRecord) -> bool:
    """Whether the file on disk is still the version indexed."""
    try:
        return fingerprint(read_regular_file(Path(record.path), MAX_CHECKED_BYTES)) == record.sha256
    except OSError:  # gone, a link on its path now, no longer a regular file, or grown past the cap
        return False


def _text_at(
    record: DocRecord, start: int, end: int, indexed: IndexedChunks, store_folder: Path
) -> tuple[str, int, int, bool]:
    """The text to quote from, the offset and line it begins at, and whether the file changed since ingest."""
    if record.text_sha256:
        # An extracted text is kept as indexed, so it answers for the citation whether or not the PDF
        # changed since; stale says whether it did.
        try:
            return read_text(record.text_file(store_folder)), 0, 1, not _is_current(record)
        except (OSError, ValueError):
            pass  # its kept text is gone (pruned by a later ingest): the indexed passage answers
    else:
        try:
            data = read_regular_file(Path(record.path), MAX_CHECKED_BYTES)
            if fingerprint(data) == record.sha256:
                return decode_text(data), 0, 1, False
        except (OSError, ValueError):
            pass  # gone, unreadable or changed: the indexed text still answers for what was cited
    for stored in indexed(record):
        if stored.start <= start and end <= stored.end:
            return stored.text, stored.start, stored.line, True
    raise NotFoundError(
        f"{record.source} has changed since it was indexed and no indexed passage holds characters "
        f"{start}-{end}; run `citebot ingest` and ask again"
    )


def look_up(
    value: str,
    manifest: dict[str, DocRecord],
    indexed: IndexedChunks,
    store_folder: Path,
    context_lines: int = 2,
) -> CitedPassage:
    """Find a citation's passage; only files the index holds are ever read (stale ones from the index)."""
    source, start, end = parse_citation_id(value)
    record = manifest.get(source)
    if record is None:
        raise unknown_citation(value, source)
    text, base, base_line, stale = _text_at(record, start, end, indexed, store_folder)
    if end - base > len(text):
        raise NotFoundError(f"Unknown citation {value!r}: {source} has only {len(text)} characters")
    lo, hi = start - base, end - base
    line_start = text.rfind("\n", 0, lo) + 1
    for _ in range(context_lines):
        if line_start == 0:
            break
        line_start = text.rfind("\n", 0, line_start - 1) + 1
    line_end = text.find("\n", hi)
    line_end = len(text) if line_end == -1 else line_end
    for _ in range(context_lines):
        if line_end >= len(text):
            break
        nxt = text.find("\n", line_end + 1)
        line_end = len(text) if nxt == -1 else nxt
    first_line = base_line + text.count("\n", 0, lo)
    place = record.region_map().place(start, end, first_line)
    return CitedPassage(
        id=citation_id(source, start, end),
        source=source,
        path=record.path,
        text_path=record.text_file(store_folder),
        start=start,
        end=end,
        line=first_line,
        page=place.page,
        location=place.label,
        quote=text[lo:hi],
        before=text[line_start:lo],
        after=text[hi:line_end],
        last_line=first_line + text.count("\n", lo, hi),
        context_first_line=base_line + text.count("\n", 0, line_start),
        stale=stale,
    )
