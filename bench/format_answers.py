"""Each format's store asked the same questions; its answers and text compared with the .txt's."""

from __future__ import annotations

import difflib
import re
import time
from pathlib import Path
from typing import Any

from bench.format_checks import PageText, Verifier, squash
from bench.format_files import FORMATS, Question, boilerplate_in
from bench.systems import Citebot
from evaluation.metrics import contains_answer, first_sentence, percentile
from retrieval.engine import Engine, EngineConfig
from retrieval.store.chunk_store import StoreLocation
from retrieval.types import Answer

EXAMPLES = 8


def _rate(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def ingest(folder: Path, store: Path) -> tuple[Engine, dict[str, Any]]:
    """A fresh store with the folder ingested the normal way."""
    # The hand-set answerer, as the formats figures in BENCHMARKS.md were measured.
    engine = Engine(EngineConfig(StoreLocation(store), device="cpu", scorer=False))
    summary = engine.ingest([folder])
    return engine, {
        "files": summary.added,
        "failed": summary.failures + summary.skips,
        "chunks": summary.chunks,
        "ingest_s": round(summary.seconds, 2),
    }


def ask_all(fmt: str, engine: Engine, questions: list[Question]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every question asked of one format's store: the figures, and each question's first quote."""
    system = Citebot(engine)
    verifier, pages = Verifier(), PageText()
    quote_right = sentence_right = hit1 = answered = cited = verified = on_page = paged = 0
    latencies: list[float] = []
    outcomes: dict[str, Any] = {}
    page_misses: list[dict[str, Any]] = []
    for q in questions:
        began = time.perf_counter()
        answer: Answer = system.chain.invoke(q.text)
        latencies.append((time.perf_counter() - began) * 1000)
        first = answer.citations[0] if answer.citations else None
        # The quote, not the offsets, is judged: offsets are into each format's own text.
        right = first is not None and contains_answer(first.quote, q.answers)
        quote_right += right
        sentence_right += not answer.abstained and contains_answer(first_sentence(answer.answer), q.answers)
        top = answer.passages[0] if answer.passages else None
        hit = top is not None and Path(top.source).stem == q.article and contains_answer(top.text, q.answers)
        hit1 += hit
        answered += not answer.abstained
        for citation in answer.citations:
            cited += 1
            verified += verifier.verifies(citation)
            if fmt == "pdf":
                paged += 1
                held = pages.holds(citation)
                on_page += held
                if not held and len(page_misses) < EXAMPLES:
                    page_misses.append(
                        {
                            "question": q.text,
                            "quote": citation.quote,
                            "page": citation.page,
                            "location": citation.location,
                            "found_on_pages": pages.found_on(citation),
                        }
                    )
        outcomes[q.id] = {
            "right": right,
            "quote": first.quote if first else "",
            "source": first.source if first else "",
            "location": first.location if first else "",
            "abstained": answer.abstained,
            "top_passage_holds_answer": hit,
        }
    n = len(questions)
    figures: dict[str, Any] = {
        "questions": n,
        "answer_sentence_accuracy": _rate(quote_right, n),
        "first_sentence_accuracy": _rate(sentence_right, n),
        "passage_hit@1": _rate(hit1, n),
        "answered_rate": _rate(answered, n),
        "citations": cited,
        "citations_verified": _rate(verified, cited),
        "answer_ms_p50": round(percentile(latencies, 50), 1),
    }
    if fmt == "pdf":
        figures["citations_on_named_page"] = _rate(on_page, paged)
        figures["examples_off_page"] = page_misses
    figures["boilerplate_chunks"] = sum(boilerplate_in(c.text, fmt) for c in engine.corpus.chunks)
    return figures, outcomes


def document_texts(engine: Engine) -> dict[str, str]:
    """Each indexed document's text as citebot holds it (its text_path), by file stem."""
    texts: dict[str, str] = {}
    for record in engine.store.documents().values():
        with open(record.text_file(engine.config.location.path), encoding="utf-8", newline="") as handle:
            texts[Path(record.source).stem] = handle.read()
    return texts


# Marks a paragraph break as a word of its own, so a quote cut by one can be told from one that is whole.
_BREAK = "\x00"


class BreakMarked:
    """A document's text with single spaces, paragraph breaks kept as marks; and without the marks."""

    def __init__(self, text: str) -> None:
        self.marked = " ".join(text.replace("\n\n", f" {_BREAK} ").split())
        self.plain = self.marked.replace(f" {_BREAK} ", " ")

    def cut(self, quote: str) -> bool | None:
        """Whether a paragraph break cuts the quote (True), it is whole (False) or it is not there (None)."""
        spaced = " ".join(quote.split())
        if spaced in self.marked:
            return False
        return True if spaced in self.plain else None


def paragraph_breaks(base: str, other: str) -> dict[str, int]:
    """Paragraph breaks of the .txt kept in another format's text, lost there, and added there."""
    words, theirs = re.findall(r"\n\n|\S+", base), re.findall(r"\n\n|\S+", other)
    counts = {"kept": 0, "lost": 0, "added": 0}
    matcher = difflib.SequenceMatcher(None, words, theirs, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            counts["kept"] += words[i1:i2].count("\n\n")
        else:
            counts["lost"] += words[i1:i2].count("\n\n")
            counts["added"] += theirs[j1:j2].count("\n\n")
    return counts


def _cut(
    txt_outcome: dict[str, Any], marked: dict[str, BreakMarked], own: dict[str, BreakMarked]
) -> bool | None:
    """Whether a paragraph break cuts the .txt's first quote in another format's text of its document (None
    where the quote is not there, or the .txt's own text has a break in it: a quote over two paragraphs)."""
    stem, quote = Path(txt_outcome["source"]).stem, txt_outcome["quote"]
    if not quote or stem not in marked or own[stem].cut(quote) is not False:
        return None
    return marked[stem].cut(quote)


def compare(
    questions: list[Question], outcomes: dict[str, dict[str, Any]], texts: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """Per format against .txt: questions only one got right, same first quote, txt's quotes that a
    paragraph break cuts in the format's text, and examples."""
    base = outcomes["txt"]
    own = {stem: BreakMarked(text) for stem, text in texts["txt"].items()}
    out: dict[str, Any] = {}
    for fmt in FORMATS[1:]:
        mine = outcomes[fmt]
        marked = {stem: BreakMarked(text) for stem, text in texts[fmt].items()}
        cuts = {q.id: _cut(base[q.id], marked, own) for q in questions}
        lost = [q for q in questions if base[q.id]["right"] and not mine[q.id]["right"]]
        gained = [q for q in questions if mine[q.id]["right"] and not base[q.id]["right"]]
        same = sum(squash(base[q.id]["quote"]) == squash(mine[q.id]["quote"]) for q in questions)
        breaks = {"kept": 0, "lost": 0, "added": 0}
        for stem, text in texts["txt"].items():
            for key, count in paragraph_breaks(text, texts[fmt].get(stem, "")).items():
                breaks[key] += count
        out[fmt] = {
            "lost_against_txt": len(lost),
            "gained_against_txt": len(gained),
            "same_quote_as_txt": _rate(same, len(questions)),
            "paragraph_breaks_of_txt": breaks,
            "txt_quotes_cut_by_a_break": sum(cut is True for cut in cuts.values()),
            "lost_whose_txt_quote_is_cut": sum(cuts[q.id] is True for q in lost),
            "lost_where_only_txt_top_passage_holds_answer": sum(
                base[q.id]["top_passage_holds_answer"] and not mine[q.id]["top_passage_holds_answer"]
                for q in lost
            ),
            "examples_lost": [
                {
                    "question": q.text,
                    "answers": list(q.answers),
                    "txt_quote": base[q.id]["quote"],
                    f"{fmt}_quote": mine[q.id]["quote"],
                    f"{fmt}_location": mine[q.id]["location"],
                    f"{fmt}_abstained": mine[q.id]["abstained"],
                    "txt_quote_cut_by_a_break": cuts[q.id],
                    "top_passage_holds_answer": {
                        "txt": base[q.id]["top_passage_holds_answer"],
                        fmt: mine[q.id]["top_passage_holds_answer"],
                    },
                }
                for q in lost[:EXAMPLES]
            ],
        }
    return out
