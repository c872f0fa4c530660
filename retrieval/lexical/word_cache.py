"""Each chunk's BM25 words, kept beside the store so that opening a version does not tokenise every chunk.

Tokenising was the largest part of a cold start (40 of 77 s on a 100k-chunk store, `make bench-scale`'s
profile). Chunk ids name their content (source, offsets, a digest of the text), so a chunk's words never
change: one SQLite row per id, written by the ingest that writes the chunk, read by every process that
opens the index. The cache is derived data: a missing, stale or damaged one is filled from the chunks'
text (and a damaged file replaced), never an error, so a store from before it, a read-only disk or another
machine's ingest into a shared Chroma server all still answer, only slower to open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from contextlib import closing
from pathlib import Path
from typing import NamedTuple

from retrieval.text.words import tokens

# Readers fill in what an ingest elsewhere did not write; a busy writer makes them skip that, not wait.
_BUSY_MS = 200
_QUERY_IDS = 900  # SQLite's default limit on bound parameters is 999
# A chunk's first characters: whether it starts with its document's title (BM25 then indexes the title
# once) without reading its text. A title is one line, and longer than this only in damaged metadata.
HEAD_CHARS = 512


class Words(NamedTuple):
    """A chunk's words as tokens() gives them, and its first HEAD_CHARS characters."""

    words: tuple[str, ...]
    head: str

    @classmethod
    def of(cls, text: str) -> Words:
        """A chunk text's Words."""
        return cls(tuple(tokens(text)), text[:HEAD_CHARS])


class TokenCache:
    """chunk id -> the chunk text's Words, in one SQLite file per collection."""

    def __init__(self, path: Path, notice: Callable[[str], None] | None = None):
        self.path = path
        self.notice = notice

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=_BUSY_MS / 1000)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS chunk_words"
            " (id TEXT PRIMARY KEY, words TEXT NOT NULL, head TEXT NOT NULL)"
        )
        return connection

    def get(self, ids: Iterable[str]) -> dict[str, Words]:
        """The cached words of those ids that are cached (a damaged file is replaced and reads as empty)."""
        wanted = list(ids)
        found: dict[str, Words] = {}
        if not self.path.is_file():
            return found
        try:
            reading = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=_BUSY_MS / 1000)
            with closing(reading) as db:
                for begin in range(0, len(wanted), _QUERY_IDS):
                    part = wanted[begin : begin + _QUERY_IDS]
                    marks = ",".join("?" * len(part))
                    rows = db.execute(f"SELECT id, words, head FROM chunk_words WHERE id IN ({marks})", part)
                    found.update((cid, Words(tuple(words.split()), head)) for cid, words, head in rows)
        except sqlite3.OperationalError:  # busy or unreadable for now: what is missing is tokenised
            return found
        except sqlite3.DatabaseError as exc:  # not a database (damaged): replaced
            self._set_aside(exc)
            return {}
        return found

    def put(self, words: Mapping[str, Words]) -> bool:
        """Keep these chunks' words; False when the cache cannot be written now (it is only a cache)."""
        if not words:
            return True
        try:
            with closing(self._connect()) as db, db:
                db.executemany(
                    "INSERT OR IGNORE INTO chunk_words (id, words, head) VALUES (?, ?, ?)",
                    [(cid, " ".join(w.words), w.head) for cid, w in words.items()],
                )
        except sqlite3.OperationalError:  # busy, read-only or full: the next opening tokenises again
            return False
        except sqlite3.DatabaseError as exc:
            self._set_aside(exc)
            return False
        except OSError:
            return False
        return True

    def _set_aside(self, exc: Exception) -> None:
        """A damaged cache file is deleted (it holds nothing the chunks do not), and the reader told."""
        if self.notice:
            self.notice(f"The word cache {self.path} was unreadable ({exc}); it is rebuilt from the chunks.")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
