"""The types every module shares: the one Answer every door renders, its citations and passages (a leaf).

Imports nothing of the engine, so a door, a test or a new module can use them without pulling it in.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field


class Location(BaseModel):
    """Where a span of a document lies: the file it is cited by, the text it is quoted from, its page.

    `text_path` is a UTF-8 file whose text at [start:end] is the span: the file itself for .txt and .md, the
    extracted text the store keeps for a PDF, Word file, deck or web page.
    """

    source: str
    path: str
    text_path: str
    start: int
    end: int
    # The 1-based line in text_path where the span begins.
    line: int
    # The PDF page or PPTX slide (1-based); None for formats without pages.
    page: int | None = None
    # How a person reads it: "page 3", "slide 2", "section Scope", "line 12".
    location: str = ""
    # The collection the document is indexed in (a citation id is unique only within one).
    collection: str = ""


class Citation(Location):
    """One cited span: text_path's text[start:end] equals quote, always."""

    n: int
    id: str
    quote: str
    score: float
    stale: bool = False


class Passage(Location):
    """One retrieved passage (at most the chunk size, 1,000 characters by default)."""

    id: str
    score: float
    text: str


class Answer(BaseModel):
    """What the chain returns and every door renders."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    mode: str = "extractive"
    note: str | None = None
    retrieval_query: str | None = None
    # The learned scorer's calibrated probability that the first quoted sentence answers the question (for an
    # abstention: that of the best sentence it passed over), fitted per answer; None when the scorer is off.
    confidence: float | None = None
    low_confidence: bool = False


class CitedPassage(Location):
    """A citation looked up in its text: the quote, its surrounding lines and where it is."""

    id: str
    quote: str
    before: str
    after: str
    last_line: int
    context_first_line: int
    stale: bool = False


@dataclass(frozen=True)
class ModelIdentity:
    """Which embedding model made a store's vectors: recorded at ingest, checked before vectors mix."""

    name: str
    # sha256 of the model's weights file (model.safetensors), so a changed model is told from the same one.
    sha256: str
    # How it runs: "fp32" or "int8" (ONNX Runtime); vectors of one variant are never mixed with another's.
    variant: str
    dimension: int
