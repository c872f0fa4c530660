"""Extracted texts kept in the store folder, content-addressed: what a PDF's citations are checked against.

`texts/<sha256 of the UTF-8 text>.txt` holds exactly the text that was chunked, so `text[start:end] == quote`
holds for every citation of the document, whatever becomes of the PDF. The same text is the same file, so an
unchanged re-extraction writes nothing and a rename costs nothing.
"""

from __future__ import annotations

from pathlib import Path

from retrieval.errors import StoreError
from retrieval.store.atomic_file import write_atomically
from retrieval.store.layout import StoreLayout
from retrieval.text.content import text_sha256


def read_text(path: str | Path) -> str:
    """A stored text exactly as written (no newline translation), or OSError/ValueError."""
    return Path(path).read_bytes().decode("utf-8")


class TextStore:
    """The texts folder of one store."""

    def __init__(self, store_folder: Path) -> None:
        self.folder = StoreLayout(store_folder).texts

    def path_for(self, text: str) -> Path:
        """Where a text is (or would be) kept."""
        return self.folder / f"{text_sha256(text)}.txt"

    def put(self, text: str) -> Path:
        """Keep a text (atomically: a reader sees the whole file or none); its path."""
        path = self.path_for(text)
        if path.is_file():
            return path
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomically(path, text.encode("utf-8"))
        except OSError as exc:
            raise StoreError(
                f"Cannot write the extracted text to {self.folder}: {exc.strerror or exc}"
            ) from exc
        return path

    def prune(self, kept: set[str]) -> int:
        """Delete texts no record names (kept: the paths still named); how many went."""
        if not self.folder.is_dir():
            return 0
        removed = 0
        for entry in self.folder.iterdir():
            if entry.suffix == ".txt" and str(entry) not in kept:
                entry.unlink(missing_ok=True)
                removed += 1
        return removed
