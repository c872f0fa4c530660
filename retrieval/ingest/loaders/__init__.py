"""Document formats: one module per format, each turning a file's bytes into text and a map of its places.

A format module defines `SUFFIXES`, `parser_version() -> str` and `extract(data: bytes) -> Extracted`, raising
ExtractError with a reason a person can act on ("encrypted (password-protected)"), or NoText when the file
opened cleanly and holds no text (a blank document: skipped, not failed). Modules are imported only
when a file of theirs is read, so asking a question never loads a PDF library.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType

from retrieval.text.regions import RegionMap

# Suffix -> module under retrieval.ingest.loaders.
_MODULES = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".pdf": "pdf",
    ".docx": "word",
    ".pptx": "powerpoint",
    ".html": "web_page",
    ".htm": "web_page",
}
SUPPORTED_SUFFIXES = frozenset(_MODULES)
# Read in the ingesting process: decoding text cannot hang or crash it. Every other format is parsed in a
# worker process under a time limit (retrieval/ingest/extraction.py), since a C parser can do both.
PLAIN_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
# The parsers' libraries, imported by a worker before it says it is ready: a file's time limit is then spent
# on that file, not on importing pdfium.
LIBRARIES = ("pypdfium2", "docx", "pptx", "bs4")


class ExtractError(Exception):
    """A file of a supported type whose text cannot be had; the message is the reason, without the name."""


class NoText(ExtractError):
    """A file that opened cleanly and holds no text (a blank document, a deck of no slides): a skip."""


@dataclass(frozen=True)
class Extracted:
    """A document's text as citebot indexes and quotes it, with where each part of it came from."""

    text: str
    regions: RegionMap = field(default_factory=RegionMap)
    # The document's own title (PDF metadata, <title>, a first heading); "" lets its first line stand in.
    title: str = ""


def module_for(suffix: str) -> ModuleType:
    """The format module that reads files with this suffix (imported on first use)."""
    name = _MODULES.get(suffix.lower())
    if name is None:
        raise ExtractError(f"unsupported file type {suffix or '(none)'}")
    return importlib.import_module(f"retrieval.ingest.loaders.{name}")


def extract(suffix: str, data: bytes) -> Extracted:
    """A file's text and places, read by its format's module."""
    extracted: Extracted = module_for(suffix).extract(data)
    return extracted


def parser_version(suffix: str) -> str:
    """What reads this suffix, versioned ("pypdfium2 4.30.0; citebot pdf 1"); "" for plain text."""
    if suffix.lower() in PLAIN_SUFFIXES:
        return ""
    version: str = module_for(suffix).parser_version()
    return version


def parser_versions() -> dict[str, str]:
    """Every non-text format's parser version, by format name ("pdf": ...), for the store's build record."""
    versions: dict[str, str] = {}
    for suffix in sorted(SUPPORTED_SUFFIXES - PLAIN_SUFFIXES):
        # A format is named by its module's first suffix: .htm and .html are one parser, recorded once.
        name = module_for(suffix).SUFFIXES[0].lstrip(".")
        versions[name] = parser_version(suffix)
    return versions
