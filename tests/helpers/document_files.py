"""PDF, Word, PowerPoint and HTML files written for tests, by the libraries people make them with."""

from __future__ import annotations

import io
from html import escape
from pathlib import Path


def pdf_bytes(
    pages: list[list[str]],
    header: str = "",
    footer: bool = False,
    title: str = "",
    user_password: str | None = None,
) -> bytes:
    """A PDF of one page per item of paragraphs, each wrapped as a word processor would (fpdf2, Helvetica),
    with an optional running header, a "Page n of N" footer, a title and a password to open it."""
    from fpdf import FPDF

    document = FPDF(format="A4")
    document.set_auto_page_break(auto=False)
    if title:
        document.set_title(title)
    if user_password is not None:
        document.set_encryption(owner_password="owner-secret", user_password=user_password)
    for number, paragraphs in enumerate(pages, start=1):
        document.add_page()
        if header:
            document.set_font("Helvetica", size=9)
            document.set_xy(20, 10)
            document.cell(text=header)
        document.set_font("Helvetica", size=11)
        document.set_xy(20, 30)
        for paragraph in paragraphs:
            document.multi_cell(w=170, h=6, text=paragraph)
            document.ln(4)
            document.set_x(20)
        if footer:
            document.set_font("Helvetica", size=9)
            document.set_xy(95, 280)
            document.cell(text=f"Page {number} of {len(pages)}")
    out = io.BytesIO()
    document.output(out)
    return out.getvalue()


def pdf_file(
    path: Path,
    pages: list[list[str]],
    header: str = "",
    footer: bool = False,
    user_password: str | None = None,
    title: str = "",
) -> Path:
    """pdf_bytes written to path."""
    path.write_bytes(pdf_bytes(pages, header=header, footer=footer, title=title, user_password=user_password))
    return path


def image_only_pdf_bytes(rows: int = 20, grey: int | None = 40) -> bytes:
    """A PDF whose page holds only a drawing (`rows` filled bars, black where grey is None): what a scan
    without a text layer looks like to a parser."""
    from fpdf import FPDF

    document = FPDF()
    document.add_page()
    if grey is not None:
        document.set_fill_color(grey, grey, grey)
    for row in range(rows):
        document.rect(20, 20 + row * 12, 150, 6, style="F")
    out = io.BytesIO()
    document.output(out)
    return out.getvalue()


def image_only_pdf(path: Path) -> Path:
    """image_only_pdf_bytes written to path."""
    path.write_bytes(image_only_pdf_bytes())
    return path


def heavy_pdf(path: Path, repeats: int = 250_000) -> Path:
    """A small-looking PDF whose one page draws a sentence `repeats` times: seconds of work for pdfium."""
    content = b"BT /F1 1 Tf 72 700 Td " + b"(The quick brown fox jumps.) Tj " * repeats + b"ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def docx_file(path: Path, blocks: list[tuple[str, object]], header: str = "") -> Path:
    """A Word file of ("heading", text), ("paragraph", text) and ("table", rows) blocks (python-docx)."""
    import docx

    document = docx.Document()
    if header:
        document.sections[0].header.paragraphs[0].text = header
    for kind, value in blocks:
        if kind == "heading":
            document.add_heading(str(value), level=1)
        elif kind == "paragraph":
            document.add_paragraph(str(value))
        elif kind == "table":
            rows = list(value)  # type: ignore[call-overload]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = str(cell)
        else:
            raise ValueError(kind)
    document.save(str(path))
    return path


def pptx_file(path: Path, slides: list[tuple[str, str, str]]) -> Path:
    """A deck of (title, body, speaker notes) slides (python-pptx); no slides for an empty list."""
    from pptx import Presentation

    deck = Presentation()
    for title, body, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.save(str(path))
    return path


def html_file(path: Path, title: str, sections: list[tuple[str, list[str]]], charset: str = "utf-8") -> Path:
    """A web page with navigation, a script and a footer around its sections (heading, paragraphs)."""
    body = "".join(
        f"<h2>{escape(heading)}</h2>" + "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
        for heading, paragraphs in sections
    )
    page = (
        f'<!doctype html><html><head><meta charset="{charset}"><title>{escape(title)}</title>'
        "<style>p { color: red }</style><script>var tracking = 'never indexed';</script></head>"
        '<body><nav><a href="/">Home</a> | <a href="/about">About the navigation menu</a></nav>'
        f"<main><h1>{escape(title)}</h1>{body}</main>"
        "<footer>Copyright footer text, never indexed.</footer></body></html>"
    )
    path.write_bytes(page.encode(charset))
    return path


def with_extra_member(office: bytes, name: str, size: int, random_bytes: bool = False) -> bytes:
    """A copy of an Office file (a zip) with one more deflated member of `size` zero bytes (or random ones):
    zeros make a zip bomb (DEFLATE packs them ~1,000 to 1), random bytes a member that does not shrink."""
    import random
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(office))
    out = io.BytesIO()
    rng = random.Random(7)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            archive.writestr(info, source.read(info))
        member = zipfile.ZipInfo(name)
        member.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(member, "w", force_zip64=True) as handle:
            for begin in range(0, size, 1 << 20):
                piece = min(1 << 20, size - begin)
                handle.write(rng.randbytes(piece) if random_bytes else bytes(piece))
    return out.getvalue()
