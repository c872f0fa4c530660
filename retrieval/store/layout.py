"""Every path under a store folder, named once: where a store's files live on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Names relative to the store folder; their values are on-disk format, never to be renamed.
MARKER = "citebot-store.json"
CHROMA = "chroma"
DATABASE = "chroma/chroma.sqlite3"
TEXTS = "texts"
INDEX = "index"
LOCKS = "locks"
FEEDBACK = "feedback.sqlite3"
REPL_HISTORY = "repl_history"


@dataclass(frozen=True)
class StoreLayout:
    """The paths of one store folder."""

    root: Path

    @property
    def marker(self) -> Path:
        """The file that says this folder is a citebot store (and its format)."""
        return self.root / MARKER

    @property
    def chroma(self) -> Path:
        """The embedded Chroma database's folder."""
        return self.root / CHROMA

    @property
    def database(self) -> Path:
        """Chroma's SQLite file."""
        return self.root / DATABASE

    @property
    def texts(self) -> Path:
        """Extracted texts, content-addressed (`<sha256>.txt`)."""
        return self.root / TEXTS

    def text(self, sha256: str) -> Path:
        """One extracted text."""
        return self.texts / f"{sha256}.txt"

    @property
    def index(self) -> Path:
        """Caches rebuilt from Chroma when lost: word cache, BM25 bases, manifest."""
        return self.root / INDEX

    def word_cache(self, collection: str) -> Path:
        """A collection's tokenised-sentence cache."""
        return self.index / f"tokens-{collection}.sqlite3"

    def bm25_bases(self, collection: str) -> Path:
        """A collection's saved BM25 bases."""
        return self.index / f"bm25-{collection}"

    def manifest(self, collection: str) -> Path:
        """A collection's cached manifest (documents and their records)."""
        return self.index / f"manifest-{collection}.json"

    def failed_files(self, collection: str) -> Path:
        """A collection's files that failed their last ingest, with the reasons (ingest_failures.py)."""
        return self.index / f"failed-{collection}.json"

    @property
    def locks(self) -> Path:
        """Writer locks, one file per collection."""
        return self.root / LOCKS

    @property
    def feedback(self) -> Path:
        """The Slack feedback database, unless a setting names another file."""
        return self.root / FEEDBACK

    @property
    def repl_history(self) -> Path:
        """The REPL's input history."""
        return self.root / REPL_HISTORY
