"""Citations as data: the one Answer type every door renders, citation ids, and looking a citation up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from retrieval.errors import InputError, NotFoundError
from retrieval.loading import fingerprint
from retrieval.store import DocRecord

_ID = re.compile(r"^(?P<source>.+)#(?P<start>\d+)-(?P<end>\d+)$")


class Citation(BaseModel):
    """One cited span: the file's text[start:end] equals quote, always."""

    n: int
    id: str
    source: str
    path: str
    start: int
    end: int
    quote: str
    score: float
    line: int


class Passage(BaseModel):
    """One retrieved passage (at most the chunk size, 1,000 characters by default)."""

    id: str
    source: str
    path: str
    start: int
    end: int
    score: float
    line: int
    text: str


class Answer(BaseModel):
    """What the chain returns and every door renders."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    mode: str = "extractive"
    note: str | None = None
    retrieval_query: str | None = None


def citation_id(source: str, start: int, end: int) -> str:
    """The human-readable id of a span: `file.txt#120-250`."""
    return f"{source}#{start}-{end}"


def parse_citation_id(value: str) -> tuple[str, int, int]:
    """Split an id into source and offsets, or raise InputError."""
    match = _ID.match(value.strip())
    if not match:
        raise InputError(f"Not a citation id: {value!r} (expected FILE#START-END, e.g. notes.txt#120-250)")
    start, end = int(match["start"]), int(match["end"])
    if end <= start:
        raise InputError(f"Not a citation id: {value!r} (END must be greater than START)")
    return match["source"], start, end


@dataclass(frozen=True)
class CitedPassage:
    """A citation looked up in its file: the quote, its surrounding lines and where it is."""

    id: str
    source: str
    path: str
    start: int
    end: int
    quote: str
    before: str
    after: str
    first_line: int
    last_line: int
    context_first_line: int


def look_up(value: str, manifest: dict[str, DocRecord], context_lines: int = 2) -> CitedPassage:
    """Find a citation's passage; only files the index holds are ever read."""
    source, start, end = parse_citation_id(value)
    record = manifest.get(source)
    if record is None:
        raise NotFoundError(f"Unknown citation {value!r}: no indexed file is called {source!r}")
    try:
        data = Path(record.path).read_bytes()
    except OSError as exc:
        raise NotFoundError(
            f"{source} is indexed but cannot be read now ({exc.strerror}); re-run ingest"
        ) from exc
    if fingerprint(data) != record.sha256:
        raise NotFoundError(f"{source} has changed since it was indexed; run `citebot ingest` and ask again")
    text = data.decode("utf-8")
    if end > len(text):
        raise NotFoundError(f"Unknown citation {value!r}: {source} has only {len(text)} characters")
    line_start = text.rfind("\n", 0, start) + 1
    for _ in range(context_lines):
        if line_start == 0:
            break
        line_start = text.rfind("\n", 0, line_start - 1) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end == -1 else line_end
    for _ in range(context_lines):
        if line_end >= len(text):
            break
        nxt = text.find("\n", line_end + 1)
        line_end = len(text) if nxt == -1 else nxt
    first_line = text.count("\n", 0, start) + 1
    return CitedPassage(
        id=citation_id(source, start, end),
        source=source,
        path=record.path,
        start=start,
        end=end,
        quote=text[start:end],
        before=text[line_start:start],
        after=text[end:line_end],
        first_line=first_line,
        last_line=first_line + text.count("\n", start, end),
        context_first_line=text.count("\n", 0, line_start) + 1,
    )
