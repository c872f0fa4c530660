"""The scorer's examples: each question's candidate pool from the real retrieval, labelled by gold offsets.

Four kinds of question, each asked through citebot's own retriever and candidate features:
- answerable (SQuAD v1.1): a sentence covering a gold answer span is a positive, the others negatives;
- unanswerable (SQuAD 2.0's is_impossible questions, written against the same paragraphs): all negative;
- out of corpus (the SQuAD v1.1 questions again, asked of a real store that lacks their article: the articles
  are split in two halves, each with a store, and a question goes to the other half's store): all negative;
- other paragraph (the training sources' answerable questions again, asked without the passages of their own
  paragraph: the rest of their article looks answerable but is not): negative, unless it holds the answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evaluation.datasets import SquadQuestion, squad2_unanswerable, write_squad
from evaluation.metrics import contains_answer, covers
from retrieval.answer.candidates import Candidate
from retrieval.answer.extractive import AnswerSettings, ExtractiveAnswerer
from retrieval.answer.learned_scorer import context_of
from retrieval.engine import Engine, EngineConfig
from retrieval.search.hybrid import Hit, HybridRetriever
from retrieval.store.chunk_store import StoreLocation

# One pooled candidate as make_examples writes it (a JSON object).
Row = dict[str, Any]
# Training reads the first few of each pool (the hand-set score's best), and every positive: an epoch over
# all 8 of every pool measured 55 minutes on these 2 cores (1.7 s a batch). The candidates that decide an
# abstention are the top ones, and the lower negatives of an answerable pool add little.
TRAIN_POOL = {"answerable": 6, "unanswerable": 4, "out_of_corpus": 4, "other_paragraph": 4}


def trains_on(row: Row, pool: Mapping[str, int] = TRAIN_POOL) -> bool:
    """Whether training reads a row (of the train part): every positive, the first pool[kind] negatives."""
    return bool(row["label"] == 1 or (row["label"] == 0 and row["order"] < pool[row["kind"]]))


@dataclass(frozen=True)
class Question:
    """One question of one kind, with its article's file and gold spans (none when it has no answer)."""

    id: str
    text: str
    source: str
    kind: str
    spans: tuple[tuple[int, int], ...] = ()
    answers: tuple[str, ...] = ()
    corpus: str = "squad_dev"
    title: str = ""
    # Its paragraph's span in the file (other_paragraph leaves it out); sentences: spans are whole sentences.
    paragraph: tuple[int, int] = (0, 0)
    sentences: bool = False


def squad_questions(v1: list[SquadQuestion], squad2: Path) -> list[Question]:
    """Answerable and out-of-corpus questions from SQuAD v1.1, unanswerable ones from SQuAD 2.0."""
    found = [Question(q.id, q.question, q.source, "answerable", q.spans, q.answers) for q in v1]
    found += [Question(q.id, q.question, q.source, "out_of_corpus") for q in v1]
    found += [Question(i, text, source, "unanswerable") for i, source, text in squad2_unanswerable(squad2)]
    return found


def build_store(folder: Path, store: Path) -> Engine:
    """A citebot store of the files in folder (reused when already built)."""
    engine = Engine(EngineConfig(StoreLocation(store), device="cpu"))
    if engine.is_empty():
        engine.ingest([folder])
    return engine


def build_stores(data: Path, work: Path) -> tuple[dict[str, Engine], list[SquadQuestion]]:
    """The SQuAD v1.1 articles as files; a store of all of them ("all") and one of each half ("a", "b")."""
    questions = write_squad(data / "squad" / "dev-v1.1.even-articles.json", work / "squad")
    files = sorted((work / "squad").glob("*.txt"))
    stores = {"all": build_store(work / "squad", work / "store")}
    for half, chosen in (("a", files[0::2]), ("b", files[1::2])):
        folder = work / f"squad-{half}"
        folder.mkdir(exist_ok=True)
        for path in chosen:
            (folder / path.name).write_bytes(path.read_bytes())
        stores[half] = build_store(folder, work / f"store-{half}")
    return stores, questions


def quoted_text(c: Candidate, settings: AnswerSettings) -> str:
    """The text an answer would open with if c were chosen (a pronoun-led sentence brings the one before)."""
    chunk = c.hit.chunk
    start = c.start
    if settings.antecedents and c.features.leans_back:
        before = [chunk.start + s for s, e in chunk.sentence_spans() if chunk.start + e <= c.start]
        start = before[-1] if before else start
    return chunk.text[start - chunk.start : c.end - chunk.start]


class PoolMaker:
    """Each question's pool: the best `pool` candidates by the hand-set score, with what they need."""

    def __init__(
        self,
        stores: dict[str, Engine],
        pool: int,
        settings: AnswerSettings,
        halves: dict[str, str] | None = None,
    ) -> None:
        """halves: each file's out-of-corpus store (the other half's); by default from stores a and b."""
        self.stores = stores
        self.pool = pool
        self.settings = settings
        self.retrievers: dict[str, HybridRetriever] = {name: e.retriever() for name, e in stores.items()}
        self._last: tuple[tuple[str, str], list[Hit]] = (("", ""), [])
        self.answerers = {
            name: ExtractiveAnswerer(e.corpus.lexical.idf, e.embedder.embed_query, settings)
            for name, e in stores.items()
        }
        self.halves = halves or {c.source: "b" for c in stores["a"].corpus.chunks} | {
            c.source: "a" for c in stores["b"].corpus.chunks
        }

    def store_for(self, q: Question) -> str:
        """The store a question is asked of: all articles, or the half without its own."""
        return self.halves[q.source] if q.kind == "out_of_corpus" else "all"

    def hits(self, q: Question) -> list[Hit]:
        """The passages a question's pool is cut from (other_paragraph: the best without its paragraph's).

        One search of 3k serves a question's answerable and other_paragraph pools: the ranking does not
        depend on k (up to the retriever's 40 candidates), so its first k are what search(k) returns."""
        name = self.store_for(q)
        retriever = self.retrievers[name]
        if self._last[0] != (name, q.text):
            self._last = ((name, q.text), retriever.search(q.text, retriever.k * 3))
        found = self._last[1]
        if q.kind != "other_paragraph":
            return found[: retriever.k]
        start, end = q.paragraph
        return [
            h
            for h in found
            if not (h.chunk.source == q.source and h.chunk.start < end and start < h.chunk.end)
        ][: retriever.k]

    def rows(self, q: Question, part: str) -> Iterator[Row]:
        """One row per pooled candidate, best hand-set score first."""
        name = self.store_for(q)
        hits = self.hits(q)
        scored = self.answerers[name].scored(q.text, q.text, hits, [])[: self.pool]
        top_dense = max((h.dense for h in hits), default=0.0)
        for order, (value, c) in enumerate(scored):
            chunk = c.hit.chunk
            sentence = chunk.text[c.start - chunk.start : c.end - chunk.start]
            quoted = quoted_text(c, self.settings)
            own = chunk.source == q.source
            holds = own and contains_answer(quoted, q.answers)
            if q.kind == "answerable":
                exact = own and (overlaps if q.sentences else covers)((c.start, c.end), q.spans)
                label, correct = (1 if exact else (-1 if holds else 0)), bool(exact or holds)
            else:
                label, correct = (-1 if q.kind == "other_paragraph" and holds else 0), False
            yield {
                "part": part,
                "corpus": q.corpus,
                "kind": q.kind,
                "qid": q.id,
                "article": q.source,
                "question": q.text,
                "sentence": sentence,
                "context": context_of(c),
                # 1: covers a gold span; 0: cannot be the answer; -1: holds the answer's words elsewhere in
                # the article (not trained on; counted right, as the benchmark counts it).
                "label": label,
                "correct": correct,
                "order": order,
                "handset": value,
                "top_dense": top_dense,
                "own": own,
                "source": chunk.source,
                "chunk": chunk.id,
                "features": asdict(c.features),
            }


def overlaps(span: tuple[int, int], sentences: tuple[tuple[int, int], ...]) -> bool:
    """Whether at least half of a candidate sentence lies inside one of the gold sentences."""
    start, end = span
    return any(2 * (min(end, e) - max(start, s)) >= end - start > 0 for s, e in sentences)
