"""The types every module shares: the one Answer every door renders, its citations and passages (a leaf).

Imports nothing of the engine, so a door, a test or a new module can use them without pulling it in.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field


class Citation(BaseModel):
    """One cited span: the file's text[start:end] equals quote, always."""

    n: int
    id: str
    source: str
    path: str
    start: int
    end: int
    quote: str
    score: float
    line: int
    stale: bool = False


class Passage(BaseModel):
    """One retrieved passage (at most the chunk size, 1,000 characters by default)."""

    id: str
    source: str
    path: str
    start: int
    end: int
    score: float
    line: int
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
    # abstention: that of the best sentence it passed over); None when the scorer is off.
    confidence: float | None = None
    low_confidence: bool = False


@dataclass(frozen=True)
class CitedPassage:
    """A citation looked up in its file: the quote, its surrounding lines and where it is."""

    id: str
    source: str
    path: str
    start: int
    end: int
    quote: str
    before: str
    after: str
    first_line: int
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
