"""Every question's candidate pool, labelled, in one JSON-lines file (what train and calibrate read).

Each source's pools are written to WORK/examples/<source>.jsonl with its counts beside it, so a stopped run
resumes from the first source not finished; WORK/examples.jsonl joins them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from evaluation.datasets import article_file, norm_title
from evaluation.sources import SOURCE_FILES, Source, SourceArticle, missing_files, read_sources
from retrieval.answer.extractive import AnswerSettings
from training.examples import PoolMaker, build_stores, squad_questions
from training.source_examples import Tally, write_source_examples
from training.split import split_articles, split_by_title

DEV = "squad_dev"
SOURCES = (DEV, *SOURCE_FILES)
DEV_FILES = ("squad/dev-v1.1.even-articles.json", "squad2/dev-v2.0.even-articles.json")
# Bumped when what a pool holds changes, so cached examples of another make are not reused.
FORMAT = 2
# The training sources' answerable questions asked again without their paragraph and out of corpus, one in
# EVERY: each kind still has ~10,000 questions (thousands in every part), building the pools takes ~40% as
# long (a pool took 0.05-0.1 s on 2 shared cores), and training could not read more of them in its budget.
EVERY = 3


class MissingSource(Exception):
    """A source file training needs is not under the data folder."""


def check_sources(data: Path, sources: Sequence[str]) -> None:
    """Raise MissingSource naming every missing file of the chosen sources (before any work)."""
    missing = [data / f for f in DEV_FILES if DEV in sources and not (data / f).is_file()]
    missing += missing_files(data, [s for s in sources if s != DEV])
    if missing:
        names = ", ".join(str(p) for p in missing)
        raise MissingSource(f"training source file missing: {names} (see {data / 'README.md'})")


def dev_examples(
    data: Path, work: Path, out: Path, parts: dict[str, str], pool: int, limit: int | None
) -> dict[str, Any]:
    """Today's SQuAD dev pools (answerable, unanswerable, out of corpus) as today; returns their counts."""
    v2_file = data / DEV_FILES[1]
    stores, v1 = build_stores(data, work)
    settings = AnswerSettings()
    maker = PoolMaker(stores, pool, replace(settings, passages_scanned=settings.scorer_passages))
    questions = squad_questions(v1, v2_file)
    if limit:
        questions = questions[:: max(1, len(questions) // limit)]
    titles = {article_file(a["title"]): a["title"] for a in _articles(data / DEV_FILES[0])}
    articles = tuple(SourceArticle(DEV, t, t, ()) for t in titles.values())
    tally = Tally(Source(DEV, articles, ()), {norm_title(t): parts[f] for f, t in titles.items()})
    began = time.perf_counter()
    with out.open("w", encoding="utf-8") as handle:
        for n, q in enumerate(questions):
            q = replace(q, title=norm_title(titles[q.source]))
            rows = list(maker.rows(q, parts[q.source]))
            handle.writelines(json.dumps(r) + "\n" for r in rows)
            tally.add(q, parts[q.source], rows)
            if n % 2000 == 0:
                print(
                    f"{DEV}: {n}/{len(questions)} questions, {time.perf_counter() - began:.0f} s", flush=True
                )
    return tally.counts()


def _articles(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text(encoding="utf-8"))["data"])


def make_examples(
    data: Path,
    work: Path,
    out: Path,
    pool: int,
    seed: int,
    limit: int | None = None,
    sources: Sequence[str] = SOURCES,
    every: int = EVERY,
) -> dict[str, Any]:
    """Split every source's titles, write (or reuse) each source's pools, join them into out; returns the
    split and the counts, in total (part/kind, as calibrate reads them) and per source. every: a training
    source's answerable questions are also asked as other_paragraph and out_of_corpus one in `every`."""
    check_sources(data, sources)
    dev = _articles(data / DEV_FILES[0])
    unanswerable = {article_file(a["title"]) for a in _articles(data / DEV_FILES[1])}
    dev_parts = split_articles([article_file(a["title"]) for a in dev], unanswerable, seed)
    fixed = {norm_title(a["title"]): dev_parts[article_file(a["title"])] for a in dev}
    read = read_sources(data, [s for s in sources if s != DEV])
    parts = split_by_title({s.name: [norm_title(a.title) for a in s.articles] for s in read}, fixed, seed)
    folder = work / "examples"
    folder.mkdir(parents=True, exist_ok=True)
    # What each source's reader made: cached pools of another reading of the files are made again.
    digest = {s.name: hashlib.sha256(repr((s.articles, s.questions)).encode()).hexdigest() for s in read}
    dev_key = {"format": FORMAT, "pool": pool, "seed": seed, "limit": limit}
    counts: dict[str, dict[str, Any]] = {}
    for name in sources:
        done, part_file = folder / f"{name}.json", folder / f"{name}.jsonl"
        key = dev_key if name == DEV else {**dev_key, "every": every, "data": digest[name]}
        if done.is_file() and json.loads(done.read_text(encoding="utf-8")).get("key") == key:
            counts[name] = json.loads(done.read_text(encoding="utf-8"))["counts"]
            print(f"{name}: examples reused from {part_file}", flush=True)
            continue
        done.unlink(missing_ok=True)
        began = time.perf_counter()
        if name == DEV:
            found = dev_examples(data, work, part_file, dev_parts, pool, limit)
        else:
            source = next(s for s in read if s.name == name)
            found = write_source_examples(source, work, part_file, parts, pool, limit, every)
        found["seconds"] = round(time.perf_counter() - began)
        done.write_text(json.dumps({"key": key, "counts": found}, indent=1), encoding="utf-8")
        counts[name] = found
    with out.open("wb") as joined:
        for name in sources:
            with (folder / f"{name}.jsonl").open("rb") as part_rows:
                shutil.copyfileobj(part_rows, joined)
    questions: Counter[str] = Counter()
    for c in counts.values():
        questions.update(c["questions"])
    dev_pool = counts.get(DEV, {}).get("answer_in_pool", {})
    return {
        "parts": dev_parts,
        "title_parts": parts,
        "questions": dict(questions),
        "answer_in_pool": dev_pool,
        "sources": counts,
    }
