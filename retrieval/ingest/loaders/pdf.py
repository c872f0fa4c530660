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
# 2: a running line is the same line exactly, a page number alone or a book's head on facing pages (not any
# line alike once its numbers are masked); a run of forms keeps every line.
_CITEBOT_VERSION = 2
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
# Running lines are a sliver of a page's text (measured: 10% of tests' 4-page handbook with a header and a
# "Page n of 4" footer, 4.6% of ../shared/data's GeoBase data model); past a third of the text layer they are
# what the document says, kept.
_RUNNING_MAX_SHARE = 1 / 3
_NUMBER_FIRST = re.compile(r"\d+\s+(\D.*)")
_NUMBER_LAST = re.compile(r"(.*\D)\s+\d+")
# A line that is a page number alone: "12", "- 12 -", "Page 3 of 9", "p. 4", "3 / 9", "Seite 2 von 5".
_PAGE_NUMBER = re.compile(
    r"(?:page|pg\.?|p\.|seite|página|pagina|side|sida)?\s*[-–—(\[|]?\s*\d+\s*"
    r"(?:(?:of|/|von|de|sur|di|av|af)\s*\d+)?\s*[-–—)\]|]?",
    re.IGNORECASE,
)


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
    """A line with its numbers masked: what a form's line or a page-number footer has in common."""
    return " ".join(_DIGITS.sub(" ", line).split())


def _ends(lines: list[str]) -> set[int]:
    """Where a page's first and last lines with text are (one place for a one-line page)."""
    filled = [i for i, line in enumerate(lines) if line]
    return {filled[0], filled[-1]} if filled else set()


def _is_form_run(pages: list[list[str]]) -> bool:
    """Whether at least half the pages with text read the same once their numbers are masked: a run of
    invoices, tickets or forms, whose every line is the page's own (its numbers are what it says)."""
    keys = Counter("\n".join(_running_key(line) for line in lines if line) for lines in pages if any(lines))
    return bool(keys) and keys.most_common(1)[0][1] >= _RUNNING_SHARE * sum(keys.values())


def _drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Pages without their running header and footer lines (two deep: a title line, then a page number)."""
    if sum(1 for lines in pages if any(lines)) < _RUNNING_MIN_PAGES or _is_form_run(pages):
        return pages
    kept = pages
    for _ in range(_RUNNING_DEPTH):
        kept = _drop_edge_lines(kept)
    # Compared with the text layer: running lines are a sliver of each page. When they would take a large
    # share of it, they are what the document says (short pages alike in their edges), and all stay.
    total = sum(len(line) for lines in pages for line in lines)
    left = sum(len(line) for lines in kept for line in lines)
    return pages if total - left > _RUNNING_MAX_SHARE * total else kept


def _drop_edge_lines(pages: list[list[str]]) -> list[list[str]]:
    """Pages without a first or last line that is a running line of at least half of them: the same line
    exactly (a title, "Confidential"), a page number alone ("Page 3 of 9", "- 4 -") in the same words, or a
    book's running head, its title beside a page number that changes sides ("48 TITLE", "TITLE 49")."""
    edges = [_ends(lines) for lines in pages]
    with_text = [(lines, ends) for lines, ends in zip(pages, edges, strict=True) if ends]
    if len(with_text) < _RUNNING_MIN_PAGES:
        return pages
    need = _RUNNING_SHARE * len(with_text)
    edge_lines = [{lines[i] for i in ends} for lines, ends in with_text]
    same = Counter(line for page in edge_lines for line in page)
    # A heading that differs only in its number ("Step 2", "Invoice 1043") is the page's own: only a line that
    # is nothing but a page number is matched with its numbers masked, and a title with a number only when
    # the number is on the outer side of facing pages (never a heading's habit).
    numbered = Counter(
        key for page in edge_lines for key in {_running_key(x) for x in page if _page_number(x)}
    )
    heads = [{head for x in page if (head := _book_head(x))} for page in edge_lines]
    titles = Counter(title for page in heads for title, _side in page)
    sides: dict[str, set[str]] = {}
    for title, side in (head for page in heads for head in page):
        sides.setdefault(title, set()).add(side)

    def running(line: str) -> bool:
        if same[line] >= need or (_page_number(line) and numbered[_running_key(line)] >= need):
            return True
        head = _book_head(line)
        return head is not None and titles[head[0]] >= need and len(sides[head[0]]) == 2

    out = []
    for lines, ends in zip(pages, edges, strict=True):
        kept = [
            line for i, line in enumerate(lines) if i not in ends or not running(line) or _wrapped(lines, i)
        ]
        # A page the rule would leave empty keeps its lines: they are its own content (a divider page).
        out.append(kept if any(kept) or not ends else lines)
    return out


def _wrapped(lines: list[str], i: int) -> bool:
    """Whether the edge line at i is the last line of the paragraph above it, carrying on its sentence: the
    page's own text, even when the same on every page (a repeated sentence's last words, "calendar year.")."""
    # Only last lines: a page's first line may well carry on from the page before, beneath a running head.
    before = lines[i - 1] if i > 0 else ""
    return bool(before) and before[-1] not in _SENTENCE_MARKS and lines[i][0].islower()


def _book_head(line: str) -> tuple[str, str] | None:
    """A line that is a title beside a number: the title and the number's side ("start" or "end")."""
    if match := _NUMBER_FIRST.fullmatch(line):
        return match.group(1), "start"
    if match := _NUMBER_LAST.fullmatch(line):
        return match.group(1), "end"
    return None


def _page_number(line: str) -> bool:
    """Whether a line is a page number and nothing else."""
    return _PAGE_NUMBER.fullmatch(line) is not None


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
