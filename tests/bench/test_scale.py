"""bench.scale's synthetic stores: deterministic text, and a built store answers through the real engine.

No timings: bench.scale measures them.
"""

from __future__ import annotations

from pathlib import Path

from bench.scale_corpus import PARAGRAPHS, document, questions
from bench.scale_store import build
from retrieval.inference.embedder import Embedder
from retrieval.ingest.chunking import chunk
from tests.conftest import MODEL_CACHE, make_engine


def test_documents_are_deterministic_and_cut_one_chunk_per_paragraph() -> None:
    assert document(7) == document(7)
    assert document(7) != document(8)
    assert questions(5, 10) == questions(5, 10)
    for index in range(20):
        assert len(chunk(document(index))) == PARAGRAPHS


def test_a_built_store_is_reused_and_answers_from_the_document_asked_about(
    tmp_path: Path, embedder: Embedder
) -> None:
    folder = tmp_path / "scale"
    figures = build(10 * PARAGRAPHS, folder, model_cache=MODEL_CACHE, variant="fp32")
    assert (figures["chunks"], figures["documents"], figures["reused"]) == (200, 10, False)
    assert build(10 * PARAGRAPHS, folder, model_cache=MODEL_CACHE, variant="fp32")["reused"] is True

    engine = make_engine(folder / "store", embedder)
    corpus = engine.corpus
    assert len(corpus) == 200
    for question in questions(3, 10):
        # The vectors are random, so only BM25 knows which document the question's words were drawn from.
        top, _ = corpus.lexical.search(question.text, 1)[0]
        assert corpus.chunks[top].source == question.source
        answer = engine.ask(question.text)
        assert answer.passages
        for passage in answer.passages:
            assert (
                Path(passage.text_path).read_text(encoding="utf-8")[passage.start : passage.end]
                == passage.text
            )
