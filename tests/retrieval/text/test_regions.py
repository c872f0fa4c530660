"""Regions (pages, slides, sections by offset), markdown sections and the plain-text loader.

Bad input tried: a malformed regions value in a manifest record (read as no regions), an unknown region kind,
an offset before the first region, a span over a page break, a text file with NUL bytes or invalid UTF-8.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.ingest.loaders import ExtractError, extract, parser_version
from retrieval.store.records import DocRecord
from retrieval.text.regions import PAGE, SECTION, SLIDE, Place, Region, RegionMap


def test_a_span_is_placed_on_its_page_or_across_a_break() -> None:
    """Offsets map to the page they fall on; a span running into the next page says both."""
    pages = RegionMap([Region(0, PAGE, 1), Region(100, PAGE, 2), Region(250, PAGE, 3)])
    assert pages.place(120, 180, 4) == Place(2, "page 2")
    assert pages.place(90, 130, 3) == Place(1, "pages 1-2")
    assert pages.place(250, 251, 9) == Place(3, "page 3")
    slides = RegionMap([Region(0, SLIDE, 1), Region(40, SLIDE, 2)])
    assert slides.place(45, 60, 1) == Place(2, "slide 2")


def test_sections_have_no_page_and_text_before_the_first_is_a_line() -> None:
    """A section is named by its heading, never given a page; before any region the place is the line."""
    sections = RegionMap([Region(10, SECTION, heading="Scope"), Region(50, SECTION, heading="Limits")])
    assert sections.place(60, 70, 5) == Place(None, "section Limits")
    assert sections.place(0, 5, 1) == Place(None, "line 1")
    assert RegionMap().place(3, 9, 2) == Place(None, "line 2")


def test_regions_round_trip_through_a_record_and_damage_reads_as_none() -> None:
    """A record's regions come back equal; an unreadable value is no regions, not a failed question."""
    regions = RegionMap([Region(0, PAGE, 1), Region(7, SECTION, heading="Ümlaut «x»")])
    assert RegionMap.from_json(regions.to_json()) == regions
    with pytest.raises(ValueError):
        RegionMap.from_json('[[0, "chapter", 1, ""]]')
    record = DocRecord("a.pdf", "/a.pdf", "/", "0" * 64, "A", (), "now", "ab", "{not json", "p")
    assert not record.region_map()
    assert record.text_file(Path("/store")) == "/store/texts/ab.txt"


def test_markdown_headings_start_sections_and_text_is_the_file_itself() -> None:
    """A markdown file's text is its exact characters; each ATX heading starts a section."""
    data = b"Intro line.\n\n# Scope\n\nCovers leave.\n\n## Limits ##\n\nTen days.\n"
    extracted = extract(".md", data)
    assert extracted.text == data.decode()
    assert [(r.start, r.heading) for r in extracted.regions.regions] == [(13, "Scope"), (37, "Limits")]
    assert parser_version(".md") == parser_version(".txt") == ""


def test_plain_text_that_is_not_text_is_refused_with_a_reason() -> None:
    """NUL bytes and invalid UTF-8 are ExtractErrors that say why; UTF-16 with a BOM is read."""
    with pytest.raises(ExtractError, match="binary file"):
        extract(".txt", b"abc\x00def")
    with pytest.raises(ExtractError, match="not UTF-8 text"):
        extract(".txt", b"caf\xe9")
    assert extract(".txt", "héllo".encode("utf-16")).text == "héllo"
    with pytest.raises(ExtractError, match=r"unsupported file type \.xyz"):
        extract(".xyz", b"")
