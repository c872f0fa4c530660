"""Markdown: the file's own characters, exactly, with each `#` heading starting a section."""

from __future__ import annotations

import re

from retrieval.ingest.loaders import Extracted
from retrieval.ingest.loaders.text import checked_text
from retrieval.text.regions import SECTION, Region, RegionMap

SUFFIXES = (".md", ".markdown")
# An ATX heading: up to three spaces, 1-6 #, a space, the heading (closing #s dropped). Fenced code is not
# told apart: a "# comment" line in a fence starts a section, which only relabels a citation's location.
# The pattern takes the whole rest of the line (linear however long); the closing #s are stripped after.
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(\S[^\n]*)", re.MULTILINE)


def parser_version() -> str:
    """Markdown is read as text; its headings need no parser."""
    return ""


def extract(data: bytes) -> Extracted:
    """The text itself, and its sections by heading."""
    text = checked_text(data)
    regions = [
        Region(m.start(), SECTION, heading=m.group(1).rstrip(" \t#\r")[:120] or "#")
        for m in _HEADING.finditer(text)
    ]
    return Extracted(text, RegionMap(regions))
