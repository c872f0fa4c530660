"""PowerPoint (.pptx): each slide a region: its text in reading order (charts' labels too), then its notes."""

from __future__ import annotations

import importlib.metadata
import io
from collections.abc import Iterator
from typing import Any

from retrieval.ingest.loaders import Extracted, ExtractError, NoText
from retrieval.ingest.loaders.office_zip import check_inflation
from retrieval.ingest.loaders.word import ole_problem, one_line
from retrieval.text.regions import SLIDE, Region, RegionMap

SUFFIXES = (".pptx",)
# Bump when the text for the same file changes: stores record it and re-read their decks.
# 2: charts' titles, axis titles, series names and category labels are read.
_CITEBOT_VERSION = 2


def parser_version() -> str:
    """python-pptx's version and citebot's slide text rules."""
    return f"python-pptx {importlib.metadata.version('python-pptx')}; citebot pptx {_CITEBOT_VERSION}"


def _reading_order(shapes: Any) -> list[Any]:
    """Shapes in the order a person reads a slide."""
    # Top to bottom, then left to right; a shape without a position (inherited from nowhere) goes first, and
    # shapes at the same place keep the order of the file.
    return sorted(shapes, key=lambda shape: (shape.top or 0, shape.left or 0))


def _table_lines(table: Any) -> Iterator[str]:
    """A table's rows as "cell | cell" lines, a merged cell once."""
    for row in table.rows:
        cells = [one_line(cell.text) for cell in row.cells if not cell.is_spanned]
        if any(cells):
            # Single spaces even around empty cells ("a | | c"), and none after an empty last cell.
            yield one_line(" | ".join(cells))


def _unique(lines: Iterator[str]) -> list[str]:
    """The non-empty lines, each once, in their first order."""
    return list(dict.fromkeys(filter(None, lines)))


def _chart_text(chart: Any) -> list[str]:
    """A chart's title and axis titles, then a "Series: " and a "Categories: " line (not its numbers)."""
    lines = [one_line(chart.chart_title.text_frame.text)] if chart.has_title else []
    for axis_of in ("category_axis", "value_axis"):
        try:
            axis = getattr(chart, axis_of)
        except ValueError:  # a pie or doughnut chart has no axes
            continue
        if axis.has_title:
            lines.append(one_line(axis.axis_title.text_frame.text))
    # Several plots (a bar and a line chart combined) share their categories: each label once.
    series = _unique(one_line(series.name) for plot in chart.plots for series in plot.series)
    labels = _unique(one_line(label) for plot in chart.plots for label in plot.categories)
    if series:
        lines.append("Series: " + ", ".join(series))
    if labels:
        lines.append("Categories: " + ", ".join(labels))
    return [line for line in lines if line]


def _chart_lines(shape: Any) -> list[str]:
    """The chart's lines, or none when its part cannot be read: one broken chart costs only itself."""
    try:
        return _chart_text(shape.chart)
    except Exception:  # damaged chart XML shows up as any of lxml's, python-pptx's or attribute errors
        return []


def _shape_lines(shapes: Any) -> Iterator[str]:
    """The lines of text in these shapes, group shapes opened, in reading order."""
    from pptx.shapes.group import GroupShape

    for shape in _reading_order(shapes):
        if isinstance(shape, GroupShape):
            yield from _shape_lines(shape.shapes)
        elif shape.has_text_frame:
            # A paragraph is a line (a bullet, a title); its soft line breaks ("\v") become spaces.
            yield from filter(None, (one_line(paragraph.text) for paragraph in shape.text_frame.paragraphs))
        elif shape.has_table:
            yield from _table_lines(shape.table)
        elif shape.has_chart:
            yield from _chart_lines(shape)


def _slide_block(slide: Any) -> str:
    """A slide's lines of text, then a "Notes: " line with its speaker notes."""
    lines = list(_shape_lines(slide.shapes))
    if slide.has_notes_slide:
        frame = slide.notes_slide.notes_text_frame
        notes = one_line(frame.text) if frame is not None else ""
        if notes:
            lines.append(f"Notes: {notes}")
    return "\n".join(lines)


def _title(slide: Any) -> str:
    """The text of the slide's title placeholder, "" without one."""
    shape = slide.shapes.title
    return one_line(shape.text_frame.text) if shape is not None and shape.has_text_frame else ""


def _lenient_charts() -> None:
    """Have python-pptx load a chart part whose XML does not parse as a plain part, not fail the deck."""
    from pptx.opc.constants import CONTENT_TYPE
    from pptx.opc.package import Part, PartFactory
    from pptx.parts.chart import ChartPart

    class LenientChartPart(ChartPart):
        """A chart part; one whose XML is broken loads as an opaque part, which has no chart to read."""

        @classmethod
        def load(cls, partname: Any, content_type: str, package: Any, blob: bytes) -> Any:
            try:
                return super().load(partname, content_type, package, blob)
            except Exception:  # lxml's XMLSyntaxError, or a root that is not a chart
                return Part.load(partname, content_type, package, blob)

    # PartFactory's registry is python-pptx's own hook for custom part classes; a well-formed chart loads
    # exactly as before, so registering it for the whole (worker) process changes nothing else.
    PartFactory.part_type_for[CONTENT_TYPE.DML_CHART] = LenientChartPart


def extract(data: bytes) -> Extracted:
    """Every slide with text, one blank line apart, each slide a region; the first slide's title."""
    problem = ole_problem(data, "PowerPoint")
    if problem:
        raise ExtractError(problem)
    check_inflation(data)  # before python-pptx inflates every member whole
    try:
        from pptx import Presentation
    except ImportError as exc:
        raise ExtractError("needs python-pptx (pip install python-pptx)") from exc
    _lenient_charts()
    try:
        slides = list(Presentation(io.BytesIO(data)).slides)
        blocks = [_slide_block(slide) for slide in slides]
        title = _title(slides[0]) if slides else ""
    except Exception as exc:
        raise ExtractError(f"not a readable PowerPoint file ({type(exc).__name__}: {exc!s:.120})") from exc
    if not slides:
        raise NoText("no text (a deck with no slides)")
    regions: list[Region] = []
    offset = 0
    for number, block in enumerate(blocks, start=1):
        if block:
            regions.append(Region(offset, SLIDE, number))
            offset += len(block) + 2
    if not regions:
        raise NoText("no text (no slide holds any)")
    return Extracted("\n\n".join(filter(None, blocks)), RegionMap(regions), title)
