"""Documents to chunks: paragraph-aligned spans with exact [start, end) offsets, and sentence spans."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

Span = tuple[int, int]

_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
# A sentence ends at . ! ? (plus closing quotes/brackets) before white space.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_LIST_OR_HEADING = re.compile(r"\n[ \t]*(?:[-*+#>]|\d+[.)])\s")
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "u.s",
        "u.k",
        "fig",
        "al",
        "inc",
        "ltd",
        "co",
        "corp",
        "gen",
        "gov",
        "sen",
        "rep",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "approx",
    ]
)


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: its offsets and its exact text."""

    start: int
    end: int
    text: str


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def paragraph_spans(text: str) -> list[Span]:
    """The non-blank blocks of text separated by blank lines."""
    spans: list[Span] = []
    pos = 0
    for match in _BLANK_LINE.finditer(text):
        spans.append(_trim(text, pos, match.start()))
        pos = match.end()
    spans.append(_trim(text, pos, len(text)))
    return [(s, e) for s, e in spans if e > s]


def _is_abbreviation(text: str, end: int) -> bool:
    word = re.search(r"(\S+)$", text[max(0, end - 12) : end])
    if not word:
        return False
    token = word.group(1).rstrip(".").lower().lstrip("(\"'“")
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha())


def sentence_spans(text: str, start: int, end: int) -> list[Span]:
    """Sentences within text[start:end], trimmed, as absolute offsets."""
    cuts: set[int] = set()
    piece = text[start:end]
    for match in _SENTENCE_END.finditer(piece):
        stop = match.end()
        following = piece[stop:].lstrip()
        if not following:
            continue
        if following[0].islower() or _is_abbreviation(piece, match.start() + 1):
            continue
        cuts.add(stop)
    cuts.update(m.start() for m in _LIST_OR_HEADING.finditer(piece))
    cuts.update(m.start() for m in _BLANK_LINE.finditer(piece))
    for match in re.finditer(r"\n", piece):
        # A line break ends a sentence only after an end mark or before a heading/list (hard-wrapped prose).
        if piece[: match.start()].rstrip().endswith((".", "!", "?", ":")):
            cuts.add(match.start())
    bounds = [0, *sorted(cuts), len(piece)]
    spans = [_trim(text, start + a, start + b) for a, b in itertools.pairwise(bounds)]
    return [(s, e) for s, e in spans if e > s]


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[Span]:
    """Pack a long paragraph's sentences into spans of at most max_chars (hard cuts for giant sentences)."""
    pieces: list[Span] = []
    for s, e in sentence_spans(text, start, end):
        while e - s > max_chars:
            cut = text.rfind(" ", s, s + max_chars)
            cut = cut if cut > s else s + max_chars
            pieces.append(_trim(text, s, cut))
            s = _trim(text, cut, e)[0]
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
    """Cut a document's text into chunks whose text is exactly text[start:end]."""
    return [Chunk(s, e, text[s:e]) for s, e in chunk_spans(text, max_chars, merge_below)]
