"""PDF, Word, PowerPoint and HTML documents end to end: ingest, answers with page-level citations that verify
against their text_path, `cite`, incremental re-extraction, and bad files that never stop an ingest.

Bad input tried: an encrypted PDF, a PDF with no text layer, a truncated PDF, a zero-byte PDF, random bytes
named .docx, a deck with no slides (skipped, as the PDF with no text layer is), a file over the size limit, a
PDF whose parser runs past its time limit, a parser worker killed mid-file, and images and archives beside the
documents (ignored, counted by type).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

# Issue 15's format loaders (retrieval/ingest/loaders/pdf.py and the rest) are not registered yet: until
# they are, this module is skipped as a whole, and says so in the test summary.
from retrieval.ingest.loaders import SUPPORTED_SUFFIXES

if not {".pdf", ".docx", ".pptx", ".html"} <= SUPPORTED_SUFFIXES:
    pytest.skip("issue 15: the PDF, Word, PowerPoint and HTML loaders", allow_module_level=True)

from retrieval.engine import Engine
from retrieval.inference.embedder import Embedder
from retrieval.ingest.extraction import Extractor
from retrieval.ingest.loaders import ExtractError
from retrieval.types import Location
from tests.conftest import make_engine
from tests.helpers.console import run_script
from tests.helpers.document_files import (
    docx_file,
    heavy_pdf,
    html_file,
    image_only_pdf,
    pdf_file,
    pptx_file,
)

HANDBOOK = [
    [
        "The employee handbook describes how the company works day to day. It is revised every spring by "
        "the people team and applies to every office.",
    ],
    [
        "Annual leave: every employee receives twenty-six days of paid holiday a year, and unused days "
        "may be carried over until the end of March.",
    ],
    [
        "Travel: trains are booked through the travel desk, and flights under four hours are taken in "
        "economy class. Expense claims are settled within ten working days.",
    ],
]


def _verifies(location: Location, quote: str) -> bool:
    with open(location.text_path, encoding="utf-8", newline="") as handle:
        return handle.read()[location.start : location.end] == quote


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding one document of each format, with a fact only it states, and an image."""
    folder = tmp_path_factory.mktemp("documents")
    pdf_file(folder / "handbook.pdf", HANDBOOK, header="ACME Employee Handbook", footer=True)
    docx_file(
        folder / "spec.docx",
        [
            ("heading", "Scope"),
            ("paragraph", "The billing service issues invoices to customers on the first day of each month."),
            ("heading", "Limits"),
            ("table", [["Plan", "Monthly request limit"], ["Basic", "10,000"], ["Premium", "250,000"]]),
        ],
        header="CONFIDENTIAL DRAFT HEADER",
    )
    pptx_file(
        folder / "roadmap.pptx",
        [
            ("Roadmap 2027", "The mobile app launches in Norway in the second quarter.", ""),
            ("Hiring", "The platform team hires four engineers.", "Budget for hiring was approved in May."),
        ],
    )
    html_file(
        folder / "wiki.html",
        "Office guide",
        [("Parking", ["Visitors park in the north garage, level two, after signing in at reception."])],
    )
    (folder / "notes.txt").write_text("The fire drill takes place every second Tuesday.\n", encoding="utf-8")
    (folder / "diagram.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    return folder


@pytest.fixture(scope="module")
def indexed(documents: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Engine:
    """An engine on a store that has ingested the documents folder once."""
    engine = make_engine(tmp_path_factory.mktemp("store") / "store", embedder)
    summary = engine.ingest([documents])
    assert (summary.added, summary.failed, summary.ignored) == (5, 0, 1), summary.failures
    return engine


@pytest.mark.parametrize(
    ("question", "source", "page", "location", "words"),
    [
        ("How many days of paid holiday does an employee get?", "handbook.pdf", 2, "page 2", "twenty-six"),
        ("How fast are expense claims settled?", "handbook.pdf", 3, "page 3", "ten working days"),
        ("When are invoices issued to customers?", "spec.docx", None, "section Scope", "first day"),
        (
            "What is the monthly request limit of the Premium plan?",
            "spec.docx",
            None,
            "section Limits",
            "250,000",
        ),
        ("Where does the mobile app launch?", "roadmap.pptx", 1, "slide 1", "Norway"),
        ("When was the hiring budget approved?", "roadmap.pptx", 2, "slide 2", "May"),
        ("Where do visitors park?", "wiki.html", None, "section Parking", "north garage"),
        ("When is the fire drill?", "notes.txt", None, "line 1", "second Tuesday"),
    ],
)
def test_each_format_answers_with_a_citation_on_its_page(
    indexed: Engine, question: str, source: str, page: int | None, location: str, words: str
) -> None:
    """The first citation is the document's, on the page it names; its text_path holds the quote exactly."""
    answer = indexed.ask(question)
    assert not answer.abstained, answer
    first = answer.citations[0]
    assert (first.source, first.page, first.location) == (source, page, location)
    assert words in first.quote
    assert all(_verifies(c, c.quote) for c in answer.citations)
    if source == "notes.txt":
        assert first.text_path == first.path
    else:
        assert first.text_path != first.path and Path(first.text_path).parent.name == "texts"


def test_headers_footers_navigation_and_scripts_are_not_indexed(indexed: Engine) -> None:
    """A page's repeated header and footer, a Word header, a page's nav, script and footer: not content."""
    texts = "\n".join(c.text for c in indexed.corpus.chunks)
    for boilerplate in ("ACME Employee Handbook", "Page 2 of 3", "CONFIDENTIAL DRAFT", "navigation menu"):
        assert boilerplate not in texts
    assert "tracking" not in texts and "Copyright footer" not in texts
    assert "Premium | 250,000" in texts  # a table row as cells


def test_cite_shows_the_page_and_the_passage_in_context(indexed: Engine) -> None:
    """`cite` on a PDF citation names its page and quotes the kept text, around the quote."""
    first = indexed.ask("How many days of paid holiday does an employee get?").citations[0]
    cited = indexed.cite(first.id)
    assert (cited.quote, cited.page, cited.location, cited.stale) == (first.quote, 2, "page 2", False)
    assert _verifies(cited, cited.quote) and "carried over" in cited.quote + cited.after


def test_the_build_record_names_each_parser(indexed: Engine) -> None:
    """The store's build record carries the parsers' versions."""
    parsers = indexed.status()["build"]["parsers"]
    assert {"pdf", "docx", "pptx", "html"} <= set(parsers)
    assert parsers["pdf"].startswith("pypdfium2 ")


def test_unchanged_documents_cost_nothing_and_a_changed_one_is_replaced(
    documents: Path, tmp_path: Path, embedder: Embedder
) -> None:
    """Re-ingest reads nothing new; a changed PDF is re-extracted under the same ids where its text is the
    same, its old kept text is pruned, and until then its citations are stale but still verify."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("handbook.pdf", "roadmap.pptx"):
        (folder / name).write_bytes((documents / name).read_bytes())
    engine = make_engine(tmp_path / "store", embedder)
    engine.ingest([folder])
    before = engine.ask("How many days of paid holiday does an employee get?").citations[0]
    again = engine.ingest([folder])
    assert (again.unchanged, again.updated, again.added) == (2, 0, 0)
    changed = [*HANDBOOK[:2], ["Travel: every trip is booked through the new travel portal from now on."]]
    pdf_file(folder / "handbook.pdf", changed, header="ACME Employee Handbook", footer=True)
    stale = engine.ask("How many days of paid holiday does an employee get?").citations[0]
    assert stale.stale and _verifies(stale, stale.quote)
    summary = engine.ingest([folder])
    assert (summary.updated, summary.unchanged) == (1, 1)
    after = engine.ask("How many days of paid holiday does an employee get?").citations[0]
    assert (after.id, after.page, after.stale) == (before.id, 2, False)
    assert after.text_path != before.text_path and not Path(before.text_path).exists()
    assert "travel portal" in engine.ask("How are trips booked?").answer


def test_bad_files_are_named_and_the_rest_indexed(tmp_path: Path, embedder: Embedder) -> None:
    """Each damaged file is failed with its reason; one over the size limit and ones with no text are skipped
    with theirs; other types are ignored, counted by type; the good one is indexed."""
    folder = tmp_path / "drive"
    folder.mkdir()
    good = pdf_file(folder / "good.pdf", [HANDBOOK[1]])
    pdf_file(folder / "locked.pdf", [HANDBOOK[0]], user_password="s3cret")
    image_only_pdf(folder / "scan.pdf")
    (folder / "truncated.pdf").write_bytes(good.read_bytes()[:300])
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "random.docx").write_bytes(os.urandom(2048))
    pptx_file(folder / "blank.pptx", [])
    (folder / "huge.html").write_bytes(b"<p>" + b"x" * 3_000_000 + b"</p>")
    (folder / "photo.jpg").write_bytes(os.urandom(128))
    (folder / "archive.zip").write_bytes(os.urandom(128))
    engine = make_engine(tmp_path / "store", embedder, max_file_bytes=2_000_000)
    summary = engine.ingest([folder])
    reasons = dict(f.split(": ", 1) for f in summary.failures)
    skips = dict(s.split(": ", 1) for s in summary.skips)
    assert (summary.added, summary.failed, summary.skipped, summary.ignored) == (1, 4, 3, 2), reasons
    assert summary.ignored_types == {".jpg": 1, ".zip": 1}
    assert "encrypted" in reasons["locked.pdf"] and "password" in reasons["locked.pdf"]
    assert {"truncated.pdf", "empty.pdf", "random.docx", "locked.pdf"} == set(reasons)
    assert skips["scan.pdf"] == "no text layer (a scanned PDF? OCR it first)"
    assert skips["blank.pptx"] == "no text (a deck with no slides)"
    assert skips["huge.html"].startswith("larger than")
    assert "twenty-six" in engine.ask("How many days of paid holiday does an employee get?").answer


def test_a_parser_past_its_time_limit_fails_that_file_only(tmp_path: Path, embedder: Embedder) -> None:
    """A PDF that keeps pdfium busy for seconds is stopped at the limit; the next file is read as usual."""
    folder = tmp_path / "drive"
    folder.mkdir()
    heavy_pdf(folder / "a-heavy.pdf")
    pdf_file(folder / "b-good.pdf", [HANDBOOK[1]])
    engine = make_engine(tmp_path / "store", embedder, parse_time_limit_s=1.0)
    began = time.monotonic()
    summary = engine.ingest([folder])
    assert summary.failures == ["a-heavy.pdf: reading it took longer than the 1 s limit"]
    assert summary.added == 1 and time.monotonic() - began < 60


def test_a_worker_that_dies_mid_file_is_a_named_failure(tmp_path: Path) -> None:
    """The parser process killed while reading: that file fails with a reason, the next is read anew."""
    heavy = heavy_pdf(tmp_path / "heavy.pdf").read_bytes()
    good = pdf_file(tmp_path / "good.pdf", [HANDBOOK[1]]).read_bytes()
    with Extractor(time_limit_s=120) as extractor:
        extractor.extract(".pdf", good)  # the worker is up
        process = extractor._process
        assert process is not None and process.pid
        threading.Timer(0.5, os.kill, (process.pid, signal.SIGKILL)).start()
        with pytest.raises(ExtractError, match="the parser crashed"):
            extractor.extract(".pdf", heavy)
        assert "twenty-six" in extractor.extract(".pdf", good).text


def test_cli_json_carries_text_path_page_and_location(documents: Path, tmp_path: Path) -> None:
    """`ask --json` citations carry text_path, page and location; a bad file exits 1 with a named reason."""
    drive = tmp_path / "drive"
    drive.mkdir()
    (drive / "handbook.pdf").write_bytes((documents / "handbook.pdf").read_bytes())
    (drive / "broken.pptx").write_bytes(b"PK\x03\x04 not really a deck")
    store = tmp_path / "store"
    ingested = run_script(tmp_path, "ingest", drive, "--store", store)
    assert ingested.returncode == 1 and "Traceback" not in ingested.stderr
    assert "failed: broken.pptx: " in ingested.stderr and "1 added" in ingested.stdout
    asked = run_script(tmp_path, "ask", "--json", "How fast are expense claims settled?", "--store", store)
    assert asked.returncode == 0, asked.stderr
    citation = json.loads(asked.stdout)["citations"][0]
    assert (citation["source"], citation["page"], citation["location"]) == ("handbook.pdf", 3, "page 3")
    with open(citation["text_path"], encoding="utf-8", newline="") as handle:
        assert handle.read()[citation["start"] : citation["end"]] == citation["quote"]
    cited = run_script(tmp_path, "cite", citation["id"], "--store", store)
    assert cited.returncode == 0 and cited.stdout.startswith("handbook.pdf, page 3  (")
