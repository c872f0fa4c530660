"""The answer scorer's training sources under DATA/train as articles of paragraphs and their questions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from evaluation.datasets import norm_question, norm_title
from evaluation.du2017 import Du2017Line, read_du2017_lines

Span = tuple[int, int]

# Each source's files, relative to DATA; training checks them all before any work.
SOURCE_FILES: dict[str, tuple[str, ...]] = {
    "new_wiki": ("train/squadshifts/new_wiki_v1.0.json",),
    "amazon_reviews": ("train/squadshifts/amazon_reviews_v1.0.json",),
    "squad2_train": ("train/squad2-train/train-v2.0.first10articles.json",),
    "du2017": ("train/du2017/src-test.txt", "train/du2017/tgt-test.txt", "train/du2017/doclist-test.txt"),
    "selqa": ("train/selqa/selqa-ass-dev.clean.jsonl", "train/selqa/selqa-ass-test.clean.jsonl"),
}
# du2017's sentences, grouped this many to a paragraph (its files hold no paragraphs).
DU2017_PARAGRAPH = 5


@dataclass(frozen=True)
class SourceArticle:
    """One document of a source: its title (what the split goes by), its name and its paragraphs."""

    source: str
    title: str
    name: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class SourceQuestion:
    """A question asked of one paragraph of a document, with its gold spans (offsets into the paragraph).

    sentences: the spans are whole answer sentences (du2017, SelQA), not answer phrases (SQuAD layouts);
    impossible: SQuAD 2.0's is_impossible (no span, every sentence a negative).
    """

    id: str
    question: str
    source: str
    title: str
    name: str
    paragraph: int
    spans: tuple[Span, ...] = ()
    answers: tuple[str, ...] = ()
    sentences: bool = False
    impossible: bool = False


@dataclass(frozen=True)
class Source:
    """A source read: its documents and its questions."""

    name: str
    articles: tuple[SourceArticle, ...]
    questions: tuple[SourceQuestion, ...]
    duplicates: int = 0  # questions dropped because another source asks them of the same title


def missing_files(data: Path, sources: Iterable[str]) -> list[Path]:
    """The files of the named sources that are not under data."""
    return [data / f for s in sources for f in SOURCE_FILES[s] if not (data / f).is_file()]


def read_squad_layout(path: Path, source: str) -> Source:
    """A file in SQuAD's JSON layout (v1.1 or 2.0): one document per article."""
    articles: list[SourceArticle] = []
    questions: list[SourceQuestion] = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        title = article["title"]
        paragraphs = tuple(p["context"] for p in article["paragraphs"])
        articles.append(SourceArticle(source, title, title, paragraphs))
        for n, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                impossible = bool(qa.get("is_impossible"))
                gold = [] if impossible else qa["answers"]
                spans = tuple((a["answer_start"], a["answer_start"] + len(a["text"])) for a in gold)
                texts = tuple(a["text"] for a in gold)
                questions.append(
                    SourceQuestion(
                        f"{source}:{qa['id']}", qa["question"], source, title, title, n, spans, texts,
                        impossible=impossible,
                    )
                )  # fmt: skip
    return Source(source, tuple(articles), tuple(questions))


def _joined(sentences: Iterable[str]) -> tuple[str, list[Span]]:
    """Sentences joined by one space, with each one's span in the result."""
    text, spans = "", []
    for s in sentences:
        if text:
            text += " "
        spans.append((len(text), len(text) + len(s)))
        text += s
    return text, spans


def read_selqa(paths: Iterable[Path]) -> Source:
    """SelQA answer-sentence selection: one document per (title, section) of its candidate sentences."""
    documents: dict[tuple[str, str], tuple[str, list[Span]]] = {}
    questions: list[SourceQuestion] = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            key = (item["title"], item["section"])
            _, spans = documents.setdefault(key, _joined(s.strip() for s in item["sentences"]))
            positive = tuple(spans[i] for i, label in enumerate(item["labels"]) if label)
            name = f"{item['title']} - {item['section']}"
            questions.append(
                SourceQuestion(
                    f"selqa:{item['qid']}", item["question"], "selqa", item["title"], name, 0, positive,
                    sentences=True,
                )
            )  # fmt: skip
    articles = tuple(
        SourceArticle("selqa", title, f"{title} - {section}", (text,))
        for (title, section), (text, _) in documents.items()
    )
    return Source("selqa", articles, tuple(questions))


def read_du2017(folder: Path, anchors: Mapping[str, str]) -> Source:
    """Du et al. 2017's (sentence, question) pairs: one document per article of its distinct sentences in
    order, DU2017_PARAGRAPH to a paragraph; anchors: normalised question -> another source's title for it."""
    lines = read_du2017_lines(folder, anchors)
    by_title: dict[str, list[Du2017Line]] = {}
    for line in lines:
        by_title.setdefault(line.title, []).append(line)
    articles: list[SourceArticle] = []
    questions: list[SourceQuestion] = []
    for title, found in by_title.items():
        distinct = list(dict.fromkeys(line.sentence for line in found))
        where: dict[str, tuple[int, Span]] = {}
        paragraphs: list[str] = []
        for begin in range(0, len(distinct), DU2017_PARAGRAPH):
            text, spans = _joined(distinct[begin : begin + DU2017_PARAGRAPH])
            chosen = distinct[begin : begin + DU2017_PARAGRAPH]
            where.update((s, (len(paragraphs), span)) for s, span in zip(chosen, spans, strict=True))
            paragraphs.append(text)
        articles.append(SourceArticle("du2017", title, title, tuple(paragraphs)))
        for line in found:
            n, span = where[line.sentence]
            questions.append(
                SourceQuestion(
                    f"du2017:{line.number}", line.question, "du2017", title, title, n, (span,), sentences=True
                )
            )
    return Source("du2017", tuple(articles), tuple(questions))


def read_source(data: Path, name: str, anchors: Mapping[str, str] | None = None) -> Source:
    """One source by name (SOURCE_FILES); du2017 takes anchors from the sources read before it."""
    files = [data / f for f in SOURCE_FILES[name]]
    if name in ("new_wiki", "amazon_reviews", "squad2_train"):
        return read_squad_layout(files[0], name)
    if name == "selqa":
        return read_selqa(files)
    return read_du2017(files[0].parent, anchors or {})


def read_sources(data: Path, names: Iterable[str]) -> list[Source]:
    """The named sources, each question asked once: a du2017 question that squad2_train holds for the same
    title (normalised question text) is dropped, the fuller squad2_train one kept."""
    chosen = list(names)
    read = {n: read_source(data, n) for n in chosen if n != "du2017"}
    if "du2017" in chosen:
        held = {
            norm_question(q.question): norm_title(q.title)
            for q in read.get("squad2_train", Source("", (), ())).questions
            if not q.impossible
        }
        du = read_du2017(data / "train" / "du2017", held)
        kept = tuple(q for q in du.questions if held.get(norm_question(q.question)) != norm_title(q.title))
        asked = {q.title for q in kept}
        articles = tuple(a for a in du.articles if a.title in asked)
        read["du2017"] = Source("du2017", articles, kept, len(du.questions) - len(kept))
    return [read[n] for n in chosen]
