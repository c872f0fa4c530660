"""`make bench-formats`: the same SQuAD articles as .txt, PDF, Word and HTML, asked the same questions.

Issue 15. Also times PDF extraction and ingests every file in the shared documents folder, naming what
fails and why.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.data import DOCUMENTS, SQUAD, data_option, require
from bench.format_answers import ask_all, compare, document_texts, ingest
from bench.format_files import FORMATS, load_articles, render
from bench.format_pdf_speed import pdf_speed
from bench.format_real_documents import real_documents
from evaluation.datasets import sample
from evaluation.machine import describe
from retrieval.ingest.loaders import SUPPORTED_SUFFIXES

ROOT = Path(__file__).resolve().parent.parent
# The bar: each format's answer-sentence accuracy within this of the .txt's; PDF pages per second.
ACCURACY_BAR = 0.02
PDF_PAGES_PER_S_BAR = 20.0


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(squad_file: Path, documents: Path, count: int | None, cap: int | None, work: Path) -> dict[str, Any]:
    """Every measurement; returns the results."""
    if missing := {f".{fmt}" for fmt in FORMATS} - SUPPORTED_SUFFIXES:
        raise SystemExit(
            f"citebot reads no {', '.join(sorted(missing))} files here (retrieval/ingest/loaders/__init__.py)"
        )
    articles, questions = load_articles(squad_file, count)
    questions = sample(questions, cap)
    log(f"{len(articles)} articles, {len(questions)} questions: {', '.join(a.stem for a in articles)}")
    results: dict[str, Any] = {
        "articles": [{"file": a.stem, "scorer_test_article": a.test} for a in articles],
        "questions": len(questions),
        "rendering": render(articles, work),
        "formats": {},
    }
    outcomes: dict[str, dict[str, Any]] = {}
    texts: dict[str, dict[str, str]] = {}
    for fmt in FORMATS:
        log(f"{fmt}: ingesting")
        engine, ingested = ingest(work / fmt, work / f"store-{fmt}")
        log(f"{fmt}: {ingested['chunks']} chunks in {ingested['ingest_s']} s; asking")
        figures, outcomes[fmt] = ask_all(fmt, engine, questions)
        texts[fmt] = document_texts(engine)
        results["formats"][fmt] = ingested | figures
    results["against_txt"] = compare(questions, outcomes, texts)
    log("PDF extraction speed")
    rendered = sorted((work / "pdf").glob("*.pdf"))
    shared = sorted((documents / "pdf").glob("*.pdf"))
    results["pdf_speed"] = {"rendered": pdf_speed(rendered), "shared": pdf_speed(shared)}
    log(f"ingesting {documents}")
    results["documents"] = real_documents(documents, work / "store-documents")
    results["targets"] = targets(results)
    results["machine"] = describe()
    results["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
    return results


def targets(results: dict[str, Any]) -> dict[str, bool]:
    """Issue 15's four bars, met or not."""
    formats = results["formats"]
    base = formats["txt"]["answer_sentence_accuracy"]
    docs = results["documents"]
    rows = docs.get("files", []) if docs["crashed"] is None else []
    return {
        "accuracy_within_0.02_of_txt": all(
            abs(formats[f]["answer_sentence_accuracy"] - base) <= ACCURACY_BAR for f in FORMATS[1:]
        ),
        "every_citation_verifies_and_is_on_its_page": all(
            formats[f]["citations_verified"] == 1.0 for f in FORMATS
        )
        and formats["pdf"]["citations_on_named_page"] == 1.0,
        "pdf_pages_per_s_at_least_20": results["pdf_speed"]["rendered"]["pages_per_s"] >= PDF_PAGES_PER_S_BAR,
        "every_document_indexed_or_named": docs["crashed"] is None
        and all(r["status"] != "unaccounted" for r in rows),
    }


def markdown(results: dict[str, Any]) -> str:
    """The figures as Markdown tables."""
    formats = results["formats"]
    against = results["against_txt"]
    base = formats["txt"]["answer_sentence_accuracy"]

    def row(label: str, values: list[Any]) -> str:
        return f"| {label} | " + " | ".join(str(v) for v in values) + " |"

    def each(key: str) -> list[Any]:
        return [formats[f].get(key, "-") for f in FORMATS]

    lines = [
        "| measure | " + " | ".join(FORMATS) + " |",
        "|---" * (len(FORMATS) + 1) + "|",
        row("files / chunks", [f"{formats[f]['files']} / {formats[f]['chunks']}" for f in FORMATS]),
        row("answer-sentence accuracy (first quote holds the answer)", each("answer_sentence_accuracy")),
        row(
            "difference from txt",
            ["-"] + [f"{formats[f]['answer_sentence_accuracy'] - base:+.4f}" for f in FORMATS[1:]],
        ),
        row("first-sentence accuracy (bench.evaluate's reading)", each("first_sentence_accuracy")),
        row("passage hit@1 (top passage holds the answer)", each("passage_hit@1")),
        row("answered rate", each("answered_rate")),
        row(
            "right only in txt / only in this format",
            ["-"]
            + [f"{against[f]['lost_against_txt']} / {against[f]['gained_against_txt']}" for f in FORMATS[1:]],
        ),
        row(
            "of those only txt got right: its top passage held the answer, this one's not",
            ["-"] + [against[f]["lost_where_only_txt_top_passage_holds_answer"] for f in FORMATS[1:]],
        ),
        row(
            "same first quote as txt (whitespace aside)",
            ["-"] + [against[f]["same_quote_as_txt"] for f in FORMATS[1:]],
        ),
        row(
            "txt's paragraph breaks kept / lost / added",
            ["-"]
            + [
                "{kept} / {lost} / {added}".format(**against[f]["paragraph_breaks_of_txt"])
                for f in FORMATS[1:]
            ],
        ),
        row(
            "txt's first quotes cut by a paragraph break here (of them lost)",
            ["-"]
            + [
                f"{against[f]['txt_quotes_cut_by_a_break']} ({against[f]['lost_whose_txt_quote_is_cut']})"
                for f in FORMATS[1:]
            ],
        ),
        row("citations verified against text_path", each("citations_verified")),
        row("PDF citations on the page they name", each("citations_on_named_page")),
        row("chunks holding header, footer or navigation text", each("boilerplate_chunks")),
        row("ingest s", each("ingest_s")),
        row("answer p50 ms", each("answer_ms_p50")),
    ]
    speed = results["pdf_speed"]
    lines += [
        "",
        "| PDF extraction (ingest.loaders.pdf.extract, best of 3) | files | pages | seconds | pages/s |",
        "|---|---|---|---|---|",
    ]
    for name, label in (("rendered", "the rendered SQuAD PDFs"), ("shared", "shared/data/documents/pdf")):
        s = speed[name]
        lines.append(f"| {label} | {s['files']} | {s['pages']} | {s['seconds']} | {s['pages_per_s']} |")
    docs = results["documents"]
    lines += ["", "| document | status | chunks or reason |", "|---|---|---|"]
    if docs["crashed"]:
        lines.append(f"| (ingest) | crashed | {docs['crashed'].splitlines()[-1]} |")
    for r in docs.get("files", []) if not docs["crashed"] else []:
        detail = r.get("reason") or f"{r['chunks']} chunks"
        if r["status"] == "indexed" and not (r["chunks_verified"] and r.get("probe_verified", True)):
            detail += " (a chunk or citation does not verify)"
        lines.append(f"| {r['file']} | {r['status']} | {detail} |")
    lines += ["", "| target | met |", "|---|---|"]
    lines += [f"| {name} | {'yes' if met else 'no'} |" for name, met in results["targets"].items()]
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run, write the JSON, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--articles", type=int, default=None, help="articles to use (default: the 6 the scorer never saw)"
    )
    parser.add_argument("--questions", type=int, default=None, help="a fixed sample of this many questions")
    data_option(parser)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "formats.json")
    args = parser.parse_args()
    require("bench.formats", args.data)
    work = Path(tempfile.mkdtemp(prefix="citebot-formats-"))
    began = time.perf_counter()
    try:
        results = run(
            args.data / SQUAD,
            args.data / DOCUMENTS,
            args.articles,
            args.questions,
            work,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - began)
    results["command"] = "make bench-formats"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"Machine: {results['machine']}. {results['questions']} questions. Took {results['seconds']} s.\n")
    print(markdown(results))
    log(f"wrote {args.out}")
    if results["documents"]["crashed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
