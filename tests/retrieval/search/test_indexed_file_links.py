"""An indexed file swapped for a link after its ingest is never read through: answers and citations that
check whether it changed treat it as changed, and a link to a device never reads without end."""

from __future__ import annotations

import os
from pathlib import Path

from retrieval.engine import Engine
from retrieval.inference.embedder import Embedder
from tests.conftest import make_engine

QUESTION = "Who is the release manager?"


def swapped(corpus: Path, target: str) -> Path:
    """notes/release.txt replaced by a symbolic link to target; the file's path."""
    path = corpus / "notes" / "release.txt"
    path.unlink()
    os.symlink(target, path)
    return path


def ingested(tmp_path: Path, corpus: Path, embedder: Embedder) -> Engine:
    engine = make_engine(tmp_path / "store", embedder)
    engine.ingest([corpus])
    return engine


def test_an_indexed_file_swapped_for_a_link_to_a_device_is_stale_not_read(
    tmp_path: Path, corpus: Path, embedder: Embedder
) -> None:
    """Bad input: the indexed file replaced by a link to /dev/zero (a read of it never ends): the answer
    comes from the index, its citation marked stale, and the citation is quoted from the indexed passage."""
    engine = ingested(tmp_path, corpus, embedder)
    swapped(corpus, "/dev/zero")
    answer = engine.ask(QUESTION)
    cited = [c for c in answer.citations if c.source == "notes/release.txt"]
    assert cited and all(c.stale for c in cited)
    passage = engine.cite(cited[0].id)
    assert passage.stale and "Priya Raman" in passage.quote


def test_an_indexed_file_swapped_for_a_link_to_the_same_text_is_not_read_through(
    tmp_path: Path, corpus: Path, embedder: Embedder
) -> None:
    """Bad input: the file replaced by a link to an outside copy of the same bytes: the link is not
    followed, so the file counts as changed (stale), never as the indexed version."""
    engine = ingested(tmp_path, corpus, embedder)
    outside = tmp_path / "outside.txt"
    outside.write_bytes((corpus / "notes" / "release.txt").read_bytes())
    swapped(corpus, str(outside))
    answer = engine.ask(QUESTION)
    cited = [c for c in answer.citations if c.source == "notes/release.txt"]
    assert cited and all(c.stale for c in cited)
