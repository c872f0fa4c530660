"""Loaders under limits: zip bombs, a parser worker past its memory limit, a large file embedded in slices.

Bad input tried: a .docx and a .pptx each holding a member that inflates 32 MB of zeros from ~32 KB (a zip
bomb, over 200 times its size), a deck whose members inflate past the total cap, a web page that needs more
memory than its parser worker may have, and a text file of hundreds of sentences embedded under a small slice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from retrieval.inference.embedder import Embedder
from retrieval.ingest import indexer
from retrieval.ingest.extraction import Extractor
from retrieval.ingest.loaders import ExtractError, office_zip, powerpoint
from retrieval.ingest.loaders.office_zip import MAX_RATIO
from retrieval.text.sentences import sentence_spans
from tests.conftest import make_engine
from tests.helpers.document_files import docx_file, pptx_file, with_extra_member

MB = 1024 * 1024


def test_zip_bombs_fail_alone_with_one_line_while_the_file_beside_them_is_indexed(
    tmp_path: Path, embedder: Embedder
) -> None:
    """Bad input: a .docx and a .pptx whose extra member inflates 32 MB of zeros (~1,000 to 1); each is its
    own one-line failure naming the member and the ratio, and the Word file beside them is indexed."""
    folder = tmp_path / "drive"
    folder.mkdir()
    docx_file(folder / "policy.docx", [("paragraph", "Visitors sign in at the front desk before nine.")])
    plain_docx = docx_file(tmp_path / "plain.docx", [("paragraph", "A bomb's innocent cover.")]).read_bytes()
    plain_pptx = pptx_file(tmp_path / "plain.pptx", [("Cover", "A deck", "")]).read_bytes()
    (folder / "bomb.docx").write_bytes(with_extra_member(plain_docx, "word/media/image1.bin", 32 * MB))
    (folder / "bomb.pptx").write_bytes(with_extra_member(plain_pptx, "ppt/media/image1.bin", 32 * MB))
    engine = make_engine(tmp_path / "store", embedder)
    summary = engine.ingest([folder])
    assert (summary.added, summary.failed) == (1, 2), summary.failures
    reasons = dict(failure.split(": ", 1) for failure in summary.failures)
    assert set(reasons) == {"bomb.docx", "bomb.pptx"}
    for reason in reasons.values():
        assert "\n" not in reason and "media/image1.bin inflates" in reason
        assert f"over {MAX_RATIO} times its size (a zip bomb?)" in reason
    assert [document.source for document in engine.documents()] == ["policy.docx"]


def test_an_office_file_past_the_total_inflated_cap_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input: a deck whose 2 MB member does not shrink (random bytes) with the total cap lowered to
    1 MiB: refused before python-pptx opens it; the same deck under the real cap is read."""
    deck = pptx_file(tmp_path / "deck.pptx", [("Budget", "Spending is reviewed monthly.", "")]).read_bytes()
    heavy = with_extra_member(deck, "ppt/media/video.bin", 2 * MB, random_bytes=True)
    assert "Spending is reviewed monthly." in powerpoint.extract(heavy).text
    monkeypatch.setattr(office_zip, "MAX_INFLATED_BYTES", MB)
    with pytest.raises(ExtractError, match=r"^it inflates to over 1\.0 MB \(a zip bomb\?\)$"):
        powerpoint.extract(heavy)


def test_a_worker_past_its_memory_limit_is_a_one_line_failure_and_the_next_file_is_read() -> None:
    """Bad input: a 2.4 MB page of 300,000 paragraphs, whose tree needs far more than a 160 MiB worker may
    have (the worker starts at ~75 MB): that file fails with the limit named, and a fresh worker reads the
    next page. A page a tenth the size is read under the same limit."""
    page = b"<html><body>" + b"<p>x</p>" * 300_000 + b"</body></html>"
    small = b"<html><body>" + b"<p>x</p>" * 30_000 + b"</body></html>"
    with Extractor(memory_limit_bytes=160 * MB) as extractor:
        with pytest.raises(ExtractError) as failure:
            extractor.extract(".html", page)
        assert str(failure.value) == "reading it needed more than the parser's 160 MiB memory limit"
        assert extractor.extract(".html", b"<p>Lunch is at noon.</p>").text == "Lunch is at noon."
        assert extractor.extract(".html", small).text.count("x") == 30_000


def test_a_file_of_many_sentences_is_embedded_in_bounded_slices(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input: a text file of 300 sentences with the slice lowered to 32 sentences: no call to the model
    gets more than a slice and one chunk's sentences (it was one call of all 300), every sentence is
    embedded once, and every chunk is stored with its right line number."""
    monkeypatch.setattr(indexer, "_SLICE_SENTENCES", 32)
    calls: list[int] = []
    real_embed = embedder.embed

    def counted(texts: Sequence[str], progress: Callable[[int], None] | None = None) -> list[list[float]]:
        calls.append(len(texts))
        return real_embed(texts, progress)

    monkeypatch.setattr(embedder, "embed", counted)
    lines = [f"Room {n} is booked by team {n % 7} on floor {n % 5}." for n in range(300)]
    text = "\n".join(" ".join(lines[at : at + 10]) for at in range(0, 300, 10)) + "\n"
    folder = tmp_path / "drive"
    folder.mkdir()
    (folder / "rooms.txt").write_text(text, encoding="utf-8")
    engine = make_engine(tmp_path / "store", embedder)
    summary = engine.ingest([folder])
    assert summary.added == 1
    stored = engine.store.chunks.get(include=["metadatas", "documents"])
    per_chunk = [len(sentence_spans(chunk, 0, len(chunk))) for chunk in stored["documents"]]
    assert sum(calls) == sum(per_chunk) == 300
    assert len(calls) >= 300 // (32 + max(per_chunk)) and max(calls) < 32 + max(per_chunk)
    for chunk, metadata in zip(stored["documents"], stored["metadatas"], strict=True):
        start = int(metadata["start"])
        assert text[start : start + len(chunk)] == chunk
        assert metadata["line"] == text.count("\n", 0, start) + 1
