"""Whether a cited file is still the version indexed: a stat per answer, a hash only after a change."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from retrieval.store.chunk_store import DocRecord
from retrieval.store.no_follow import MAX_CHECKED_BYTES, read_regular_file
from retrieval.text.content import fingerprint
from retrieval.types import Answer, Citation

# A file's version as stat tells it, and whether that version hashed to the record's sha256.
_Seen = tuple[int, int, str, bool]


class Freshness:
    """Marks citations whose file changed or vanished since ingest as stale (the quote is the indexed one)."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}
        self._lock = threading.Lock()

    def is_fresh(self, record: DocRecord) -> bool:
        """Whether the file on disk is still the indexed version."""
        try:
            info = os.stat(record.path)
        except OSError:
            return False
        with self._lock:
            seen = self._seen.get(record.path)
        if seen and seen[:3] == (info.st_mtime_ns, info.st_size, record.sha256):
            return seen[3]
        try:
            fresh = fingerprint(read_regular_file(Path(record.path), MAX_CHECKED_BYTES)) == record.sha256
        except OSError:  # gone, a link on its path now, no longer a regular file, or grown past the cap
            return False
        with self._lock:
            self._seen[record.path] = (info.st_mtime_ns, info.st_size, record.sha256, fresh)
        return fresh

    def mark(self, answer: Answer, record_of: Callable[[Citation], DocRecord | None]) -> Answer:
        """The answer with `stale` set on each citation whose file is no longer the indexed version."""
        if not answer.citations:
            return answer
        fresh: dict[str, bool] = {}
        for citation in answer.citations:
            record = record_of(citation)
            if record is not None and record.path not in fresh:
                fresh[record.path] = self.is_fresh(record)
        stale = [c.model_copy(update={"stale": not fresh.get(c.path, True)}) for c in answer.citations]
        return answer.model_copy(update={"citations": stale})
