"""`make bench-formats`: the same SQuAD articles as .txt, PDF, Word and HTML, asked the same questions.

Issue 15. Also times PDF extraction and ingests every file in the shared documents folder, naming what
fails and why.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from bench.systems import Citebot
from evaluation.datasets import article_file, sample, scorer_seen
from evaluation.machine import describe
from evaluation.metrics import contains_answer, first_sentence, percentile
from retrieval.answer.learned_scorer import MODELS, SPEC_FILE
from retrieval.engine import Engine, EngineConfig
from retrieval.ingest.loaders import SUPPORTED_SUFFIXES, ExtractError
from retrieval.store.chunk_store import StoreLocation
from retrieval.types import Answer, Citation

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
FORMATS = ("txt", "pdf", "docx", "html")
# Boilerplate each rendering adds around the article: none of it is content, so none should be indexed.
RUNNING_HEAD = "Reading pack"
DOCX_FOOTER = "Internal circulation only"
HTML_NAV = "All reading packs"
HTML_FOOTER = "Maintained by the documentation team"
_PAGE_FOOTER = re.compile(r"\bPage \d+\b")
_PAGE_RANGE = re.compile(r"^pages (\d+)-(\d+)$")
# The bar: each format's answer-sentence accuracy within this of the .txt's; PDF pages per second.
ACCURACY_BAR = 0.02
PDF_PAGES_PER_S_BAR = 20.0
EXAMPLES = 8


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


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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


def pdf_page_count(data: bytes) -> int:
    """Pages in a PDF, by pypdfium2 (0 when it cannot be opened)."""
    import pypdfium2

    try:
        return len(pypdfium2.PdfDocument(data))
    except pypdfium2.PdfiumError:
        return 0


def squash(text: str) -> str:
    """Text with whitespace, hyphens and soft hyphens gone, so a line or page break cannot matter."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\s\-\u00ad\u2010\u2011\ufffe\x02]+", "", text)


class PageText:
    """Each PDF page's text read independently of citebot's loader (pypdfium2's own text), squashed."""

    def __init__(self) -> None:
        self._pages: dict[str, list[str]] = {}

    def pages(self, pdf: str) -> list[str]:
        """The PDF's pages, squashed, read once."""
        if pdf not in self._pages:
            import pypdfium2

            document = pypdfium2.PdfDocument(pdf)
            self._pages[pdf] = [squash(page.get_textpage().get_text_range()) for page in document]
        return self._pages[pdf]

    def holds(self, citation: Citation) -> bool:
        """Whether the quote is on the page the citation names, or in order across the range it names.

        A quote over a page break is checked part by part (citebot's text puts a paragraph break between
        pages), since the PDF's own page text has the footer and the next page's header between the parts.
        """
        if citation.page is None:
            return False
        first = last = citation.page
        if spans := _PAGE_RANGE.match(citation.location):
            first, last = int(spans[1]), int(spans[2])
        pages = self.pages(citation.path)
        if first != citation.page or not 1 <= first <= last <= len(pages):
            return False
        parts = [squash(part) for part in citation.quote.split("\n\n") if squash(part)]
        if first == last:
            return "".join(parts) in pages[first - 1]
        at = first
        for part in parts:
            while at <= last and part not in pages[at - 1]:
                at += 1
            if at > last:
                return False
        return parts[0] in pages[first - 1] and parts[-1] in pages[last - 1]

    def found_on(self, citation: Citation) -> list[int]:
        """The pages that hold the whole quote (for a citation that names another)."""
        quote = squash(citation.quote)
        return [n for n, page in enumerate(self.pages(citation.path), start=1) if quote in page]


class Verifier:
    """Checks citations against their text_path, reading each text once."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}

    def verifies(self, citation: Citation) -> bool:
        """Whether text_path's text[start:end] is the quote, exactly."""
        if citation.text_path not in self._texts:
            with open(citation.text_path, encoding="utf-8", newline="") as handle:
                self._texts[citation.text_path] = handle.read()
        return self._texts[citation.text_path][citation.start : citation.end] == citation.quote


def _rate(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def boilerplate_in(text: str, fmt: str) -> bool:
    """Whether a chunk holds text a rendering added around the article (its header, footer or navigation)."""
    if fmt == "pdf":
        return RUNNING_HEAD in text or bool(_PAGE_FOOTER.search(text))
    if fmt == "docx":
        return RUNNING_HEAD in text or DOCX_FOOTER in text
    if fmt == "html":
        return HTML_NAV in text or HTML_FOOTER in text
    return RUNNING_HEAD in text or bool(_PAGE_FOOTER.search(text))


def ingest(folder: Path, store: Path) -> tuple[Engine, dict[str, Any]]:
    """A fresh store with the folder ingested the normal way."""
    # The hand-set answerer, as the formats figures in BENCHMARKS.md were measured.
    engine = Engine(EngineConfig(StoreLocation(store), device="cpu", scorer=False))
    summary = engine.ingest([folder])
    return engine, {
        "files": summary.added,
        "failed": summary.failures + summary.skips,
        "chunks": summary.chunks,
        "ingest_s": round(summary.seconds, 2),
    }


def ask_all(fmt: str, engine: Engine, questions: list[Question]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every question asked of one format's store: the figures, and each question's first quote."""
    system = Citebot(engine)
    verifier, pages = Verifier(), PageText()
    quote_right = sentence_right = hit1 = answered = cited = verified = on_page = paged = 0
    latencies: list[float] = []
    outcomes: dict[str, Any] = {}
    page_misses: list[dict[str, Any]] = []
    for q in questions:
        began = time.perf_counter()
        answer: Answer = system.chain.invoke(q.text)
        latencies.append((time.perf_counter() - began) * 1000)
        first = answer.citations[0] if answer.citations else None
        # The quote, not the offsets, is judged: offsets are into each format's own text.
        right = first is not None and contains_answer(first.quote, q.answers)
        quote_right += right
        sentence_right += not answer.abstained and contains_answer(first_sentence(answer.answer), q.answers)
        top = answer.passages[0] if answer.passages else None
        hit = top is not None and Path(top.source).stem == q.article and contains_answer(top.text, q.answers)
        hit1 += hit
        answered += not answer.abstained
        for citation in answer.citations:
            cited += 1
            verified += verifier.verifies(citation)
            if fmt == "pdf":
                paged += 1
                held = pages.holds(citation)
                on_page += held
                if not held and len(page_misses) < EXAMPLES:
                    page_misses.append(
                        {
                            "question": q.text,
                            "quote": citation.quote,
                            "page": citation.page,
                            "location": citation.location,
                            "found_on_pages": pages.found_on(citation),
                        }
                    )
        outcomes[q.id] = {
            "right": right,
            "quote": first.quote if first else "",
            "source": first.source if first else "",
            "location": first.location if first else "",
            "abstained": answer.abstained,
            "top_passage_holds_answer": hit,
        }
    n = len(questions)
    figures: dict[str, Any] = {
        "questions": n,
        "answer_sentence_accuracy": _rate(quote_right, n),
        "first_sentence_accuracy": _rate(sentence_right, n),
        "passage_hit@1": _rate(hit1, n),
        "answered_rate": _rate(answered, n),
        "citations": cited,
        "citations_verified": _rate(verified, cited),
        "answer_ms_p50": round(percentile(latencies, 50), 1),
    }
    if fmt == "pdf":
        figures["citations_on_named_page"] = _rate(on_page, paged)
        figures["examples_off_page"] = page_misses
    figures["boilerplate_chunks"] = sum(boilerplate_in(c.text, fmt) for c in engine.corpus.chunks)
    return figures, outcomes


def document_texts(engine: Engine) -> dict[str, str]:
    """Each indexed document's text as citebot holds it (its text_path), by file stem."""
    texts: dict[str, str] = {}
    for record in engine.store.documents().values():
        with open(record.text_file(engine.config.location.path), encoding="utf-8", newline="") as handle:
            texts[Path(record.source).stem] = handle.read()
    return texts


# Marks a paragraph break as a word of its own, so a quote cut by one can be told from one that is whole.
_BREAK = "\x00"


class BreakMarked:
    """A document's text with single spaces, paragraph breaks kept as marks; and without the marks."""

    def __init__(self, text: str) -> None:
        self.marked = " ".join(text.replace("\n\n", f" {_BREAK} ").split())
        self.plain = self.marked.replace(f" {_BREAK} ", " ")

    def cut(self, quote: str) -> bool | None:
        """Whether a paragraph break cuts the quote (True), it is whole (False) or it is not there (None)."""
        spaced = " ".join(quote.split())
        if spaced in self.marked:
            return False
        return True if spaced in self.plain else None


def paragraph_breaks(base: str, other: str) -> dict[str, int]:
    """Paragraph breaks of the .txt kept in another format's text, lost there, and added there."""
    words, theirs = re.findall(r"\n\n|\S+", base), re.findall(r"\n\n|\S+", other)
    counts = {"kept": 0, "lost": 0, "added": 0}
    matcher = difflib.SequenceMatcher(None, words, theirs, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            counts["kept"] += words[i1:i2].count("\n\n")
        else:
            counts["lost"] += words[i1:i2].count("\n\n")
            counts["added"] += theirs[j1:j2].count("\n\n")
    return counts


def _cut(
    txt_outcome: dict[str, Any], marked: dict[str, BreakMarked], own: dict[str, BreakMarked]
) -> bool | None:
    """Whether a paragraph break cuts the .txt's first quote in another format's text of its document (None
    where the quote is not there, or the .txt's own text has a break in it: a quote over two paragraphs)."""
    stem, quote = Path(txt_outcome["source"]).stem, txt_outcome["quote"]
    if not quote or stem not in marked or own[stem].cut(quote) is not False:
        return None
    return marked[stem].cut(quote)


def compare(
    questions: list[Question], outcomes: dict[str, dict[str, Any]], texts: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """Per format against .txt: questions only one got right, same first quote, txt's quotes that a
    paragraph break cuts in the format's text, and examples."""
    base = outcomes["txt"]
    own = {stem: BreakMarked(text) for stem, text in texts["txt"].items()}
    out: dict[str, Any] = {}
    for fmt in FORMATS[1:]:
        mine = outcomes[fmt]
        marked = {stem: BreakMarked(text) for stem, text in texts[fmt].items()}
        cuts = {q.id: _cut(base[q.id], marked, own) for q in questions}
        lost = [q for q in questions if base[q.id]["right"] and not mine[q.id]["right"]]
        gained = [q for q in questions if mine[q.id]["right"] and not base[q.id]["right"]]
        same = sum(squash(base[q.id]["quote"]) == squash(mine[q.id]["quote"]) for q in questions)
        breaks = {"kept": 0, "lost": 0, "added": 0}
        for stem, text in texts["txt"].items():
            for key, count in paragraph_breaks(text, texts[fmt].get(stem, "")).items():
                breaks[key] += count
        out[fmt] = {
            "lost_against_txt": len(lost),
            "gained_against_txt": len(gained),
            "same_quote_as_txt": _rate(same, len(questions)),
            "paragraph_breaks_of_txt": breaks,
            "txt_quotes_cut_by_a_break": sum(cut is True for cut in cuts.values()),
            "lost_whose_txt_quote_is_cut": sum(cuts[q.id] is True for q in lost),
            "lost_where_only_txt_top_passage_holds_answer": sum(
                base[q.id]["top_passage_holds_answer"] and not mine[q.id]["top_passage_holds_answer"]
                for q in lost
            ),
            "examples_lost": [
                {
                    "question": q.text,
                    "answers": list(q.answers),
                    "txt_quote": base[q.id]["quote"],
                    f"{fmt}_quote": mine[q.id]["quote"],
                    f"{fmt}_location": mine[q.id]["location"],
                    f"{fmt}_abstained": mine[q.id]["abstained"],
                    "txt_quote_cut_by_a_break": cuts[q.id],
                    "top_passage_holds_answer": {
                        "txt": base[q.id]["top_passage_holds_answer"],
                        fmt: mine[q.id]["top_passage_holds_answer"],
                    },
                }
                for q in lost[:EXAMPLES]
            ],
        }
    return out


def pdf_speed(paths: list[Path], rounds: int = 3) -> dict[str, Any]:
    """Pages per second of citebot's PDF loader, in this process, best of rounds over the whole set."""
    import retrieval.ingest.loaders.pdf as pdf_loader

    files = [(p, p.read_bytes()) for p in paths]
    readable: list[tuple[Path, bytes]] = []
    failed: dict[str, str] = {}
    for path, data in files:
        try:
            pdf_loader.extract(data)  # also the warm-up: imports, pdfium's first load
            readable.append((path, data))
        except ExtractError as exc:
            failed[path.name] = str(exc)
    pages = sum(pdf_page_count(data) for _, data in readable)
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        for _, data in readable:
            pdf_loader.extract(data)
        best = min(best, time.perf_counter() - began)
    return {
        "files": len(readable),
        "pages": pages,
        "seconds": round(best, 3),
        "pages_per_s": round(pages / best, 1) if best > 0 else 0.0,
        "failed": failed,
    }


def _reason(source: str, messages: list[str]) -> str | None:
    prefix = f"{source}: "
    return next((m[len(prefix) :] for m in messages if m.startswith(prefix)), None)


def probe_question(text: str) -> str:
    """A question made from a document's first words: something to ask so its citations can be checked."""
    words = text.split()[:12]
    return " ".join(words) + "?" if words else ""


def real_documents(folder: Path, store: Path) -> dict[str, Any]:
    """Every file in the shared documents folder ingested at once: indexed (chunks) or named with a reason."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    try:
        engine = Engine(EngineConfig(StoreLocation(store), device="cpu"))
        summary = engine.ingest([folder])
    except Exception:  # the figure this set exists for: nothing may take the ingest down
        return {"crashed": traceback.format_exc(), "files": [str(p.relative_to(folder)) for p in files]}
    records = engine.store.documents()
    system, verifier, pages = Citebot(engine), Verifier(), PageText()
    rows: list[dict[str, Any]] = []
    for path in files:
        source = path.relative_to(folder).as_posix()
        row: dict[str, Any] = {"file": source}
        if source in records:
            record = records[source]
            text_path = record.text_file(engine.config.location.path)
            with open(text_path, encoding="utf-8", newline="") as handle:
                text = handle.read()
            chunks = engine.store.get_chunks(list(record.chunk_ids))
            row |= {
                "status": "indexed",
                "chunks": len(chunks),
                "characters": len(text),
                "chunks_verified": all(text[c.start : c.end] == c.text for c in chunks),
            }
            ordered = sorted(chunks, key=lambda c: c.start)
            question = probe_question(ordered[0].text) if ordered else ""
            if question:
                answer = system.chain.invoke(question)
                row["probe_citations"] = len(answer.citations)
                row["probe_verified"] = all(verifier.verifies(c) for c in answer.citations)
                pdf_cited = [c for c in answer.citations if c.source.endswith(".pdf")]
                if pdf_cited:
                    row["probe_on_named_page"] = all(pages.holds(c) for c in pdf_cited)
        elif (why := _reason(source, summary.failures)) is not None:
            row |= {"status": "failed", "reason": why}
        elif (why := _reason(source, summary.skips)) is not None:
            row |= {"status": "skipped", "reason": why}
        elif path.suffix.lower() not in SUPPORTED_SUFFIXES:
            row |= {"status": "ignored", "reason": "not a type citebot reads"}
        else:
            row |= {"status": "unaccounted", "reason": "neither indexed nor named in the ingest summary"}
        rows.append(row)
    return {"crashed": None, "summary": summary.as_json(), "files": rows}


def run(squad_file: Path, documents: Path, count: int | None, cap: int | None, work: Path) -> dict[str, Any]:
    """Every measurement; returns the results."""
    if missing := {f".{fmt}" for fmt in FORMATS} - SUPPORTED_SUFFIXES:
        raise SystemExit(
            f"citebot reads no {', '.join(sorted(missing))} files here (retrieval/ingest/loaders/__init__.py)"
        )
    articles, questions = load_articles(squad_file, count)
    questions = sample(questions, cap)
    log(f"{len(articles)} articles, {len(questions)} questions: {', '.join(a.stem for a in articles)}")
    results: dict[str, Any] = {
        "articles": [{"file": a.stem, "scorer_test_article": a.test} for a in articles],
        "questions": len(questions),
        "rendering": render(articles, work),
        "formats": {},
    }
    outcomes: dict[str, dict[str, Any]] = {}
    texts: dict[str, dict[str, str]] = {}
    for fmt in FORMATS:
        log(f"{fmt}: ingesting")
        engine, ingested = ingest(work / fmt, work / f"store-{fmt}")
        log(f"{fmt}: {ingested['chunks']} chunks in {ingested['ingest_s']} s; asking")
        figures, outcomes[fmt] = ask_all(fmt, engine, questions)
        texts[fmt] = document_texts(engine)
        results["formats"][fmt] = ingested | figures
    results["against_txt"] = compare(questions, outcomes, texts)
    log("PDF extraction speed")
    rendered = sorted((work / "pdf").glob("*.pdf"))
    shared = sorted((documents / "pdf").glob("*.pdf"))
    results["pdf_speed"] = {"rendered": pdf_speed(rendered), "shared": pdf_speed(shared)}
    log(f"ingesting {documents}")
    results["documents"] = real_documents(documents, work / "store-documents")
    results["targets"] = targets(results)
    results["machine"] = describe()
    results["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
    return results


def targets(results: dict[str, Any]) -> dict[str, bool]:
    """Issue 15's four bars, met or not."""
    formats = results["formats"]
    base = formats["txt"]["answer_sentence_accuracy"]
    docs = results["documents"]
    rows = docs.get("files", []) if docs["crashed"] is None else []
    return {
        "accuracy_within_0.02_of_txt": all(
            abs(formats[f]["answer_sentence_accuracy"] - base) <= ACCURACY_BAR for f in FORMATS[1:]
        ),
        "every_citation_verifies_and_is_on_its_page": all(
            formats[f]["citations_verified"] == 1.0 for f in FORMATS
        )
        and formats["pdf"]["citations_on_named_page"] == 1.0,
        "pdf_pages_per_s_at_least_20": results["pdf_speed"]["rendered"]["pages_per_s"] >= PDF_PAGES_PER_S_BAR,
        "every_document_indexed_or_named": docs["crashed"] is None
        and all(r["status"] != "unaccounted" for r in rows),
    }


def markdown(results: dict[str, Any]) -> str:
    """The figures as Markdown tables."""
    formats = results["formats"]
    against = results["against_txt"]
    base = formats["txt"]["answer_sentence_accuracy"]

    def row(label: str, values: list[Any]) -> str:
        return f"| {label} | " + " | ".join(str(v) for v in values) + " |"

    def each(key: str) -> list[Any]:
        return [formats[f].get(key, "-") for f in FORMATS]

    lines = [
        "| measure | " + " | ".join(FORMATS) + " |",
        "|---" * (len(FORMATS) + 1) + "|",
        row("files / chunks", [f"{formats[f]['files']} / {formats[f]['chunks']}" for f in FORMATS]),
        row("answer-sentence accuracy (first quote holds the answer)", each("answer_sentence_accuracy")),
        row(
            "difference from txt",
            ["-"] + [f"{formats[f]['answer_sentence_accuracy'] - base:+.4f}" for f in FORMATS[1:]],
        ),
        row("first-sentence accuracy (bench.evaluate's reading)", each("first_sentence_accuracy")),
        row("passage hit@1 (top passage holds the answer)", each("passage_hit@1")),
        row("answered rate", each("answered_rate")),
        row(
            "right only in txt / only in this format",
            ["-"]
            + [f"{against[f]['lost_against_txt']} / {against[f]['gained_against_txt']}" for f in FORMATS[1:]],
        ),
        row(
            "of those only txt got right: its top passage held the answer, this one's not",
            ["-"] + [against[f]["lost_where_only_txt_top_passage_holds_answer"] for f in FORMATS[1:]],
        ),
        row(
            "same first quote as txt (whitespace aside)",
            ["-"] + [against[f]["same_quote_as_txt"] for f in FORMATS[1:]],
        ),
        row(
            "txt's paragraph breaks kept / lost / added",
            ["-"]
            + [
                "{kept} / {lost} / {added}".format(**against[f]["paragraph_breaks_of_txt"])
                for f in FORMATS[1:]
            ],
        ),
        row(
            "txt's first quotes cut by a paragraph break here (of them lost)",
            ["-"]
            + [
                f"{against[f]['txt_quotes_cut_by_a_break']} ({against[f]['lost_whose_txt_quote_is_cut']})"
                for f in FORMATS[1:]
            ],
        ),
        row("citations verified against text_path", each("citations_verified")),
        row("PDF citations on the page they name", each("citations_on_named_page")),
        row("chunks holding header, footer or navigation text", each("boilerplate_chunks")),
        row("ingest s", each("ingest_s")),
        row("answer p50 ms", each("answer_ms_p50")),
    ]
    speed = results["pdf_speed"]
    lines += [
        "",
        "| PDF extraction (ingest.loaders.pdf.extract, best of 3) | files | pages | seconds | pages/s |",
        "|---|---|---|---|---|",
    ]
    for name, label in (("rendered", "the rendered SQuAD PDFs"), ("shared", "shared/data/documents/pdf")):
        s = speed[name]
        lines.append(f"| {label} | {s['files']} | {s['pages']} | {s['seconds']} | {s['pages_per_s']} |")
    docs = results["documents"]
    lines += ["", "| document | status | chunks or reason |", "|---|---|---|"]
    if docs["crashed"]:
        lines.append(f"| (ingest) | crashed | {docs['crashed'].splitlines()[-1]} |")
    for r in docs.get("files", []) if not docs["crashed"] else []:
        detail = r.get("reason") or f"{r['chunks']} chunks"
        if r["status"] == "indexed" and not (r["chunks_verified"] and r.get("probe_verified", True)):
            detail += " (a chunk or citation does not verify)"
        lines.append(f"| {r['file']} | {r['status']} | {detail} |")
    lines += ["", "| target | met |", "|---|---|"]
    lines += [f"| {name} | {'yes' if met else 'no'} |" for name, met in results["targets"].items()]
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run, write the JSON, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--articles", type=int, default=None, help="articles to use (default: the 6 the scorer never saw)"
    )
    parser.add_argument("--questions", type=int, default=None, help="a fixed sample of this many questions")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "formats.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="citebot-formats-"))
    began = time.perf_counter()
    try:
        results = run(
            args.data / "squad" / "dev-v1.1.even-articles.json",
            args.data / "documents",
            args.articles,
            args.questions,
            work,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - began)
    results["command"] = "make bench-formats"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"Machine: {results['machine']}. {results['questions']} questions. Took {results['seconds']} s.\n")
    print(markdown(results))
    log(f"wrote {args.out}")
    if results["documents"]["crashed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
