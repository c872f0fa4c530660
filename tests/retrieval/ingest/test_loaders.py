"""The PDF, Word, PowerPoint and web page loaders, on files made here by the libraries people make them with.

Bad input tried: for PDF, a password-protected file, one with only an owner password (readable), an image-only
page, a zero-page file, a valid file cut in half, random bytes and no bytes; for Word and PowerPoint, a file
with no text, a deck with no slides, a damaged zip, a zip of the other format, random bytes, and the OLE
container of a password-protected or an Office 97-2003 file; for web pages, navigation, scripts, a banner and
a footer that must not be read, a Latin-1 page that declares its charset, a page of chrome only, an element
nesting 3,000 deep and random bytes. Every text is checked against the rules the chunker relies on.
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from retrieval.ingest.files import discover
from retrieval.ingest.loaders import Extracted, ExtractError, NoText, pdf, powerpoint, web_page, word
from retrieval.text.regions import PAGE, SECTION, SLIDE
from tests.helpers.document_files import image_only_pdf_bytes, pdf_bytes

SHARED_DOCUMENTS = Path("/work/shared/data/documents")
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LEAVE = (
    "Every member of staff is entitled to paid leave in each year of service, and the leave year runs from "
    "the first of April to the last day of March of the following calendar year."
)


@pytest.fixture(scope="session", autouse=True)
def built_models() -> None:
    """Loaders need no models: this module skips conftest's ~20 s ONNX build (other modules still get it)."""


def assert_clean(extracted: Extracted) -> None:
    """The text rules: no control characters, one blank line between blocks, nothing to trim, regions."""
    text = extracted.text
    assert text and text == text.strip()
    assert "\r" not in text and not _FORBIDDEN.search(text)
    assert "\n\n\n" not in text
    # Lines end in no white space and are never blank; only <pre> lines keep their indentation.
    assert all(
        line == line.rstrip() and line.strip() for block in text.split("\n\n") for line in block.split("\n")
    )
    starts = [region.start for region in extracted.regions.regions]
    assert starts == sorted(set(starts)) and all(0 <= start < len(text) for start in starts)
    assert all(start == 0 or text[start - 2 : start] == "\n\n" for start in starts)


def handbook_pages(count: int) -> list[list[str]]:
    """Pages of prose, each opening with its own words, the first with a word hyphenated over a line break."""
    topics = ["Annual", "Sick", "Parental", "Unpaid", "Study", "Jury"][:count]
    pages = [
        [f"{topic} leave is on this page. {_LEAVE} {topic} leave requests go to the manager."]
        for topic in topics
    ]
    pages[0].append("Leave is approved in advance, for exam-\nple by email, and recorded the same day.")
    return pages


def test_pdf_pages_are_regions_with_running_header_and_footer_dropped() -> None:
    """Each page's text starts at its region; the header and the "Page n of N" footer on every page go."""
    data = pdf_bytes(handbook_pages(4), header="ACME staff handbook", footer=True, title="Handbook")
    extracted = pdf.extract(data)
    assert_clean(extracted)
    assert extracted.title == "Handbook"
    assert "ACME staff handbook" not in extracted.text and "of 4" not in extracted.text
    regions = extracted.regions.regions
    assert [(r.kind, r.number) for r in regions] == [(PAGE, n) for n in range(1, 5)]
    for topic, region in zip(["Annual", "Sick", "Parental", "Unpaid"], regions, strict=True):
        assert extracted.text[region.start :].startswith(f"{topic} leave is on this page. Every member")
    assert extracted.regions.place(regions[2].start + 5, regions[2].start + 9, 1).label == "page 3"
    assert pdf.extract(data) == extracted


def test_pdf_lines_join_into_paragraphs_and_hyphenated_words_are_mended() -> None:
    """A paragraph's wrapped lines are one line; "exam-/ple" is "example"; a short last line ends it."""
    extracted = pdf.extract(pdf_bytes(handbook_pages(1)))
    assert_clean(extracted)
    first, second = extracted.text.split("\n\n")
    assert first == f"Annual leave is on this page. {_LEAVE} Annual leave requests go to the manager."
    assert second == "Leave is approved in advance, for example by email, and recorded the same day."


def test_pdf_on_two_pages_keeps_lines_that_repeat() -> None:
    """Two pages alike prove no running header: with fewer than three pages every line stays."""
    extracted = pdf.extract(pdf_bytes(handbook_pages(2), header="Draft"))
    assert extracted.text.count("Draft") == 2


def invoice_pages(count: int) -> list[list[str]]:
    """Pages that differ only in their numbers: a run of invoices, as a billing system prints them."""
    return [
        [
            "INVOICE",
            "Acme Supplies Ltd, 1 High Street",
            f"Invoice number: {1000 + n}",
            f"Amount due: {37 * n}.00 EUR",
            "Thank you for your business.",
        ]
        for n in range(1, count + 1)
    ]


def test_pdf_run_of_invoices_or_tickets_keeps_every_line_of_every_page() -> None:
    """Bad input tried: 4 invoices whose pages differ only in their numbers (every edge line once looked like
    a running header: only the invoice numbers were left), and 4 two-line tickets (every line went, and the
    file was called a scan with "no text layer")."""
    extracted = pdf.extract(pdf_bytes(invoice_pages(4)))
    assert_clean(extracted)
    for number, region in enumerate(extracted.regions.regions, start=1):
        page = extracted.text[region.start :].split("\n\n")[0]
        assert page == (
            f"INVOICE Acme Supplies Ltd, 1 High Street Invoice number: {1000 + number} "
            f"Amount due: {37 * number}.00 EUR Thank you for your business."
        )
    assert len(extracted.regions.regions) == 4
    tickets = pdf.extract(pdf_bytes([[f"Ticket {n}", f"Row {n + 4} Seat {2 * n}"] for n in range(1, 5)]))
    assert tickets.text.split("\n\n") == [f"Ticket {n} Row {n + 4} Seat {2 * n}" for n in range(1, 5)]


def test_pdf_heading_on_each_page_stays_while_the_running_header_and_footer_go() -> None:
    """Bad input tried: a heading per page that differs only in its number ("Chapter 2") under a running
    header and a "Page n of 4" footer: the heading was taken for a running line (each page's first line
    vanished silently), and a body whose last wrapped line is the same on every page; now the header and
    footer go and every heading and body line stays. A heading the same on every page word for word is a
    running header, and goes."""
    pages = [
        [f"Chapter {n}", f"{topic} leave is on this page. {_LEAVE}"]
        for n, topic in enumerate(["Annual", "Sick", "Parental", "Unpaid"], start=1)
    ]
    extracted = pdf.extract(pdf_bytes(pages, header="ACME staff handbook", footer=True))
    assert_clean(extracted)
    assert "ACME staff handbook" not in extracted.text and "of 4" not in extracted.text
    # Each page whole: its body's last wrapped line, the same words on every page, is its own text too.
    assert extracted.text.split("\n\n") == [
        f"Chapter {n} {text}" for n, [_heading, text] in enumerate(pages, 1)
    ]
    same = [
        ["Weekly report", f"{topic} leave is on this page. {_LEAVE}"] for topic in ["Annual", "Sick", "Jury"]
    ]
    assert pdf.extract(pdf_bytes(same)).text.split("\n\n") == [text for _heading, text in same]


def test_pdf_with_a_user_password_is_refused_and_one_with_only_an_owner_password_read() -> None:
    """A password to open it is a reason; an owner password (permissions only) does not stop reading."""
    with pytest.raises(ExtractError, match=r"^encrypted \(password-protected\); citebot cannot read it$"):
        pdf.extract(pdf_bytes(handbook_pages(1), user_password="secret"))
    extracted = pdf.extract(pdf_bytes(handbook_pages(1), user_password=""))
    assert extracted.text.startswith("Annual leave is on this page.")


def test_pdf_without_text_or_pages_is_refused_with_the_reason() -> None:
    """An image-only page has no text layer; a PDF can have no pages at all: each is NoText (a skip)."""
    from pypdfium2 import PdfDocument

    with pytest.raises(NoText, match=r"^no text layer \(a scanned PDF\? OCR it first\)$"):
        pdf.extract(image_only_pdf_bytes(rows=10, grey=None))
    empty = PdfDocument.new()
    out = io.BytesIO()
    empty.save(out)
    empty.close()
    # Right after a password failure too: pdfium sets no error for no pages, its last one is still "password".
    with pytest.raises(ExtractError, match=r"^encrypted"):
        pdf.extract(pdf_bytes(handbook_pages(1), user_password="secret"))
    with pytest.raises(NoText, match=r"^no text \(a PDF with no pages\)$"):
        pdf.extract(out.getvalue())


def test_pdf_that_is_damaged_or_not_a_pdf_is_an_extract_error() -> None:
    """Half a PDF is read as far as pdfium can or refused; random bytes and no bytes are not a PDF."""
    data = pdf_bytes(handbook_pages(3))
    try:
        assert_clean(pdf.extract(data[: len(data) // 2]))
    except ExtractError as exc:
        assert str(exc).startswith("not a readable PDF (")
    for junk in (random.Random(1).randbytes(4096), b""):
        with pytest.raises(ExtractError, match=r"^not a readable PDF \("):
            pdf.extract(junk)


def docx_bytes(header: str = "", footer: str = "") -> bytes:
    """A Word file with a title, headings, paragraphs, a table with a merged cell, and a content control."""
    import docx
    from docx.oxml import parse_xml

    document = docx.Document()
    document.core_properties.title = "Leave policy"
    if header:
        document.sections[0].header.paragraphs[0].text = header
    if footer:
        document.sections[0].footer.paragraphs[0].text = footer
    document.add_heading("Leave policy", level=0)
    document.add_paragraph("Staff take leave\nwith notice.\tAlways.")
    document.add_heading("Annual leave", level=1)
    document.add_paragraph(_LEAVE)
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate([["Grade", "Days", "Notes"], ["A", "25", ""], ["B", "30", "after five years"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    table.cell(0, 1).merge(table.cell(0, 2))
    document.add_paragraph("")
    document.add_heading("Sick leave", level=2)
    # A content control holding a paragraph with a tracked insertion: python-docx's own text misses both.
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    paragraph = "<w:p><w:r><w:t>Report sickness </w:t></w:r><w:ins w:id='1' w:author='HR'><w:r><w:t>by nine."
    control = (
        f'<w:sdt xmlns:w="{w}"><w:sdtContent>{paragraph}</w:t></w:r></w:ins></w:p></w:sdtContent></w:sdt>'
    )
    document.element.body.insert(len(document.element.body) - 1, parse_xml(control))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_word_blocks_in_order_with_headings_as_sections_and_no_header_or_footer() -> None:
    """Paragraphs and tables in document order; a merged cell once; headings (and Title) start sections."""
    extracted = word.extract(docx_bytes(header="Confidential header", footer="Footer page"))
    assert_clean(extracted)
    assert extracted.text.split("\n\n") == [
        "Leave policy",
        "Staff take leave with notice. Always.",
        "Annual leave",
        _LEAVE,
        "Grade | Days Notes\nA | 25 |\nB | 30 | after five years",
        "Sick leave",
        "Report sickness by nine.",
    ]
    assert extracted.title == "Leave policy"
    regions = extracted.regions.regions
    assert [(r.kind, r.heading) for r in regions] == [
        (SECTION, "Leave policy"),
        (SECTION, "Annual leave"),
        (SECTION, "Sick leave"),
    ]
    for region in regions:
        assert extracted.text[region.start :].startswith(region.heading)
    assert word.extract(docx_bytes()) == word.extract(docx_bytes())


def test_word_without_text_or_not_a_word_file_is_refused_with_the_reason() -> None:
    """An empty document has no text (NoText); a damaged zip, a deck and random bytes are not Word files."""
    import docx

    out = io.BytesIO()
    docx.Document().save(out)
    with pytest.raises(NoText, match=r"^no text \(a blank document\)$"):
        word.extract(out.getvalue())
    damaged = out.getvalue()[:2000]
    for junk in (damaged, pptx_bytes([("Slide", "", "")]), random.Random(2).randbytes(3000), b""):
        with pytest.raises(ExtractError, match=r"^not a readable Word file \("):
            word.extract(junk)


def test_office_files_in_an_ole_container_say_why() -> None:
    """Office's password protection and the 97-2003 binary formats are both OLE files, told apart by name."""
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500)
    for module in (word, powerpoint):
        with pytest.raises(ExtractError, match=r"^encrypted \(password-protected\); citebot cannot read it$"):
            module.extract(ole + "EncryptedPackage".encode("utf-16-le"))
        with pytest.raises(ExtractError, match=r"Office 97-2003 binary file"):
            module.extract(ole)


def pptx_bytes(slides: list[tuple[str, str, str]], extras: bool = False) -> bytes:
    """A deck of (title, body, notes) slides; extras: a table, a group, boxes out of order on slide 2."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for title, body, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1] if title else deck.slide_layouts[6])
        if title:
            slide.shapes.title.text = title
            slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    if extras:
        shapes = deck.slides[1].shapes

        def box(shapes: Any, left: float, top: float, text: str) -> None:
            shapes.add_textbox(Inches(left), Inches(top), Inches(3), Inches(0.4)).text_frame.text = text

        box(shapes, 1, 7, "Lowest box.")
        box(shapes, 5, 6, "Right box\vwrapped.")
        box(shapes, 1, 6, "Left box.")
        table = shapes.add_table(2, 2, Inches(1), Inches(4), Inches(6), Inches(1)).table
        for r, row in enumerate([["Grade", "Days"], ["A", "25"]]):
            for c, value in enumerate(row):
                table.cell(r, c).text = value
        group = shapes.add_group_shape()
        box(group.shapes, 1, 5.5, "Grouped two.")
        box(group.shapes, 1, 5, "Grouped one.")
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def test_powerpoint_slides_in_reading_order_with_notes_and_slide_regions() -> None:
    """Shapes read top to bottom, then left to right, groups opened, tables as rows, then the notes."""
    slides = [
        ("Leave", "Ask early", ""),
        ("Annual leave", "25 days\nMore after five years", "Mention HR."),
        ("", "", ""),
    ]
    extracted = powerpoint.extract(pptx_bytes([*slides, ("Sick leave", "Report by nine", "")], extras=True))
    assert_clean(extracted)
    assert extracted.title == "Leave"
    assert extracted.text.split("\n\n") == [
        "Leave\nAsk early",
        "Annual leave\n25 days\nMore after five years\nGrade | Days\nA | 25\nGrouped one.\nGrouped two.\n"
        "Left box.\nRight box wrapped.\nLowest box.\nNotes: Mention HR.",
        "Sick leave\nReport by nine",
    ]
    regions = extracted.regions.regions
    assert [(r.kind, r.number) for r in regions] == [(SLIDE, 1), (SLIDE, 2), (SLIDE, 4)]
    assert extracted.text[regions[2].start :].startswith("Sick leave")


def test_powerpoint_without_slides_or_text_or_not_a_deck_is_refused() -> None:
    """No slides and slides with nothing on them are NoText; files that are no deck each have their reason."""
    with pytest.raises(NoText, match=r"^no text \(a deck with no slides\)$"):
        powerpoint.extract(pptx_bytes([]))
    with pytest.raises(NoText, match=r"^no text \(no slide holds any\)$"):
        powerpoint.extract(pptx_bytes([("", "", ""), ("", "", "")]))
    for junk in (docx_bytes(), pptx_bytes([("A", "B", "")])[:1500], random.Random(3).randbytes(2000)):
        with pytest.raises(ExtractError, match=r"^not a readable PowerPoint file \("):
            powerpoint.extract(junk)


_PAGE = """<!doctype html><html><head><meta charset="iso-8859-1"><title>Café leave policy</title>
<style>p { color: red }</style><script>var tracking = "script text";</script></head>
<body><header><a href="/">Site banner</a></header><nav><a href="/">Navigation menu</a></nav>
<div role="navigation">Role navigation</div><aside>Sidebar text</aside>
<form><input name="q"><button>Search form</button></form>
<main><article><header><h1>Leave at the café</h1><p>By Zoë</p></header>
<p>Staff <b>take</b>leave<br>with notice.</p><!-- a comment -->
Loose text in the article.
<h2>Annual <em>leave</em></h2><ul><li>Ask early.</li><li>Twenty-five days</li></ul>
<table><caption>Days by grade</caption><tr><th>Grade</th><th>Days</th><th>Notes</th></tr>
<tr><td>A</td><td>25</td><td></td></tr></table>
<pre>grade = "A"
    days = 25

end</pre><dl><dt>Carry-over</dt><dd>Five days.</dd></dl><noscript>Enable scripts</noscript>
</article></main><footer>Copyright footer</footer></body></html>"""


def test_web_page_main_text_without_chrome_and_with_its_title_first() -> None:
    """Only <main> is read, chrome dropped; Latin-1 is decoded by its meta charset; headings are sections."""
    extracted = web_page.extract(_PAGE.encode("latin-1"))
    assert_clean(extracted)
    assert extracted.title == "Café leave policy"
    assert extracted.text.split("\n\n") == [
        "Café leave policy",
        "Leave at the café",
        "By Zoë",
        "Staff takeleave with notice.",
        "Loose text in the article.",
        "Annual leave",
        "Ask early.",
        "Twenty-five days",
        "Days by grade\nGrade | Days | Notes\nA | 25 |",
        'grade = "A"\n    days = 25\nend',
        "Carry-over",
        "Five days.",
    ]
    regions = extracted.regions.regions
    assert [(r.kind, r.heading) for r in regions] == [
        (SECTION, "Leave at the café"),
        (SECTION, "Annual leave"),
    ]
    for region in regions:
        assert extracted.text[region.start :].startswith(region.heading)


def test_web_page_hidden_elements_are_not_read() -> None:
    """Bad input tried: text hidden by the hidden attribute, an inline display:none (upper case, spaced,
    !important) or visibility:hidden, and a <template>: none of it is read or chunked. hidden="until-found"
    (shown by find-in-page) and aria-hidden (hidden from screen readers only) are read."""
    from retrieval.ingest.chunking import chunk

    page = b"""<html><head><title>Office</title></head><body><main><h1>Opening hours</h1>
<p>The office opens at eight.</p><p hidden>Secret one: the alarm code.</p>
<div style="color: red; DISPLAY : none !important"><p>Secret two: the safe.</p></div>
<span style="visibility:hidden">Secret three: the vault.</span><template><p>Secret four.</p></template>
<p hidden="until-found">Closed on public holidays.</p><p aria-hidden="true">Doors lock at six.</p>
<p style="display:block">Visitors sign in.</p></main></body></html>"""
    extracted = web_page.extract(page)
    assert_clean(extracted)
    chunks = " ".join(piece.text for piece in chunk(extracted.text, max_chars=60))
    assert "Secret" not in chunks and "Secret" not in extracted.text
    for shown in (
        "The office opens at eight.",
        "Closed on public holidays.",
        "Doors lock at six.",
        "Visitors",
    ):
        assert shown in chunks


def test_web_page_title_is_not_repeated_and_a_fragment_is_read_whole() -> None:
    """A page opening with its title has it once; one <article> is the content, many are; bodiless is read."""
    page = b"<html><head><title>Leave</title></head><body><h1>Leave</h1><div>Ask <i>early</i>.</div></body>"
    extracted = web_page.extract(page)
    assert extracted.text == "Leave\n\nAsk early."
    assert extracted.regions.regions[0].start == 0
    assert web_page.extract(b"<p>One</p>Two<p>Three</p>").text == "One\n\nTwo\n\nThree"
    one = b"<body><p>Outside</p><article><p>Inside</p></article></body>"
    assert web_page.extract(one).text == "Inside"
    two = b"<body><p>Front page</p><article><p>First</p></article><article><p>Second</p></article></body>"
    assert web_page.extract(two).text == "Front page\n\nFirst\n\nSecond"


def test_web_page_of_chrome_only_has_no_text_and_junk_never_raises_anything_else() -> None:
    """Navigation and scripts alone are no text; deep nesting is read; random bytes are text or a reason."""
    with pytest.raises(NoText, match=r"^no text \(the page holds only navigation, scripts or nothing\)$"):
        web_page.extract(b"<html><title>T</title><nav>Menu</nav><script>x()</script></html>")
    deep = "<div>" * 3000 + "Deep text." + "</div>" * 3000
    assert web_page.extract(deep.encode()).text == "Deep text."
    with contextlib.suppress(ExtractError):
        assert_clean(web_page.extract(random.Random(4).randbytes(3000)))


def test_parser_versions_name_the_library_without_importing_it() -> None:
    """parser_version() is cheap: it reads package metadata, and no parser library is imported for it."""
    code = (
        "import sys\n"
        "from retrieval.ingest.loaders import pdf, powerpoint, web_page, word\n"
        "print([m.parser_version() for m in (pdf, word, powerpoint, web_page)])\n"
        "print(sorted(n for n in ('pypdfium2', 'docx', 'pptx', 'bs4', 'lxml') if n in sys.modules))\n"
    )
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    versions, imported = lines.splitlines()
    assert imported == "[]"
    for name in ("pypdfium2 ", "; citebot pdf ", "python-docx ", "python-pptx ", "beautifulsoup4 "):
        assert name in versions


_MODULES: dict[str, ModuleType] = {".pdf": pdf, ".docx": word, ".pptx": powerpoint}


def _shared_documents() -> list[Path]:
    if not SHARED_DOCUMENTS.is_dir():
        return []
    return sorted(p for p in SHARED_DOCUMENTS.rglob("*") if p.suffix.lower() in _MODULES and p.is_file())


@pytest.mark.skipif(not SHARED_DOCUMENTS.is_dir(), reason="no shared documents folder on this machine")
@pytest.mark.parametrize("path", _shared_documents(), ids=lambda p: p.name)
def test_shared_documents_extract_or_say_why(path: Path) -> None:
    """Every PDF, Word and PowerPoint file there gives clean text or an ExtractError, never another error."""
    try:
        extracted = _MODULES[path.suffix.lower()].extract(path.read_bytes())
    except ExtractError as exc:
        assert str(exc) and path.name not in str(exc)
        return
    assert_clean(extracted)


def test_office_owner_files_and_other_types_are_ignored_not_failed(tmp_path: Path) -> None:
    """Bad input: Word's `~$plan.docx` owner file (a few bytes, not a document) and a PNG are passed over."""
    (tmp_path / "plan.docx").write_bytes(docx_bytes())
    (tmp_path / "~$plan.docx").write_bytes(b"\x05alice" + b"\x00" * 40)
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    found = discover([tmp_path])
    assert [f.source for f in found.files] == ["plan.docx"]
    assert (found.ignored, found.failed, found.skipped) == ({"~$": 1, ".png": 1}, [], [])
