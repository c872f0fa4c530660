"""Charts in decks and documents with no text: the real loaders, on files python-pptx and python-docx write.

Bad input tried: a deck whose chart XML part is cut in half, one whose chart part is well-formed XML of the
wrong kind, a deck with no slides, slides with nothing on them, a blank Word file, a scanned (image-only) PDF
and a page of navigation only: each empty one is NoText (a skip), never a failure.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from retrieval.errors import LoadError, NoTextError
from retrieval.ingest.extraction import Extractor
from retrieval.ingest.files import discover, load
from retrieval.ingest.loaders import (
    Extracted,
    ExtractError,
    NoText,
    parser_version,
    pdf,
    powerpoint,
    web_page,
    word,
)
from retrieval.text.regions import SLIDE, Place
from tests.helpers.document_files import docx_file, image_only_pdf, pptx_file

CHART_TITLE = "Quarterly revenue of the ferry line"
PIE_SERIES = "Share of crossings"


@pytest.fixture(scope="session", autouse=True)
def built_models() -> None:
    """Loaders need no models: this module skips conftest's ~20 s ONNX build (other modules still get it)."""


def chart_deck() -> bytes:
    """Three slides: a title, a column chart (title, axis title, two series, three quarters), a pie chart."""
    from pptx import Presentation
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.util import Inches

    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[5])
    first.shapes.title.text = "Ferry line review"
    columns = deck.slides.add_slide(deck.slide_layouts[5])
    columns.shapes.title.text = "Revenue"
    data = CategoryChartData()
    data.categories = ["Q1 2026", "Q2 2026", "Q3 2026"]
    data.add_series("Northern route", (1.5, 2.25, 3.0))
    data.add_series("Southern route", (0.5, 1.0, 1.75))
    frame = columns.shapes.add_chart(
        XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(2), Inches(8), Inches(4.5), data
    )
    frame.chart.has_title = True
    frame.chart.chart_title.text_frame.text = CHART_TITLE
    frame.chart.value_axis.has_title = True
    frame.chart.value_axis.axis_title.text_frame.text = "Million kronor"
    pie = deck.slides.add_slide(deck.slide_layouts[5])
    pie.shapes.title.text = "Crossings"
    shares = CategoryChartData()
    shares.categories = ["Helsingborg", "Grenaa"]
    shares.add_series(PIE_SERIES, (0.75, 0.25))
    pie.shapes.add_chart(XL_CHART_TYPE.PIE, Inches(1), Inches(2), Inches(6), Inches(4), shares)
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def with_part(deck: bytes, name: str, rewrite: bytes | None = None) -> bytes:
    """The deck's zip written anew with one part's bytes replaced (default: cut in half, so XML breaks)."""
    source = zipfile.ZipFile(io.BytesIO(deck))
    assert name in source.namelist()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as rewritten:
        for member in source.namelist():
            data = source.read(member)
            if member == name:
                data = data[: len(data) // 2] if rewrite is None else rewrite
            rewritten.writestr(member, data)
    return out.getvalue()


def slide_text(extracted: Extracted, number: int) -> str:
    """The text of one slide's region."""
    regions, text = extracted.regions.regions, extracted.text
    index = next(i for i, r in enumerate(regions) if (r.kind, r.number) == (SLIDE, number))
    end = regions[index + 1].start - 2 if index + 1 < len(regions) else len(text)
    return text[regions[index].start : end]


def test_chart_titles_series_and_categories_are_the_slides_text() -> None:
    """A chart's title, axis title, series names and category labels are read on the chart's slide."""
    extracted = powerpoint.extract(chart_deck())
    assert slide_text(extracted, 2) == (
        f"Revenue\n{CHART_TITLE}\nMillion kronor\nSeries: Northern route, Southern route\n"
        "Categories: Q1 2026, Q2 2026, Q3 2026"
    )
    # A pie chart has no axes and no title of its own here: its series and categories are still read.
    assert slide_text(extracted, 3) == f"Crossings\nSeries: {PIE_SERIES}\nCategories: Helsingborg, Grenaa"
    at = extracted.text.index(CHART_TITLE)
    assert extracted.regions.place(at, at + len(CHART_TITLE), 1) == Place(2, "slide 2")


def test_a_deck_read_before_charts_were_is_read_again() -> None:
    """The parser version names the chart rules, so stores re-read their decks at the next ingest."""
    assert parser_version(".pptx").endswith("; citebot pptx 2")


@pytest.mark.parametrize(
    "broken",
    [None, b'<?xml version="1.0" encoding="UTF-8"?><nonsense xmlns="urn:x"/>'],
    ids=["chart XML cut in half", "well-formed XML that is no chart"],
)
def test_a_broken_chart_is_passed_over_and_the_rest_read(broken: bytes | None) -> None:
    """Bad input: the first chart's XML part damaged; that chart is passed over, its slide's title and the
    other chart are read, and the deck is no failure."""
    extracted = powerpoint.extract(with_part(chart_deck(), "ppt/charts/chart1.xml", broken))
    assert slide_text(extracted, 2) == "Revenue"
    assert CHART_TITLE not in extracted.text and "Northern route" not in extracted.text
    assert slide_text(extracted, 3).endswith(f"Series: {PIE_SERIES}\nCategories: Helsingborg, Grenaa")


def test_a_deck_whose_only_text_is_a_broken_chart_is_a_skip() -> None:
    """Bad input: a deck of one untitled slide whose one chart is damaged holds no text: NoText, a skip."""
    from pptx import Presentation
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.util import Inches

    deck = Presentation()
    data = CategoryChartData()
    data.categories = ["A"]
    data.add_series("Only series", (1.0,))
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    slide.shapes.add_chart(XL_CHART_TYPE.BAR_CLUSTERED, Inches(1), Inches(1), Inches(4), Inches(3), data)
    out = io.BytesIO()
    deck.save(out)
    assert "Only series" in powerpoint.extract(out.getvalue()).text
    with pytest.raises(NoText, match=r"^no text \(no slide holds any\)$"):
        powerpoint.extract(with_part(out.getvalue(), "ppt/charts/chart1.xml"))


def test_documents_without_text_are_no_text_with_their_reason(tmp_path: Path) -> None:
    """Bad input: a deck with no slides, a deck of empty slides, a blank Word file, a scanned PDF and a page
    of navigation only: each is NoText (a kind of ExtractError) saying why."""
    empty_deck = pptx_file(tmp_path / "none.pptx", []).read_bytes()
    blank_slides = pptx_file(tmp_path / "blank.pptx", [("", "", ""), ("", "", "")]).read_bytes()
    cases = [
        (powerpoint, empty_deck, "no text (a deck with no slides)"),
        (powerpoint, blank_slides, "no text (no slide holds any)"),
        (word, docx_file(tmp_path / "blank.docx", []).read_bytes(), "no text (a blank document)"),
        (
            pdf,
            image_only_pdf(tmp_path / "scan.pdf").read_bytes(),
            "no text layer (a scanned PDF? OCR it first)",
        ),
        (web_page, b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "no text (the page holds"),
    ]
    for module, data, reason in cases:
        with pytest.raises(NoText) as raised:
            module.extract(data)
        assert isinstance(raised.value, ExtractError) and str(raised.value).startswith(reason)


def test_no_text_crosses_the_worker_as_a_skip_and_damage_as_a_failure(tmp_path: Path) -> None:
    """Through the parser's worker process: a blank Word file is NoTextError (a LoadError), a damaged deck a
    plain LoadError, and a deck with a broken chart a document."""
    folder = tmp_path / "drive"
    folder.mkdir()
    docx_file(folder / "blank.docx", [])
    (folder / "damaged.pptx").write_bytes(chart_deck()[:3000])
    (folder / "charts.pptx").write_bytes(with_part(chart_deck(), "ppt/charts/chart2.xml"))
    found = {file.source: file for file in discover([folder]).files}
    with Extractor() as extractor:
        with pytest.raises(NoTextError, match=r"^blank\.docx: no text \(a blank document\)$"):
            load(found["blank.docx"], extractor)
        with pytest.raises(LoadError, match=r"^damaged\.pptx: not a readable PowerPoint file") as failed:
            load(found["damaged.pptx"], extractor)
        assert not isinstance(failed.value, NoTextError)
        document = load(found["charts.pptx"], extractor)
    assert CHART_TITLE in document.text and PIE_SERIES not in document.text
    assert document.parser.endswith("citebot pptx 2")
