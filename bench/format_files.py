"""The benchmark's SQuAD articles and questions, and each article written as .txt, PDF, Word and HTML."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from bench.format_pdf_speed import pdf_page_count
from evaluation.datasets import article_file, sample, scorer_seen
from retrieval.answer.learned_scorer import MODELS, SPEC_FILE

FORMATS = ("txt", "pdf", "docx", "html")
# Boilerplate each rendering adds around the article: none of it is content, so none should be indexed.
RUNNING_HEAD = "Reading pack"
DOCX_FOOTER = "Internal circulation only"
HTML_NAV = "All reading packs"
HTML_FOOTER = "Maintained by the documentation team"
_PAGE_FOOTER = re.compile(r"\bPage \d+\b")


@dataclass(frozen=True)
class Question:
    """A SQuAD question and its gold answer texts (offsets differ between renderings, so texts are judged)."""

    id: str
    text: str
    answers: tuple[str, ...]
    article: str


@dataclass(frozen=True)
class Article:
    """One SQuAD article: its file stem, readable title and paragraphs."""

    stem: str
    title: str
    paragraphs: tuple[str, ...]
    # One of bench.run's test articles: the answer scorer was neither trained nor calibrated on it.
    test: bool


def load_articles(squad_file: Path, count: int | None) -> tuple[list[Article], list[Question]]:
    """The articles bench.run scores on (unseen by the scorer) first, then a fixed sample of the others."""
    seen = scorer_seen(MODELS / SPEC_FILE)
    articles: list[Article] = []
    questions: list[Question] = []
    for item in json.loads(squad_file.read_text(encoding="utf-8"))["data"]:
        stem = article_file(item["title"]).removesuffix(".txt")
        paragraphs = tuple(p["context"] for p in item["paragraphs"])
        articles.append(Article(stem, item["title"].replace("_", " "), paragraphs, stem + ".txt" not in seen))
        for paragraph in item["paragraphs"]:
            for qa in paragraph["qas"]:
                texts = tuple(a["text"] for a in qa["answers"])
                questions.append(Question(qa["id"], qa["question"], texts, stem))
    test = [a for a in articles if a.test]
    others = [a for a in articles if not a.test]
    chosen = (test + sample(others, len(others)))[: count or len(test)]
    stems = {a.stem for a in chosen}
    return chosen, [q for q in questions if q.article in stems]


def article_text(article: Article) -> str:
    """The article as plain text: its title, then its paragraphs, each after a blank line."""
    return "\n\n".join((article.title, *article.paragraphs))


def write_txt(article: Article, path: Path) -> None:
    """The plain-text rendering everything else is compared with."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(article_text(article))


@dataclass(frozen=True)
class PdfFont:
    """The face PDFs are set in, and the characters it cannot draw (replaced, and counted)."""

    family: str
    file: Path | None
    covered: frozenset[int] | None

    def printable(self, text: str) -> tuple[str, int]:
        """text with each character the font lacks replaced by '?', and how many were."""
        if self.covered is None:
            out = text.encode("latin-1", errors="replace").decode("latin-1")
        else:
            out = "".join(ch if ord(ch) in self.covered or ch in "\n\t" else "?" for ch in text)
        return out, sum(a != b for a, b in zip(text, out, strict=True))


def find_font() -> PdfFont:
    """DejaVu Sans where fontconfig knows it (fpdf2's core fonts are latin-1 only), else Helvetica."""
    try:
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", "DejaVu Sans:style=Book"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        found = ""
    path = Path(found) if found.endswith(".ttf") and Path(found).is_file() else None
    if path is None:
        return PdfFont("Helvetica", None, None)
    from fontTools.ttLib import TTFont

    return PdfFont("Body", path, frozenset(TTFont(str(path)).getBestCmap()))


def write_pdf(article: Article, path: Path, font: PdfFont) -> int:
    """A word processor's PDF of the article: paragraphs flowing over A4 pages under a running head and a
    "Page N" footer (fpdf2); returns the characters the font could not draw."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    head = f"{RUNNING_HEAD}: {article.title}"

    class ArticlePdf(FPDF):
        def header(self) -> None:
            self.set_font(font.family, size=8)
            self.set_xy(20, 10)
            self.cell(0, 5, head, align="C")
            self.set_xy(20, 24)

        def footer(self) -> None:
            self.set_font(font.family, size=8)
            self.set_y(-14)
            self.cell(0, 5, f"Page {self.page_no()}", align="C")

    pdf = ArticlePdf(format="A4")
    if font.file is not None:
        pdf.add_font(font.family, "", str(font.file))
    pdf.set_title(article.title)
    pdf.set_margins(20, 24, 20)
    pdf.set_auto_page_break(auto=True, margin=22)
    pdf.add_page()
    replaced = 0
    pdf.set_font(font.family, size=16)
    title, lost = font.printable(article.title)
    replaced += lost
    pdf.multi_cell(0, 8, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font(font.family, size=11)
    for paragraph in article.paragraphs:
        text, lost = font.printable(paragraph)
        replaced += lost
        pdf.multi_cell(0, 5.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(3)
    pdf.output(str(path))
    return replaced


def write_docx(article: Article, path: Path) -> None:
    """A Word file of the article (python-docx): its title as a heading, a header and a footer, paragraphs."""
    import docx

    document = docx.Document()
    document.core_properties.title = article.title
    section = document.sections[0]
    section.header.paragraphs[0].text = f"{RUNNING_HEAD}: {article.title}"
    section.footer.paragraphs[0].text = DOCX_FOOTER
    document.add_heading(article.title, level=1)
    for paragraph in article.paragraphs:
        document.add_paragraph(paragraph)
    document.save(str(path))


def write_html(article: Article, path: Path) -> None:
    """A wiki page of the article: a title, navigation, an h1, a paragraph each, a footer."""
    body = "\n".join(f"<p>{escape(p)}</p>" for p in article.paragraphs)
    page = (
        '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8">'
        f"<title>{escape(article.title)}</title></head>\n<body>\n"
        f'<nav><a href="/">Home</a> | <a href="/packs">{HTML_NAV}</a></nav>\n'
        f"<main><article>\n<h1>{escape(article.title)}</h1>\n{body}\n</article></main>\n"
        f"<footer>{HTML_FOOTER}.</footer>\n</body>\n</html>\n"
    )
    path.write_text(page, encoding="utf-8")


def render(articles: list[Article], work: Path) -> dict[str, Any]:
    """Each article written in every format, one folder per format; what the PDF font could not draw."""
    font = find_font()
    replaced = 0
    for fmt in FORMATS:
        (work / fmt).mkdir()
    for article in articles:
        write_txt(article, work / "txt" / f"{article.stem}.txt")
        replaced += write_pdf(article, work / "pdf" / f"{article.stem}.pdf", font)
        write_docx(article, work / "docx" / f"{article.stem}.docx")
        write_html(article, work / "html" / f"{article.stem}.html")
    return {
        "pdf_font": str(font.file) if font.file else "Helvetica (latin-1 only)",
        "pdf_characters_replaced": replaced,
        "pdf_pages": sum(pdf_page_count((work / "pdf" / f"{a.stem}.pdf").read_bytes()) for a in articles),
    }


def boilerplate_in(text: str, fmt: str) -> bool:
    """Whether a chunk holds text a rendering added around the article (its header, footer or navigation)."""
    if fmt == "pdf":
        return RUNNING_HEAD in text or bool(_PAGE_FOOTER.search(text))
    if fmt == "docx":
        return RUNNING_HEAD in text or DOCX_FOOTER in text
    if fmt == "html":
        return HTML_NAV in text or HTML_FOOTER in text
    return RUNNING_HEAD in text or bool(_PAGE_FOOTER.search(text))
