"""Containment at every path component: a folder swapped for a link mid-ingest reads nothing outside the
folder ingested, and a store folder inside it is never walked.

Each swap is made at the worst moment by wrapping the step before it: the listing of the ingested folder
(os.scandir, which the walk calls with a path or a folder handle), or the walk as a whole (discover) before
a file is read.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from retrieval.errors import InputError, LoadError
from retrieval.inference.embedder import Embedder
from retrieval.ingest.files import discover, read_bytes
from retrieval.store.layout import StoreLayout
from tests.conftest import make_engine
from tests.helpers.document_files import html_file

SECRET = "The vault code is 4417 and the spare key hangs behind the boiler."
HARMLESS = "The plan is to repaint the meeting room in March."


def layout(tmp_path: Path) -> tuple[Path, Path]:
    """corpus/ (a note, and sub/plan.txt) and outside/ (its own plan.txt, with the secret), side by side."""
    corpus, outside = tmp_path / "corpus", tmp_path / "outside"
    (corpus / "sub").mkdir(parents=True)
    outside.mkdir()
    (corpus / "note.txt").write_text("The coffee machine is descaled every Friday.\n", encoding="utf-8")
    (corpus / "sub" / "plan.txt").write_text(HARMLESS + "\n", encoding="utf-8")
    (outside / "plan.txt").write_text(SECRET + "\n", encoding="utf-8")
    return corpus, outside


def swap_for_link(folder: Path, target: Path) -> None:
    """The attacker's move: the folder moved away and a link to target put in its place."""
    folder.rename(folder.with_name(folder.name + "-moved"))
    folder.symlink_to(target, target_is_directory=True)


class Listing:
    """A folder's entries, listed in full before the swap, used as os.scandir's result is."""

    def __init__(self, entries: list[os.DirEntry[str]]) -> None:
        self.entries = entries

    def __enter__(self) -> Iterator[os.DirEntry[str]]:
        return iter(self.entries)

    def __exit__(self, *exc: object) -> None:
        return None

    def __iter__(self) -> Iterator[os.DirEntry[str]]:
        return iter(self.entries)


def swap_after_listing(monkeypatch: pytest.MonkeyPatch, corpus: Path, act: Callable[[], None]) -> list[bool]:
    """os.scandir wrapped: right after the ingested folder is listed (by path or by handle), act once.
    Entries of a handle's listing are stat'ed through that handle, so they are listed while it is open."""
    real = os.scandir
    root = os.stat(corpus)
    done: list[bool] = []

    def scandir(target: Any = ".") -> Any:
        info = os.fstat(target) if isinstance(target, int) else os.stat(target)
        if done or (info.st_dev, info.st_ino) != (root.st_dev, root.st_ino):
            return real(target)
        with real(target) as listing:
            entries = list(listing)
        for entry in entries:
            entry.stat(follow_symlinks=False)  # cached on the entry, as the walk's own call would be
        act()
        done.append(True)
        return Listing(entries)

    monkeypatch.setattr(os, "scandir", scandir)
    return done


def test_a_folder_swapped_for_a_link_after_its_parent_is_listed_is_never_walked(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input: sub/ swapped for a link to a folder outside after the ingested folder was listed (sub/ seen
    as a folder) and before sub/ is listed; the outside plan.txt holds a secret."""
    corpus, outside = layout(tmp_path)
    engine = make_engine(tmp_path / "store", embedder)
    swapped = swap_after_listing(monkeypatch, corpus, lambda: swap_for_link(corpus / "sub", outside))
    summary = engine.ingest([corpus])
    monkeypatch.undo()
    assert swapped == [True]
    assert summary.skips == [
        "sub/: a symbolic link now (it was a folder when listed); links are not followed"
    ]
    assert (summary.added, summary.failed) == (1, 0)
    assert set(engine.store.documents()) == {"note.txt"}
    answer = engine.ask("What is the vault code?")
    assert "4417" not in " ".join([answer.answer, *(p.text for p in answer.passages)])


def test_a_folder_swapped_for_a_link_between_the_walk_and_the_read_is_not_read(tmp_path: Path) -> None:
    """Bad input: sub/ swapped for a link to outside/ after the walk listed sub/plan.txt, before it is read:
    outside/plan.txt (same name, the secret) must not be read through the link."""
    corpus, outside = layout(tmp_path)
    found = discover([corpus])
    plan = next(file for file in found.files if file.source == "sub/plan.txt")
    assert read_bytes(plan) == (HARMLESS + "\n").encode()
    swap_for_link(corpus / "sub", outside)
    with pytest.raises(LoadError) as caught:
        read_bytes(plan)
    assert str(caught.value) == (
        "sub/plan.txt: cannot read (a symbolic link is on its path now; links are not followed)"
    )


def test_a_folder_swapped_for_a_link_mid_ingest_through_the_engine_quotes_nothing_outside(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input: the same swap made by the ingest itself, between its walk (discover) and its reads."""
    from retrieval.ingest import indexer

    corpus, outside = layout(tmp_path)
    engine = make_engine(tmp_path / "store", embedder)

    def walk_then_swap(*args: Any, **kwargs: Any) -> Any:
        found = discover(*args, **kwargs)
        swap_for_link(corpus / "sub", outside)
        return found

    monkeypatch.setattr(indexer, "discover", walk_then_swap)
    summary = engine.ingest([corpus])
    assert summary.failures == [
        "sub/plan.txt: cannot read (a symbolic link is on its path now; links are not followed)"
    ]
    texts = [chunk.text for chunk in engine.store.get_chunks(sorted(engine.store.chunk_ids()))]
    assert texts and not any("4417" in text for text in texts)


def test_a_store_inside_the_ingested_folder_is_never_walked(tmp_path: Path, embedder: Embedder) -> None:
    """Bad input: --store inside the folder ingested (corpus/store, a name that is not hidden), holding the
    extracted text of a web page: ingested twice, its texts/ must never become documents."""
    corpus, _ = layout(tmp_path)
    html_file(corpus / "page.html", "Opening hours", [("Hours", ["The library opens at nine on Sundays."])])
    store = corpus / "store"
    engine = make_engine(store, embedder)
    first = engine.ingest([corpus])
    assert any(StoreLayout(store).texts.glob("*.txt")), "the page's extracted text is kept in the store"
    again = engine.ingest([corpus])
    assert (first.added, again.added, again.unchanged) == (3, 0, 3)
    assert set(engine.store.documents()) == {"note.txt", "sub/plan.txt", "page.html"}


def test_the_store_folder_is_known_by_device_and_inode_not_by_name(tmp_path: Path) -> None:
    """Bad input: a store's folder (no marker: a Chroma server's cache folder) inside the folder walked,
    named through a link and a `..`; and the store folder itself given as the folder to ingest."""
    corpus, _ = layout(tmp_path)
    cache = corpus / "cache"
    (cache / "texts").mkdir(parents=True)
    (cache / "texts" / "abc.txt").write_text("An extracted text.\n", encoding="utf-8")
    (tmp_path / "alias").symlink_to(corpus, target_is_directory=True)
    spelled = tmp_path / "alias" / "sub" / ".." / "cache"
    assert "cache/texts/abc.txt" in {f.source for f in discover([corpus]).files}
    assert {f.source for f in discover([corpus], skip=[spelled]).files} == {"note.txt", "sub/plan.txt"}
    with pytest.raises(InputError, match="is a citebot store folder, not documents"):
        discover([cache], skip=[spelled])


def test_a_wide_deep_walk_keeps_few_folder_handles_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input: 300 folders, each holding a file and (down one branch) the next level: more folders than
    the walk may hold open at once; every file is found, at most 64 handles are open at any listing, and
    none is left open."""
    from retrieval.ingest import files

    corpus = tmp_path / "corpus"
    level = corpus
    for depth in range(150):
        for side in ("a", "b"):
            (level / side).mkdir(parents=True)
            (level / side / f"f{depth}.txt").write_text(f"Level {depth} side {side}.\n", encoding="utf-8")
        level = level / "a"
    real = files.list_folder
    open_counts: list[int] = []

    def list_folder(handle: int, path: Path) -> Any:
        open_counts.append(len(os.listdir("/proc/self/fd")))
        return real(handle, path)

    monkeypatch.setattr(files, "list_folder", list_folder)
    before = len(os.listdir("/proc/self/fd"))
    found = discover([corpus])
    assert len(os.listdir("/proc/self/fd")) == before
    assert len(found.files) == 300 and not found.failed
    assert len(open_counts) == 301 and max(open_counts) - before <= 64
    shutil.rmtree(corpus)
