"""PDF: each page's text layer (pdfium), lines mended into paragraphs, running headers and footers dropped."""

from __future__ import annotations

import importlib.metadata
import re
import statistics
from collections import Counter
from typing import Any

from retrieval.ingest.loaders import Extracted, ExtractError, NoText
from retrieval.ingest.loaders.word import ENCRYPTED, one_line
from retrieval.text.regions import PAGE, Region, RegionMap

SUFFIXES = (".pdf",)
# Bump when the text for the same file changes: stores record it and re-read their PDFs.
_CITEBOT_VERSION = 1
UNSUPPORTED_ENCRYPTION = "encrypted with a scheme pdfium does not support; citebot cannot read it"
NO_TEXT_LAYER = "no text layer (a scanned PDF? OCR it first)"
NO_PAGES = "no text (a PDF with no pages)"

# pdfium writes a hyphen it takes for a word break at a line's end as \x02 (and may already have joined the
# two lines): the word is mended when a lower-case letter follows, else it was a real hyphen.
_PDFIUM_HYPHEN = re.compile(r"\x02(\n?)(?=(.?))")
_DIGITS = re.compile(r"\d+")
# Latin ligature glyphs that some fonts map to one code point: spelled out, so "ﬁnd" is found by "find".
_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
_SENTENCE_MARKS = ".!?:"
# A line ending with a sentence mark ends its paragraph when under this share of the page's median line
# length: full lines of proportional type vary by about 10-15% in characters, a paragraph's last rarely fills.
_SHORT_LINE = 0.8
# Running headers and footers are looked for only from this many pages with text on (two pages alike prove
# nothing), and a line is one when it starts or ends at least this share of those pages.
_RUNNING_MIN_PAGES = 3
_RUNNING_SHARE = 0.5
# Running heads seldom run over two lines (a title, then a page number or a date); past that a page's first
# lines are its own.
_RUNNING_DEPTH = 2


def parser_version() -> str:
    """pdfium's binding version and citebot's PDF text rules."""
    return f"pypdfium2 {importlib.metadata.version('pypdfium2')}; citebot pdf {_CITEBOT_VERSION}"


def _mend(match: re.Match[str]) -> str:
    """pdfium's \x02 hyphen: gone before a lower-case letter (with its line break), else a real hyphen."""
    return "" if match.group(2).islower() else "-" + match.group(1)


def _page_lines(raw: str) -> list[str]:
    """A page's lines, cleaned; "" where the page has an empty line."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").translate(_LIGATURES)
    return [one_line(line) for line in _PDFIUM_HYPHEN.sub(_mend, text).split("\n")]


def _running_key(line: str) -> str:
    """What a running header or footer line has in common from page to page."""
    # Without digits, "Page 3 of 9" and "Page 4 of 9" are one footer, and a book's "48 TITLE" and "TITLE 49"
    # (the number on the outer side of facing pages) one header.
    return " ".join(_DIGITS.sub(" ", line).split())


def _ends(lines: list[str]) -> set[int]:
    """Where a page's first and last lines with text are (one place for a one-line page)."""
    filled = [i for i, line in enumerate(lines) if line]
    return {filled[0], filled[-1]} if filled else set()


def _drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Pages without the running header and footer lines (two deep: a title line, then a page number)."""
    for _ in range(_RUNNING_DEPTH):
        pages = _drop_edge_lines(pages)
    return pages


def _drop_edge_lines(pages: list[list[str]]) -> list[list[str]]:
    """Pages without a first or last line that starts or ends at least half of them."""
    edges = [_ends(lines) for lines in pages]
    with_text = [(lines, ends) for lines, ends in zip(pages, edges, strict=True) if ends]
    if len(with_text) < _RUNNING_MIN_PAGES:
        return pages
    counts = Counter(key for lines, ends in with_text for key in {_running_key(lines[i]) for i in ends})
    running = {key for key, count in counts.items() if count >= _RUNNING_SHARE * len(with_text)}
    return [
        [line for i, line in enumerate(lines) if i not in ends or _running_key(line) not in running]
        for lines, ends in zip(pages, edges, strict=True)
    ]


def _join(left: str, right: str) -> str:
    """Two lines of one paragraph: "exam-" and "ple" are "example", "Anglo-" and "Saxon" "Anglo-Saxon"."""
    if len(left) >= 2 and left[-1] == "-" and left[-2].isalpha():
        return left[:-1] + right if right[0].islower() else left + right
    return f"{left} {right}"


def _paragraphs(lines: list[str]) -> list[str]:
    """A page's lines as paragraphs: broken at empty lines and at short lines that end a sentence."""
    lengths = [len(line) for line in lines if line]
    if not lengths:
        return []
    typical = statistics.median(lengths)
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if line:
            current = _join(current, line) if current else line
        if current and (not line or (line[-1] in _SENTENCE_MARKS and len(line) < _SHORT_LINE * typical)):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return paragraphs


def _open(pdfium: Any, data: bytes) -> Any:
    """The pdfium document of at least one page, or the reason it cannot be had."""
    import pypdfium2.raw as pdfium_c

    # Loaded through the raw API: PdfDocument(bytes) calls a document of no pages a failure and then reads
    # pdfium's last error, which is still that of the file before (pdfium sets none for no pages).
    try:
        raw = pdfium_c.FPDF_LoadMemDocument64(data, len(data), None)
    except Exception as exc:
        raise ExtractError(f"not a readable PDF ({type(exc).__name__}: {exc!s:.120})") from exc
    if not raw:
        code = pdfium_c.FPDF_GetLastError()
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            raise ExtractError(ENCRYPTED)
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise ExtractError(UNSUPPORTED_ENCRYPTION)
        reasons = {pdfium_c.FPDF_ERR_FORMAT: "not a PDF or damaged", pdfium_c.FPDF_ERR_FILE: "cannot be read"}
        raise ExtractError(f"not a readable PDF ({reasons.get(code, f'pdfium error {code}')})")
    if pdfium_c.FPDF_GetPageCount(raw) < 1:
        pdfium_c.FPDF_CloseDocument(raw)
        raise NoText(NO_PAGES)
    # The document reads from data, which the caller holds until it is closed.
    return pdfium.PdfDocument(raw)


def _page_text(document: Any, index: int) -> str:
    """One page's text layer as pdfium reads it."""
    page = document[index]
    try:
        textpage = page.get_textpage()
        try:
            return str(textpage.get_text_bounded())
        finally:
            textpage.close()
    finally:
        page.close()


def _read_pages(document: Any) -> tuple[list[str], str]:
    """Every page's raw text ("" for one that cannot be read) and the document's metadata title."""
    pages: list[str] = []
    failure = ""
    for index in range(len(document)):
        # A damaged page costs only itself; the file fails below when no page at all could be read.
        try:
            pages.append(_page_text(document, index))
        except Exception as exc:
            pages.append("")
            failure = failure or f"page {index + 1}: {exc!s:.120}"
    if failure and not any(pages):
        raise ExtractError(f"not a readable PDF ({failure})")
    return pages, one_line(str(document.get_metadata_value("Title")))


def extract(data: bytes) -> Extracted:
    """The text of every page with text, pages one blank line apart, each page a region."""
    try:
        import pypdfium2 as pdfium
    except ImportError as exc:
        raise ExtractError("needs pypdfium2 (pip install pypdfium2)") from exc
    document = _open(pdfium, data)
    try:
        raw_pages, title = _read_pages(document)
    except ExtractError:
        raise
    except Exception as exc:
        raise ExtractError(f"not a readable PDF ({type(exc).__name__}: {exc!s:.120})") from exc
    finally:
        document.close()
    pages = _drop_running_lines([_page_lines(raw) for raw in raw_pages])
    blocks: list[str] = []
    regions: list[Region] = []
    offset = 0
    for number, lines in enumerate(pages, start=1):
        page_text = "\n\n".join(_paragraphs(lines))
        if not page_text:
            continue
        regions.append(Region(offset, PAGE, number))
        blocks.append(page_text)
        offset += len(page_text) + 2
    if not blocks:
        raise NoText(NO_TEXT_LAYER)
    return Extracted("\n\n".join(blocks), RegionMap(regions), title)
