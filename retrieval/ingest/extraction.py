"""Parsing PDF, Word, PowerPoint and HTML files in a worker process, so one that hangs or crashes is one file.

A C parser (pdfium) can loop forever or take the process down on a hostile file; neither can be stopped from
a thread. The worker is started once per ingest (spawned, not forked: the ingesting process runs onnxruntime
and Chroma threads), killed when a file runs over its time limit, and started again for the next file.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import multiprocessing.connection
from multiprocessing.process import BaseProcess
from typing import Any

from retrieval.ingest.loaders import LIBRARIES, PLAIN_SUFFIXES, Extracted, ExtractError, NoText, extract

DEFAULT_TIME_LIMIT_S = 60.0
# Starting a worker (a fresh interpreter) is not parsing: it gets its own, generous, limit.
_START_LIMIT_S = 120.0


def _serve(connection: multiprocessing.connection.Connection) -> None:
    """The worker: say it is ready, then answer each (suffix, bytes): ("ok" | "empty" | "error", value)."""
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
        try:
            reply: tuple[str, Any] = ("ok", extract(suffix, data))
        except NoText as exc:
            reply = ("empty", str(exc))
        except ExtractError as exc:
            reply = ("error", str(exc))
        except Exception as exc:  # a parser's own bug: still one file's failure, named, not the ingest's
            reply = ("error", f"the parser failed ({type(exc).__name__}: {str(exc)[:200]})")
        connection.send(reply)


class Extractor:
    """Reads documents through a worker process, each under a time limit; plain text is read here."""

    def __init__(self, time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> None:
        self.time_limit_s = time_limit_s
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
            raise ExtractError(f"the parser crashed on it (worker exit code {code})") from exc
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
        process = context.Process(target=_serve, args=(theirs,), name="citebot-extract", daemon=True)
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

    def close(self) -> None:
        """Stop the worker, if one was started."""
        self._stop(kill=False)

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
