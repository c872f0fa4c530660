"""Documents to chunks: paragraph-aligned spans with exact [start, end) offsets."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.text.sentences import Span, paragraph_spans, sentence_spans, trim

# Recorded in each store's build record: bump it whenever a change here or in text/sentences.py moves chunk or
# sentence boundaries,
# so a store chunked the old way is refused at ingest (and rebuilt) instead of mixing two ways of chunking.
CHUNKER_VERSION = 1


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: its offsets, its exact text and the 1-based line its start is on."""

    start: int
    end: int
    text: str
    line: int = 1


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[Span]:
    """Pack a long paragraph's sentences into spans of at most max_chars (hard cuts for giant sentences)."""
    pieces: list[Span] = []
    for s, e in sentence_spans(text, start, end):
        while e - s > max_chars:
            cut = text.rfind(" ", s, s + max_chars)
            cut = cut if cut > s else s + max_chars
            pieces.append(trim(text, s, cut))
            s = trim(text, cut, e)[0]
        pieces.append((s, e))
    spans: list[Span] = []
    for s, e in pieces:
        if spans and e - spans[-1][0] <= max_chars:
            spans[-1] = (spans[-1][0], e)
        else:
            spans.append((s, e))
    return spans


def chunk_spans(text: str, max_chars: int = 1000, merge_below: int = 120) -> list[Span]:
    """Paragraph-aligned spans of at most max_chars; short blocks (headings) join the next one."""
    spans: list[Span] = []
    for s, e in paragraph_spans(text):
        spans.extend(_split_long(text, s, e, max_chars) if e - s > max_chars else [(s, e)])
    merged: list[Span] = []
    for s, e in spans:
        previous = merged[-1] if merged else None
        if previous and previous[1] - previous[0] < merge_below and e - previous[0] <= max_chars:
            merged[-1] = (previous[0], e)
        else:
            merged.append((s, e))
    return merged


def chunk(text: str, max_chars: int = 1000, merge_below: int = 120) -> list[Chunk]:
    """Cut a document's text into chunks whose text is exactly text[start:end], each with its line."""
    chunks: list[Chunk] = []
    line, counted = 1, 0
    for s, e in chunk_spans(text, max_chars, merge_below):
        # Line breaks are counted from the previous chunk's start, not from the top: chunks come in order,
        # so the whole text is read once (counting from 0 for each chunk was quadratic: hours at 50 MB).
        line += text.count("\n", counted, s)
        counted = s
        chunks.append(Chunk(s, e, text[s:e], line))
    return chunks
