"""PowerPoint (.pptx): each slide's text in reading order, then its speaker notes; each slide a region."""

from __future__ import annotations

import importlib.metadata
import io
from collections.abc import Iterator
from typing import Any

from retrieval.ingest.loaders import Extracted, ExtractError
from retrieval.ingest.loaders.word import ole_problem, one_line
from retrieval.text.regions import SLIDE, Region, RegionMap

SUFFIXES = (".pptx",)
# Bump when the text for the same file changes: stores record it and re-read their decks.
_CITEBOT_VERSION = 1


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


def extract(data: bytes) -> Extracted:
    """Every slide with text, one blank line apart, each slide a region; the first slide's title."""
    problem = ole_problem(data, "PowerPoint")
    if problem:
        raise ExtractError(problem)
    try:
        from pptx import Presentation
    except ImportError as exc:
        raise ExtractError("needs python-pptx (pip install python-pptx)") from exc
    try:
        slides = list(Presentation(io.BytesIO(data)).slides)
        blocks = [_slide_block(slide) for slide in slides]
        title = _title(slides[0]) if slides else ""
    except Exception as exc:
        raise ExtractError(f"not a readable PowerPoint file ({type(exc).__name__}: {exc!s:.120})") from exc
    if not slides:
        raise ExtractError("has no slides")
    regions: list[Region] = []
    offset = 0
    for number, block in enumerate(blocks, start=1):
        if block:
            regions.append(Region(offset, SLIDE, number))
            offset += len(block) + 2
    if not regions:
        raise ExtractError("no text")
    return Extracted("\n\n".join(filter(None, blocks)), RegionMap(regions), title)
