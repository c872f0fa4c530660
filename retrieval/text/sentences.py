"""Sentences and paragraphs: spans of a text with exact [start, end) offsets."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

Span = tuple[int, int]

_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
# A sentence ends at . ! ? (plus closing quotes/brackets) before white space and more text; group 1 is the
# next non-space character. A run of marks is tried only from its first mark and never given back, so a long
# run with no space after it ("....") is read once, not once per mark.
_SENTENCE_END = re.compile(r"(?<![.!?…])[.!?…]++[\"'”’)\]]*+(?=\s++(\S))")
_LIST_OR_HEADING = re.compile(r"\n[ \t]*(?:[-*+#>]|\d+[.)])\s")
# An end mark or colon, then white space holding a line break (group 1: that white space from the break).
_MARK_BEFORE_BREAK = re.compile(r"[.!?:][^\S\n]*+(\n\s*+)")
_NEWLINE = re.compile(r"\n")
_NON_SPACE = re.compile(r"\S")
_LAST_WORD = re.compile(r"(\S+)$")
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


def trim(text: str, start: int, end: int) -> Span:
    """The span without the white space at its ends."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def paragraph_spans(text: str) -> list[Span]:
    """The non-blank blocks of text separated by blank lines."""
    spans: list[Span] = []
    # From each block's first character to the next blank line, then past the white space after it: one
    # step per block, however many blank lines lie between (a file of newlines is one scan, not a loop).
    first = _NON_SPACE.search(text)
    while first:
        blank = _BLANK_LINE.search(text, first.start())
        spans.append(trim(text, first.start(), blank.start() if blank else len(text)))
        first = _NON_SPACE.search(text, blank.end()) if blank else None
    return spans


def _is_abbreviation(text: str, end: int) -> bool:
    word = _LAST_WORD.search(text[max(0, end - 12) : end])
    if not word:
        return False
    token = word.group(1).rstrip(".").lower().lstrip("(\"'“")
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha())


def _ends_sentence(piece: str, mark: re.Match[str]) -> bool:
    """Whether an end mark closes a sentence: no lower case letter follows, and it ends no abbreviation."""
    return not mark.group(1).islower() and not _is_abbreviation(piece, mark.start() + 1)


def _breaks_after_marks(piece: str) -> Iterator[int]:
    """Line breaks whose last non-space character before them is . ! ? or :."""
    # A line break ends a sentence only after an end mark or before a heading/list (hard-wrapped prose).
    for match in _MARK_BEFORE_BREAK.finditer(piece):
        yield from (newline.start() for newline in _NEWLINE.finditer(piece, match.start(1), match.end(1)))


def sentence_spans(text: str, start: int, end: int) -> list[Span]:
    """Sentences within text[start:end], trimmed, as absolute offsets."""
    piece = text[start:end]
    cuts = {m.end() for m in _SENTENCE_END.finditer(piece) if _ends_sentence(piece, m)}
    cuts.update(m.start() for m in _LIST_OR_HEADING.finditer(piece))
    cuts.update(m.start() for m in _BLANK_LINE.finditer(piece))
    cuts.update(_breaks_after_marks(piece))
    bounds = [0, *sorted(cuts), len(piece)]
    spans = [trim(text, start + a, start + b) for a, b in itertools.pairwise(bounds)]
    return [(s, e) for s, e in spans if e > s]
