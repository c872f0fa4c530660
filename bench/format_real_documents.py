"""The shared documents folder ingested: each file indexed, its citations checked, or named with why."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from bench.format_checks import PageText, Verifier
from bench.systems import Citebot
from retrieval.engine import Engine, EngineConfig
from retrieval.ingest.loaders import SUPPORTED_SUFFIXES
from retrieval.store.chunk_store import StoreLocation


def _reason(source: str, messages: list[str]) -> str | None:
    prefix = f"{source}: "
    return next((m[len(prefix) :] for m in messages if m.startswith(prefix)), None)


def probe_question(text: str) -> str:
    """A question made from a document's first words: something to ask so its citations can be checked."""
    words = text.split()[:12]
    return " ".join(words) + "?" if words else ""


def real_documents(folder: Path, store: Path) -> dict[str, Any]:
    """Every file in the shared documents folder ingested at once: indexed (chunks) or named with a reason."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    try:
        engine = Engine(EngineConfig(StoreLocation(store), device="cpu"))
        summary = engine.ingest([folder])
    except Exception:  # the figure this set exists for: nothing may take the ingest down
        return {"crashed": traceback.format_exc(), "files": [str(p.relative_to(folder)) for p in files]}
    records = engine.store.documents()
    system, verifier, pages = Citebot(engine), Verifier(), PageText()
    rows: list[dict[str, Any]] = []
    for path in files:
        source = path.relative_to(folder).as_posix()
        row: dict[str, Any] = {"file": source}
        if source in records:
            record = records[source]
            text_path = record.text_file(engine.config.location.path)
            with open(text_path, encoding="utf-8", newline="") as handle:
                text = handle.read()
            chunks = engine.store.get_chunks(list(record.chunk_ids))
            row |= {
                "status": "indexed",
                "chunks": len(chunks),
                "characters": len(text),
                "chunks_verified": all(text[c.start : c.end] == c.text for c in chunks),
            }
            ordered = sorted(chunks, key=lambda c: c.start)
            question = probe_question(ordered[0].text) if ordered else ""
            if question:
                answer = system.chain.invoke(question)
                row["probe_citations"] = len(answer.citations)
                row["probe_verified"] = all(verifier.verifies(c) for c in answer.citations)
                pdf_cited = [c for c in answer.citations if c.source.endswith(".pdf")]
                if pdf_cited:
                    row["probe_on_named_page"] = all(pages.holds(c) for c in pdf_cited)
        elif (why := _reason(source, summary.failures)) is not None:
            row |= {"status": "failed", "reason": why}
        elif (why := _reason(source, summary.skips)) is not None:
            row |= {"status": "skipped", "reason": why}
        elif path.suffix.lower() not in SUPPORTED_SUFFIXES:
            row |= {"status": "ignored", "reason": "not a type citebot reads"}
        else:
            row |= {"status": "unaccounted", "reason": "neither indexed nor named in the ingest summary"}
        rows.append(row)
    return {"crashed": None, "summary": summary.as_json(), "files": rows}
