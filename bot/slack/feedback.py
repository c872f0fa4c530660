"""Answers given in Slack and the votes on them, in a local SQLite file (listed by `citebot feedback`)."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrieval.citations import Answer

VOTES = ("helpful", "not_helpful")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY, question TEXT NOT NULL, answer_json TEXT NOT NULL,
    user TEXT, channel TEXT, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS votes (
    answer_id TEXT NOT NULL REFERENCES answers(id), user TEXT NOT NULL, vote TEXT NOT NULL,
    channel TEXT, created TEXT NOT NULL, PRIMARY KEY (answer_id, user)
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class FeedbackStore:
    """Thread-safe: Slack listeners run in a pool."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        with self._lock, self._db:
            self._db.executescript(_SCHEMA)

    def record_answer(self, answer: Answer, user: str | None, channel: str | None) -> str:
        """Keep an answer so its buttons can find it; returns its id."""
        answer_id = uuid.uuid4().hex[:16]
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                (answer_id, answer.question, answer.model_dump_json(), user, channel, _now()),
            )
        return answer_id

    def answer(self, answer_id: str) -> Answer | None:
        """An answer kept earlier, by id."""
        with self._lock:
            row = self._db.execute("SELECT answer_json FROM answers WHERE id = ?", (answer_id,)).fetchone()
        return Answer.model_validate_json(row[0]) if row else None

    def record_vote(self, answer_id: str, vote: str, user: str, channel: str | None) -> bool:
        """Store a vote (a later vote by the same user on the answer replaces it); False: unknown answer."""
        if vote not in VOTES:
            raise ValueError(f"vote must be one of {VOTES}")
        if self.answer(answer_id) is None:
            return False
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO votes VALUES (?, ?, ?, ?, ?)",
                (answer_id, user, vote, channel, _now()),
            )
        return True

    def votes(self) -> list[dict[str, Any]]:
        """Every vote with its question, answer and citation ids, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT v.created, v.vote, v.user, v.channel, a.question, a.answer_json "
                "FROM votes v JOIN answers a ON a.id = v.answer_id ORDER BY v.created DESC, a.id"
            ).fetchall()
        out = []
        for created, vote, user, channel, question, answer_json in rows:
            answer = Answer.model_validate_json(answer_json)
            out.append(
                {
                    "time": created,
                    "vote": vote,
                    "user": user,
                    "channel": channel,
                    "question": question,
                    "answer": answer.answer,
                    "citations": [c.id for c in answer.citations],
                }
            )
        return out

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
