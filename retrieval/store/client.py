"""Chroma clients for a store location: embedded on disk, a server, or a private copy of a read-only store."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from retrieval.store.layout import CHROMA, DATABASE
from retrieval.store.records import StoreLocation


def open_client(location: StoreLocation, read_only_copy: Path | None = None) -> Any:
    """The Chroma client of a location: its server's, or its folder's (or that folder's private copy)."""
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
