"""Loaders and ingest under limits, measured: a zip bomb's parser worker, and large text files' ingest.

    python -m bench.ingest_limits bomb                  # a ~4 MB .docx inflating to 4 GiB: the worker's peak
    python -m bench.ingest_limits heavy-page            # a 48 MB web page needing over 1 GiB: the limit holds
    /usr/bin/time -v python -m bench.ingest_limits text --shape one-line --mb 50 [--stand-in]
    /usr/bin/time -v python -m bench.ingest_limits text --shape short-lines --lines 1000000 [--stand-in]

`text` ingests one generated file into a fresh store (the real model, Chroma on disk) and prints the
seconds, chunks and sentences; run it under /usr/bin/time -v for the process's peak memory ("Maximum resident
set size"). --stand-in swaps the model's vectors for a constant one (still handed back as Python floats, as
the model's are), so the rest of the ingest (chunking, slicing, Chroma) is measured at full size without
hours of model time; the model's own rate is the first figure `text` prints without it.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MB = 1024 * 1024
_SENTENCE = "The envoy said the talks went well and that the offer still stands. "


def _worker_memory(pid: int) -> dict[str, int]:
    """A process's peak memory from /proc in MB: VmHWM (resident), VmPeak (address space); {} once gone."""
    found: dict[str, int] = {}
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return found
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmPeak"):
            found[f"{key}_mb"] = int(value.split()[0]) // 1024
    return found


def _bomb_docx(inflated: int) -> bytes:
    """A real .docx (python-docx) with one more member: `inflated` zero bytes, deflated (~1,000 to 1)."""
    import docx

    plain = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("An innocent cover page.")
    document.save(plain)
    source = zipfile.ZipFile(io.BytesIO(plain.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            archive.writestr(info, source.read(info))
        member = zipfile.ZipInfo("word/media/image1.bin")
        member.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(member, "w", force_zip64=True) as handle:
            block = bytes(MB)
            for _ in range(inflated // MB):
                handle.write(block)
    return out.getvalue()


def _read_in_worker(suffix: str, data: bytes) -> dict[str, Any]:
    """Read one file through a fresh parser worker; its reply and the worker's peak memory, sampled every
    20 ms while it reads (a worker out of memory ends itself, and its /proc entry with it)."""
    from retrieval.ingest.extraction import Extractor
    from retrieval.ingest.loaders import ExtractError

    with Extractor() as extractor:
        extractor.extract(".html", b"<p>The worker started.</p>")
        pid = extractor.worker_pid()
        assert pid is not None
        peak: dict[str, int] = _worker_memory(pid)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                for key, value in _worker_memory(pid).items():
                    peak[key] = max(peak.get(key, 0), value)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        began = time.perf_counter()
        try:
            extractor.extract(suffix, data)
            outcome = "read"
        except ExtractError as exc:
            outcome = f"failed: {exc}"
        seconds = time.perf_counter() - began
        for key, value in _worker_memory(pid).items():
            peak[key] = max(peak.get(key, 0), value)
        done.set()
        sampler.join()
    return {"outcome": outcome, "seconds": round(seconds, 2), "worker_peak": peak}


def bomb() -> dict[str, Any]:
    """A .docx whose member inflates to 4 GiB: refused from its declared sizes, the worker's peak."""
    began = time.perf_counter()
    data = _bomb_docx(4096 * MB)
    made = time.perf_counter() - began
    return {"file_mb": round(len(data) / MB, 2), "inflates_to_mb": 4096, "made_s": round(made, 1)} | (
        _read_in_worker(".docx", data)
    )


def heavy_page() -> dict[str, Any]:
    """A 48 MB web page of 6 million paragraphs (a tree of several GB): the worker's memory limit ends it."""
    data = b"<html><body>" + b"<p>x</p>" * 6_000_000 + b"</body></html>"
    return {"file_mb": round(len(data) / MB, 1)} | _read_in_worker(".html", data)


def _text(shape: str, mb: int, lines: int) -> str:
    """A one-line text of mb MB of sentences, or `lines` short lines with no sentence mark."""
    if shape == "one-line":
        size = mb * MB
        return (_SENTENCE * (size // len(_SENTENCE) + 1))[:size].strip()
    return "".join(f"line {n} of the service log\n" for n in range(lines))


def _stand_in(embedder: Any) -> None:
    """Vectors without the model: one constant unit vector per text, as lists of Python floats."""
    dimension = 384
    unit = [1.0 / dimension**0.5] * dimension

    def embed(texts: Sequence[str], progress: Callable[[int], None] | None = None) -> list[list[float]]:
        if progress:
            progress(len(texts))
        return [list(unit) for _ in texts]

    embedder.embed = embed


def text(shape: str, mb: int, lines: int, stand_in: bool) -> dict[str, Any]:
    """Ingest one generated text file into a fresh store; the seconds, chunks and sentences."""
    from retrieval.engine import Engine, EngineConfig
    from retrieval.store.records import StoreLocation

    work = Path(tempfile.mkdtemp(prefix="citebot-limits-"))
    folder = work / "docs"
    folder.mkdir()
    body = _text(shape, mb, lines)
    (folder / "big.txt").write_text(body, encoding="utf-8")
    size = len(body.encode("utf-8"))
    del body
    engine = Engine(EngineConfig(StoreLocation(work / "store", None), device="cpu"))
    engine.embedder.embed(["warm up"])  # the model loaded (and its variant chosen) before the clock starts
    sentences = 0
    if stand_in:
        _stand_in(engine.embedder)

    def progress(step: str, done: int, total: int | None = None) -> None:
        nonlocal sentences
        if step == "sentences":
            sentences += done

    began = time.perf_counter()
    summary = engine.ingest([folder], progress=progress)
    seconds = time.perf_counter() - began
    return {
        "shape": shape,
        "file_mb": round(size / MB, 1),
        "model": "stand-in (constant vectors)" if stand_in else engine.embedder.variant,
        "added": summary.added,
        "failed": summary.failures,
        "chunks": summary.chunks,
        "sentences": sentences,
        "ingest_s": round(seconds, 1),
        "sentences_per_s": round(sentences / seconds) if seconds else 0,
        "store": str(work),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["bomb", "heavy-page", "text"])
    parser.add_argument("--shape", choices=["one-line", "short-lines"], default="one-line")
    parser.add_argument("--mb", type=int, default=50, help="one-line: the file's size in MB")
    parser.add_argument("--lines", type=int, default=1_000_000, help="short-lines: how many")
    parser.add_argument("--stand-in", action="store_true", help="constant vectors instead of the model's")
    args = parser.parse_args()
    if args.what == "bomb":
        result = bomb()
    elif args.what == "heavy-page":
        result = heavy_page()
    else:
        result = text(args.shape, args.mb, args.lines, args.stand_in)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
