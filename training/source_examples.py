"""The training sources' examples: each source's documents in stores, each question's pool labelled."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from evaluation.datasets import norm_title
from evaluation.sources import Source
from retrieval.answer.extractive import AnswerSettings
from retrieval.engine import Engine
from training.examples import PoolMaker, Question, Row, build_store, trains_on
from training.split import title_hash

Span = tuple[int, int]
# What a row counts as in the statistics: its question's kind, and for an answerable question's negatives
# whether they come from its own document (the hard ones: SelQA's candidates among them) or another.
ROW_KINDS = ("positive", "own_document", "other_document", "unanswerable", "other_paragraph", "out_of_corpus")


def write_documents(source: Source, folder: Path) -> dict[str, tuple[str, list[Span]]]:
    """Each document as one .txt file, paragraphs joined by a blank line (a file is rewritten only when its
    text changed, so a built store stays valid); returns name -> (file name, each paragraph's span)."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, tuple[str, list[Span]]] = {}
    used: set[str] = set()
    for article in source.articles:
        name = document_file(article.name)
        n = 2
        while name.lower() in used:
            name, n = f"{document_file(article.name)[:-4]}-{n}.txt", n + 1
        used.add(name.lower())
        text, spans = "", []
        for paragraph in article.paragraphs:
            text += "\n\n" if text else ""
            spans.append((len(text), len(text) + len(paragraph)))
            text += paragraph
        path = folder / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            with path.open("w", encoding="utf-8", newline="") as handle:
                handle.write(text)
        files[article.name] = (name, spans)
    for stale in folder.glob("*.txt"):
        if stale.name.lower() not in used:
            stale.unlink()
    return files


def document_file(name: str) -> str:
    """A document's file name: its name with letters of every script kept (the scorer reads the name)."""
    return re.sub(r"[^\w.-]+", "_", name, flags=re.UNICODE)[:80] + ".txt"


def folder_digest(folder: Path) -> str:
    """sha256 of a folder's .txt files, names and texts (a store built from other files is rebuilt)."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.txt")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def ready_store(folder: Path, store: Path) -> Engine:
    """A store of folder's files; one whose ingest did not finish, or of other files (its marker beside it
    missing or naming another digest), is built again."""
    done, digest = store.with_name(store.name + ".done"), folder_digest(folder)
    if not done.is_file() or done.read_text(encoding="utf-8") != digest:
        shutil.rmtree(store, ignore_errors=True)
        done.unlink(missing_ok=True)
    engine = build_store(folder, store)
    done.write_text(digest, encoding="utf-8")
    return engine


def source_stores(
    source: Source, work: Path
) -> tuple[dict[str, Engine], dict[str, tuple[str, list[Span]]], dict[str, str]]:
    """A store of all the source's documents and one of each half (by title, so a title is whole in
    one half); returns the stores, the files and each file's out-of-corpus store (the other half's)."""
    root = work / "sources" / source.name
    files = write_documents(source, root / "documents")
    halves: dict[str, str] = {}
    for article in source.articles:
        halves[files[article.name][0]] = "a" if int(title_hash(norm_title(article.title), 0), 16) % 2 else "b"
    stores = {"all": ready_store(root / "documents", root / "store")}
    for half in ("a", "b"):
        folder = root / f"documents-{half}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, side in halves.items():
            if side == half:
                shutil.copyfile(root / "documents" / name, folder / name)
        stores[half] = ready_store(folder, root / f"store-{half}")
    other = {name: "b" if side == "a" else "a" for name, side in halves.items()}
    return stores, files, other


def source_questions(
    source: Source, files: Mapping[str, tuple[str, list[Span]]], every: int = 1
) -> Iterator[Question]:
    """Every question of a source as the kinds it is asked as: an unanswerable one once; an answerable one
    as itself and, if it is one of every `every` (by a hash of its id), also without its own paragraph
    (other_paragraph) and of the half store without its document (out_of_corpus)."""
    for q in source.questions:
        name, paragraphs = files[q.name]
        start, end = paragraphs[q.paragraph]
        spans = tuple((start + s, start + e) for s, e in q.spans)
        base = Question(
            q.id, q.question, name, "answerable", spans, q.answers, source.name, norm_title(q.title),
            (start, end), q.sentences,
        )  # fmt: skip
        if q.impossible:
            yield replace(base, kind="unanswerable", spans=(), answers=())
            continue
        yield base
        if int(title_hash(q.id, 0), 16) % every == 0:
            yield replace(base, kind="other_paragraph")
            yield replace(base, kind="out_of_corpus")


def row_kind(row: Row) -> str:
    """What a row counts as in the statistics (ROW_KINDS)."""
    if row["kind"] != "answerable":
        return str(row["kind"])
    if row["label"] == 1:
        return "positive"
    return "own_document" if row["own"] else "other_document"


def write_source_examples(
    source: Source,
    work: Path,
    out: Path,
    parts: Mapping[str, str],
    pool: int,
    limit: int | None,
    every: int = 1,
) -> dict[str, Any]:
    """Build the source's stores and write every pool to out; returns the source's counts."""
    began = time.perf_counter()
    stores, files, other = source_stores(source, work)
    settings = AnswerSettings()
    maker = PoolMaker(stores, pool, replace(settings, passages_scanned=settings.scorer_passages), other)
    questions = list(source_questions(source, files, every))
    if limit:
        questions = questions[:: max(1, len(questions) // limit)]
    print(f"{source.name}: stores ready in {time.perf_counter() - began:.0f} s", flush=True)
    tally = Tally(source, parts)
    with out.open("w", encoding="utf-8") as handle:
        for n, q in enumerate(questions):
            part = parts[q.title]
            rows = list(maker.rows(q, part))
            handle.writelines(json.dumps(r) + "\n" for r in rows)
            tally.add(q, part, rows)
            if n % 2000 == 0:
                print(
                    f"{source.name}: {n}/{len(questions)} questions, {time.perf_counter() - began:.0f} s",
                    flush=True,
                )
    return tally.counts()


class Tally:
    """A source's counts: articles and questions per part and kind, rows per part and ROW_KINDS, how often
    the pool holds a right answer."""

    def __init__(self, source: Source, parts: Mapping[str, str]) -> None:
        self.articles: dict[str, set[str]] = {}
        for article in source.articles:
            self.articles.setdefault(parts[norm_title(article.title)], set()).add(norm_title(article.title))
        self.duplicates = source.duplicates
        self.questions: dict[str, int] = {}
        self.rows: dict[str, int] = {}
        self.in_pool: dict[str, int] = {}
        self.by_order: dict[str, int] = {}

    def add(self, q: Question, part: str, rows: list[Row]) -> None:
        """Count one question and its pool's rows."""
        key = f"{part}/{q.kind}"
        self.questions[key] = self.questions.get(key, 0) + 1
        self.in_pool[key] = self.in_pool.get(key, 0) + any(r["correct"] for r in rows)
        for r in rows:
            kind = f"{part}/{row_kind(r)}" + ("/ignored" if r["label"] == -1 else "")
            self.rows[kind] = self.rows.get(kind, 0) + 1
            if trains_on(r):
                self.rows[f"{part}/trained"] = self.rows.get(f"{part}/trained", 0) + 1
            if part == "train" and r["label"] == 0:
                # Negatives by kind and place in the pool: what any other TRAIN_POOL would read.
                self.by_order[f"{r['kind']}/{r['order']}"] = (
                    self.by_order.get(f"{r['kind']}/{r['order']}", 0) + 1
                )
            elif part == "train" and r["label"] == 1:
                self.by_order["positive"] = self.by_order.get("positive", 0) + 1

    def counts(self) -> dict[str, Any]:
        """The counts as JSON-ready dicts."""
        answerable = {
            k: round(self.in_pool[k] / n, 4) for k, n in self.questions.items() if k.endswith("/answerable")
        }
        return {
            "articles": {part: len(titles) for part, titles in sorted(self.articles.items())},
            "duplicates": self.duplicates,
            "questions": dict(sorted(self.questions.items())),
            "rows": dict(sorted(self.rows.items())),
            "answer_in_pool": answerable,
            "train_rows": dict(sorted(self.by_order.items())),
        }
