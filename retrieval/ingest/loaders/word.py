"""Word (.docx): the body's paragraphs and tables in document order, each heading starting a section.

Also the helpers the other loaders share: visible and one_line (text cleaning), ole_problem (Office's OLE
containers).
"""

from __future__ import annotations

import functools
import importlib.metadata
import io
import re
from collections.abc import Iterator
from typing import Any

from retrieval.ingest.loaders import Extracted, ExtractError, NoText
from retrieval.ingest.loaders.office_zip import check_inflation
from retrieval.text.regions import SECTION, Region, RegionMap

SUFFIXES = (".docx",)
# Bump when the text for the same file changes: stores record it and re-read their Word files.
_CITEBOT_VERSION = 1
ENCRYPTED = "encrypted (password-protected); citebot cannot read it"
# A heading names a citation's section ("section Annual leave"): past 120 characters it is a paragraph that
# wears a heading style, and its start is name enough.
_HEADING_CHARS = 120
# An OLE compound file: what Office writes for a password-protected .docx/.pptx (the zip, encrypted, as its
# "EncryptedPackage" stream) and for the binary .doc/.ppt of Office 97-2003.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")
# Control characters (white space aside), soft hyphens, zero-width characters and non-characters.
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u00ad\u200b\u2060\ufeff\ufffe\uffff]")
_SPACE = re.compile(r"\s+")
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# Wrappers whose children are body content: content controls and custom XML (templates, forms).
_WRAPPERS = {f"{_W}sdt", f"{_W}sdtContent", f"{_W}customXml"}
# A paragraph's visible text: text, tabs, breaks, non-breaking hyphens; also in tracked insertions, fields'
# results, content controls and smart tags, which python-docx's Paragraph.text leaves out. Text boxes are
# drawings, not the paragraph (and mc:Fallback repeats an mc:Choice).
_TEXT_XPATH = (
    ".//*[self::w:t or self::w:tab or self::w:br or self::w:cr or self::w:noBreakHyphen]"
    "[not(ancestor::w:txbxContent) and not(ancestor::mc:Fallback)]"
)
_NAMESPACES = {
    "w": _W.strip("{}"),
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
}
_TEXT_OF = {f"{_W}tab": "\t", f"{_W}br": "\n", f"{_W}cr": "\n", f"{_W}noBreakHyphen": "-"}


def parser_version() -> str:
    """python-docx's version and citebot's Word text rules."""
    return f"python-docx {importlib.metadata.version('python-docx')}; citebot docx {_CITEBOT_VERSION}"


def visible(text: str) -> str:
    """Text without control characters (white space aside), soft hyphens and zero-width characters."""
    return _INVISIBLE.sub("", text)


def one_line(text: str) -> str:
    """Text with invisible characters dropped and white space runs as single spaces."""
    return _SPACE.sub(" ", visible(text)).strip()


def ole_problem(data: bytes, kind: str) -> str | None:
    """Why an Office Open XML file that is an OLE compound file cannot be read; None when it is not one."""
    if not data.startswith(_OLE_MAGIC):
        return None
    if _OLE_ENCRYPTED in data:
        return ENCRYPTED
    return f"not a readable {kind} file (an Office 97-2003 binary file; save it in the current format)"


@functools.cache
def _text_nodes() -> Any:
    """The compiled _TEXT_XPATH (lxml comes with python-docx, so only once that is imported)."""
    from lxml import etree

    return etree.XPath(_TEXT_XPATH, namespaces=_NAMESPACES)


def _paragraph_text(p: Any) -> str:
    """A <w:p>'s visible text on one line."""
    parts = [_TEXT_OF.get(node.tag, node.text or "") for node in _text_nodes()(p)]
    return one_line("".join(parts))


def _table_rows(table: Any) -> list[str]:
    """A table's rows as "cell | cell" lines; a merged cell once, empty rows left out."""
    lines = []
    for row in table.rows:
        cells: list[str] = []
        seen: list[Any] = []
        for cell in row.cells:
            # python-docx repeats a merged cell once per grid column it spans.
            if any(cell._tc is tc for tc in seen):
                continue
            seen.append(cell._tc)
            cells.append(one_line(" ".join(_paragraph_text(p) for p in cell._tc.xpath(".//w:p"))))
        if any(cells):
            # Single spaces even around empty cells ("a | | c"), and none after an empty last cell.
            lines.append(one_line(" | ".join(cells)))
    return lines


def _body_elements(parent: Any) -> Iterator[Any]:
    """The body's paragraphs and tables in document order, content controls opened."""
    for child in parent.iterchildren():
        if child.tag in _WRAPPERS:
            yield from _body_elements(child)
        elif child.tag in (f"{_W}p", f"{_W}tbl"):
            yield child


def _style_name(paragraph: Any) -> str:
    """The paragraph's style name, "" when it has none that can be read."""
    # A style the file names but does not define reads as the default; an unreadable one as none.
    try:
        style = paragraph.style
    except Exception:
        return ""
    return str(style.name or "") if style is not None else ""


def _blocks(document: Any) -> Iterator[tuple[str, bool, str]]:
    """Each non-empty block: its text, whether it is a heading, and its style name."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for element in _body_elements(document.element.body):
        if element.tag == f"{_W}tbl":
            rows = _table_rows(Table(element, document))
            if rows:
                yield "\n".join(rows), False, ""
            continue
        text = _paragraph_text(element)
        if text:
            style = _style_name(Paragraph(element, document))
            yield text, style.startswith("Heading") or style == "Title", style


def extract(data: bytes) -> Extracted:
    """The body text, blocks one blank line apart, with a section at each heading."""
    problem = ole_problem(data, "Word")
    if problem:
        raise ExtractError(problem)
    check_inflation(data)  # before python-docx inflates every member whole
    try:
        import docx
    except ImportError as exc:
        raise ExtractError("needs python-docx (pip install python-docx)") from exc
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(_blocks(document))
        title = one_line(document.core_properties.title or "")
    except Exception as exc:
        raise ExtractError(f"not a readable Word file ({type(exc).__name__}: {exc!s:.120})") from exc
    if not blocks:
        raise NoText("no text (a blank document)")
    regions: list[Region] = []
    offset = 0
    for text, heading, _style in blocks:
        if heading:
            regions.append(Region(offset, SECTION, heading=text[:_HEADING_CHARS]))
        offset += len(text) + 2
    # Without a title in the file's properties, its first paragraph in the Title style is its title.
    title = title or next((text for text, _heading, style in blocks if style == "Title"), "")
    return Extracted("\n\n".join(text for text, _heading, _style in blocks), RegionMap(regions), title)
