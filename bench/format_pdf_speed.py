"""PDF pages counted, and the pages per second citebot's PDF loader extracts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from retrieval.ingest.loaders import ExtractError


def pdf_page_count(data: bytes) -> int:
    """Pages in a PDF, by pypdfium2 (0 when it cannot be opened)."""
    import pypdfium2

    try:
        return len(pypdfium2.PdfDocument(data))
    except pypdfium2.PdfiumError:
        return 0


def pdf_speed(paths: list[Path], rounds: int = 3) -> dict[str, Any]:
    """Pages per second of citebot's PDF loader, in this process, best of rounds over the whole set."""
    import retrieval.ingest.loaders.pdf as pdf_loader

    files = [(p, p.read_bytes()) for p in paths]
    readable: list[tuple[Path, bytes]] = []
    failed: dict[str, str] = {}
    for path, data in files:
        try:
            pdf_loader.extract(data)  # also the warm-up: imports, pdfium's first load
            readable.append((path, data))
        except ExtractError as exc:
            failed[path.name] = str(exc)
    pages = sum(pdf_page_count(data) for _, data in readable)
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        for _, data in readable:
            pdf_loader.extract(data)
        best = min(best, time.perf_counter() - began)
    return {
        "files": len(readable),
        "pages": pages,
        "seconds": round(best, 3),
        "pages_per_s": round(pages / best, 1) if best > 0 else 0.0,
        "failed": failed,
    }
