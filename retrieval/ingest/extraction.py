"""Parsing PDF, Word, PowerPoint and HTML files in a worker process, so one that hangs or crashes is one file.

A C parser (pdfium) can loop forever or take the process down on a hostile file; neither can be stopped from
a thread; a hostile file can also ask for gigabytes (a zip bomb, a deeply repetitive page). The worker is
started once per ingest (spawned, not forked: the ingesting process runs onnxruntime and Chroma threads), runs
under an address-space limit, is killed when a file runs over its time limit or past its memory, and is
started again for the next file.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import multiprocessing
import multiprocessing.connection
import signal
from multiprocessing.process import BaseProcess
from typing import Any

from retrieval.ingest.loaders import LIBRARIES, PLAIN_SUFFIXES, Extracted, ExtractError, NoText, extract

DEFAULT_TIME_LIMIT_S = 60.0
# The worker's address space (RLIMIT_AS), its whole interpreter and parsers included. Measured (VmSize): 73 MB
# once started with every parser imported, 85 MB after reading every file of ../shared/data/documents, 176 MB
# peak for a 6.4 MB .docx of 13 million characters (a 14 MB document.xml); a 50 MB file (the size cap) is
# held twice while it crosses the pipe. 1 GiB is ~6 times the largest real file measured, and is the bound the
# issue set for a zip bomb's worker: past it an allocation fails and the file fails, alone.
DEFAULT_MEMORY_LIMIT_BYTES = 1024 * 1024 * 1024
# Starting a worker (a fresh interpreter) is not parsing: it gets its own, generous, limit.
_START_LIMIT_S = 120.0


def _limit_memory(limit_bytes: int) -> None:
    """Cap this process's address space (not where the resource module or the limit cannot be had)."""
    try:
        import resource
    except ImportError:  # Windows: the time limit still holds
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    bound = limit_bytes if hard == resource.RLIM_INFINITY else min(limit_bytes, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (bound, hard))


def _out_of_memory(exc: BaseException) -> bool:
    """Whether a failure was, or was caused by, an allocation that failed (loaders wrap what they catch)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, MemoryError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _mib(count: int) -> str:
    """A byte count in whole MiB or GiB: "1 GiB", "256 MiB"."""
    return f"{count / 2**30:g} GiB" if count >= 2**30 else f"{math.ceil(count / 2**20)} MiB"


def _why_crashed(code: int | None) -> str:
    """A hint for a worker ended by a signal that a C parser's failed allocation raises (abort, segfault)."""
    if code is not None and -code in (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS):
        return "; a file that needs more memory than the parser's limit can end so"
    return ""


def _serve(connection: multiprocessing.connection.Connection, memory_limit_bytes: int) -> None:
    """The worker: say it is ready, then answer each (suffix, bytes): ("ok" | "empty" | "error" | "fatal",
    value); after "fatal" (out of memory: its heap may be in any state) it ends."""
    _limit_memory(memory_limit_bytes)
    for library in LIBRARIES:
        # A library that will not import fails its format's files, each with the reason, when read.
        with contextlib.suppress(ImportError):
            importlib.import_module(library)
    connection.send(("ready", None))
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        if request is None:
            return
        suffix, data = request
        del request
        try:
            reply: tuple[str, Any] = ("ok", extract(suffix, data))
        except Exception as exc:
            reply = _failure(exc, memory_limit_bytes)
        del data
        connection.send(reply)
        if reply[0] == "fatal":
            return


def _failure(exc: Exception, memory_limit_bytes: int) -> tuple[str, str]:
    """The worker's reply for a file whose reading failed."""
    if _out_of_memory(exc):
        return "fatal", f"reading it needed more than the parser's {_mib(memory_limit_bytes)} memory limit"
    if isinstance(exc, NoText):
        return "empty", str(exc)
    if isinstance(exc, ExtractError):
        return "error", str(exc)
    # A parser's own bug: still one file's failure, named, not the ingest's.
    return "error", f"the parser failed ({type(exc).__name__}: {str(exc)[:200]})"


class Extractor:
    """Reads documents through a worker process, each under a time and a memory limit; plain text is read
    here."""

    def __init__(
        self, time_limit_s: float = DEFAULT_TIME_LIMIT_S, memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES
    ) -> None:
        self.time_limit_s = time_limit_s
        self.memory_limit_bytes = memory_limit_bytes
        self._process: BaseProcess | None = None
        self._connection: multiprocessing.connection.Connection | None = None

    def extract(self, suffix: str, data: bytes) -> Extracted:
        """The file's text and places; NoText, or ExtractError with why (time limit and crash included)."""
        if suffix.lower() in PLAIN_SUFFIXES:
            return extract(suffix, data)
        connection = self._worker()
        try:
            connection.send((suffix, data))
            if not connection.poll(self.time_limit_s):
                self._stop(kill=True)
                raise ExtractError(f"reading it took longer than the {self.time_limit_s:g} s limit")
            status, value = connection.recv()
        except (EOFError, OSError, BrokenPipeError) as exc:
            code = self._process.exitcode if self._process else None
            self._stop(kill=True)
            why = _why_crashed(code)
            raise ExtractError(f"the parser crashed on it (worker exit code {code}{why})") from exc
        if status == "fatal":
            self._stop(kill=True)
            raise ExtractError(str(value))
        if status == "empty":
            raise NoText(str(value))
        if status == "error":
            raise ExtractError(str(value))
        extracted: Extracted = value
        return extracted

    def _worker(self) -> multiprocessing.connection.Connection:
        if self._process is not None and self._process.is_alive() and self._connection is not None:
            return self._connection
        self._stop(kill=True)
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve, args=(theirs, self.memory_limit_bytes), name="citebot-extract", daemon=True
        )
        process.start()
        theirs.close()
        self._process, self._connection = process, ours
        try:
            started = ours.poll(_START_LIMIT_S) and ours.recv()[0] == "ready"
        except (EOFError, OSError):
            started = False
        if not started:
            self._stop(kill=True)
            raise ExtractError("the document parser could not be started")
        return ours

    def _stop(self, kill: bool) -> None:
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if connection is not None:
            try:
                if not kill:
                    connection.send(None)
            except OSError:
                pass
            connection.close()
        if process is not None:
            if kill:
                process.kill()
            process.join(timeout=5)
            if process.exitcode is not None:
                process.close()  # its sentinel is a file descriptor: many ingests must not pile them up

    def worker_pid(self) -> int | None:
        """The running worker's process id (benchmarks read its memory); None when none runs."""
        return self._process.pid if self._process is not None else None

    def close(self) -> None:
        """Stop the worker, if one was started."""
        self._stop(kill=False)

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
