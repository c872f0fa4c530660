"""Chroma clients for a store location: embedded on disk, a server, or a private copy of a read-only store."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from retrieval.store.layout import CHROMA, DATABASE
from retrieval.store.records import StoreLocation

_CHECKS = threading.Lock()


@contextmanager
def _override_checks_skipped() -> Iterator[None]:
    """chromadb's modules loaded without the `overrides` package's signature checks, restored after.

    chromadb marks ~460 methods with overrides' @override, which checks each signature against its base class
    (bytecode and type inspection) as the class is created: on every start, for chromadb's own classes. Only
    the mark is kept. Measured (AMD EPYC, 2 cores, CPU seconds of `import chromadb` and opening a store,
    4 runs each under load): 0.78 s with the checks, 0.63 s without.
    """
    try:
        import overrides
        import overrides.overrides as module
    except ImportError:  # a chromadb that no longer needs it
        yield
        return

    def mark(method: Any = None, **_: Any) -> Any:
        if method is None:
            return mark
        method.__override__ = True
        return method

    with _CHECKS:
        saved: list[tuple[Any, str, Callable[..., Any]]] = [
            (owner, name, getattr(owner, name))
            for owner in (overrides, module)
            for name in ("override", "overrides")
            if hasattr(owner, name)
        ]
        for owner, name, _ in saved:
            setattr(owner, name, mark)
        try:
            yield
        finally:
            for owner, name, real in saved:
                setattr(owner, name, real)


def open_client(location: StoreLocation, read_only_copy: Path | None = None) -> Any:
    """The Chroma client of a location: its server's, or its folder's (or that folder's private copy)."""
    with _override_checks_skipped():
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False)
        if location.chroma_url:
            url = urlparse(location.chroma_url)
            port = url.port or (443 if url.scheme == "https" else 8000)
            return chromadb.HttpClient(
                host=url.hostname or "", port=port, ssl=url.scheme == "https", settings=settings
            )
        folder = read_only_copy or location.path / CHROMA
        return chromadb.PersistentClient(path=str(folder), settings=settings)


def forget_clients() -> None:
    """Drop Chroma's per-path client cache: a store folder whose files were moved must be opened anew."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def read_only_copy(path: Path) -> Path:
    """A private copy of a read-only store's Chroma folder (Chroma's engine writes to its files on open)."""
    copy = Path(tempfile.mkdtemp(prefix="citebot-read-only-")) / CHROMA
    shutil.copytree(path / CHROMA, copy)
    atexit.register(shutil.rmtree, copy.parent, ignore_errors=True)
    return copy


def writable(path: Path) -> bool:
    """Whether this process may write the store folder's Chroma database."""
    return os.access(path / CHROMA, os.W_OK) and os.access(path / DATABASE, os.W_OK)
