"""Where each part of an extracted text came from: pages, slides or sections, by character offset (a leaf)."""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass

# What a region is; a page and a slide carry a 1-based number, a section a heading.
PAGE = "page"
SLIDE = "slide"
SECTION = "section"
_KINDS = (PAGE, SLIDE, SECTION)


@dataclass(frozen=True)
class Region:
    """From offset start on (until the next region), the text is on this page or slide or in this section."""

    start: int
    kind: str
    number: int | None = None
    heading: str = ""

    def label(self) -> str:
        """How a person reads it: "page 3", "slide 2", "section Scope"."""
        if self.kind == SECTION:
            return f"section {self.heading}" if self.heading else ""
        return f"{self.kind} {self.number}"


@dataclass(frozen=True)
class Place:
    """A span's page (a PDF page or a PPTX slide, 1-based) and its readable location."""

    page: int | None
    label: str


class RegionMap:
    """A document's regions in offset order; empty for plain text, whose places are lines."""

    def __init__(self, regions: list[Region] | tuple[Region, ...] = ()) -> None:
        self.regions = tuple(sorted(regions, key=lambda r: r.start))
        self._starts = [r.start for r in self.regions]

    def __bool__(self) -> bool:
        return bool(self.regions)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RegionMap) and other.regions == self.regions

    def __hash__(self) -> int:
        return hash(self.regions)

    def __repr__(self) -> str:
        return f"RegionMap({len(self.regions)} regions)"

    def at(self, offset: int) -> Region | None:
        """The region holding offset, if any."""
        i = bisect.bisect_right(self._starts, offset) - 1
        return self.regions[i] if i >= 0 else None

    def place(self, start: int, end: int, line: int) -> Place:
        """Where [start, end) lies: its page and a label ("pages 3-4" when it runs over a page break)."""
        first = self.at(start)
        if first is None:
            return Place(None, f"line {line}")
        last = self.at(max(start, end - 1)) or first
        label = first.label() or f"line {line}"
        if first.kind != SECTION and last.kind == first.kind and last.number != first.number:
            label = f"{first.kind}s {first.number}-{last.number}"
        return Place(first.number if first.kind != SECTION else None, label)

    def to_json(self) -> str:
        """Compact JSON for a manifest record: [[start, kind, number, heading], ...]."""
        return json.dumps([[r.start, r.kind, r.number, r.heading] for r in self.regions], ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> RegionMap:
        """Inverse of to_json ("" reads as no regions); a malformed value raises ValueError."""
        if not text:
            return cls()
        rows = json.loads(text)
        if not isinstance(rows, list):
            raise ValueError("regions: not a list")
        regions = []
        for row in rows:
            start, kind, number, heading = row
            if kind not in _KINDS:
                raise ValueError(f"regions: unknown kind {kind!r}")
            regions.append(
                Region(int(start), str(kind), None if number is None else int(number), str(heading))
            )
        return cls(regions)
