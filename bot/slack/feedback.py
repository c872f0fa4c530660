"""Answers given in Slack, the votes on them and the hand-offs to people, in a local SQLite file (votes are
listed by `citebot feedback`).

Each vote also keeps what it says to the ranking (vote_targets): for each document the answer cited in a
collection the voting channel could read when the vote was given, +1 (helpful) or -1 (not helpful), with
the query retrieval searched. Every engine of the store reads those (VotesOnDisk), so a vote helps everyone
who reads that collection; `citebot feedback --reset` clears them, the votes themselves stay listed. Votes
given before vote_targets existed change no ranking (which channel could read what then is not known).

A file made before hand-offs or vote targets existed gains their tables when opened (CREATE TABLE IF NOT
EXISTS, once the file is checked to be citebot's); nothing else in it changes.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrieval.search.feedback_boost import Vote
from retrieval.types import Answer

log = logging.getLogger("citebot.slack")

VOTES = ("helpful", "not_helpful")
IS_FOLDER = "The feedback database {path} is a folder; set CITEBOT_SLACK_FEEDBACK_DB to a file path"
NO_FOLDER = "Cannot create the folder for the feedback database {path}: {reason}"
UNREADABLE = "The feedback database {path} cannot be used: {reason}"
FOREIGN_TABLES = "it has tables citebot never made ({tables})"
# Every column the queries below name, so a foreign SQLite file fails at open rather than at the first vote.
_COLUMNS = {
    "answers": "SELECT id, question, answer_json, user, channel, created FROM answers LIMIT 0",
    "votes": "SELECT answer_id, user, vote, channel, created FROM votes LIMIT 0",
    "handoffs": "SELECT answer_id, user, channel, target, outcome, created FROM handoffs LIMIT 0",
    "vote_targets": "SELECT answer_id, user, collection, source, value, query FROM vote_targets LIMIT 0",
}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY, question TEXT NOT NULL, answer_json TEXT NOT NULL,
    user TEXT, channel TEXT, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS votes (
    answer_id TEXT NOT NULL REFERENCES answers(id), user TEXT NOT NULL, vote TEXT NOT NULL,
    channel TEXT, created TEXT NOT NULL, PRIMARY KEY (answer_id, user)
);
CREATE TABLE IF NOT EXISTS handoffs (
    answer_id TEXT NOT NULL REFERENCES answers(id), user TEXT NOT NULL, channel TEXT,
    target TEXT NOT NULL, outcome TEXT NOT NULL, created TEXT NOT NULL, PRIMARY KEY (answer_id, user)
);
CREATE TABLE IF NOT EXISTS vote_targets (
    answer_id TEXT NOT NULL REFERENCES answers(id), user TEXT NOT NULL, collection TEXT NOT NULL,
    source TEXT NOT NULL, value INTEGER NOT NULL, query TEXT NOT NULL,
    PRIMARY KEY (answer_id, user, collection, source)
);
"""
_RANKING = "SELECT query, collection, source, value, user FROM vote_targets ORDER BY answer_id, user, source"


def _votes(rows: Iterable[tuple[Any, ...]]) -> tuple[Vote, ...]:
    """vote_targets rows as read by _RANKING, as the ranking's Votes."""
    return tuple(Vote(str(q), str(c), str(s), int(v), str(u)) for q, c, s, v, u in rows)


class FeedbackError(Exception):
    """The feedback database cannot be opened or used: not SQLite, not citebot's, locked, unreadable."""


class FeedbackPathError(FeedbackError):
    """The path given for the feedback database cannot hold one (a folder, a file where a folder must be)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class FeedbackStore:
    """Thread-safe: Slack listeners run in a pool."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the database and check it is citebot's; FeedbackError names the file if not."""
        if path.is_dir():
            raise FeedbackPathError(IS_FOLDER.format(path=path))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            # mkdir says "File exists" / "Not a directory" when a file stands where a folder must be.
            blocked = isinstance(exc, FileExistsError | NotADirectoryError)
            reason = "a file is in the way" if blocked else exc.strerror or exc
            raise FeedbackPathError(NO_FOLDER.format(path=path, reason=reason)) from exc
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False)
        except sqlite3.Error as exc:
            raise FeedbackError(UNREADABLE.format(path=path, reason=exc)) from exc
        try:
            with self._lock:
                self._check()
                self._db.executescript(_SCHEMA)
        except (sqlite3.Error, FeedbackError) as exc:
            self._db.close()
            raise FeedbackError(UNREADABLE.format(path=path, reason=exc)) from exc

    def _check(self) -> None:
        """Read before writing anything: a file that is not citebot's is refused as it was found."""
        # Garbage bytes fail here with "file is not a database"; a table of ours with other columns fails
        # its query with "no such column: ..."; someone else's database has tables of its own.
        names = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        tables = {name for (name,) in names if not name.startswith("sqlite_")}
        if foreign := sorted(tables - set(_COLUMNS)):
            raise FeedbackError(FOREIGN_TABLES.format(tables=", ".join(foreign)))
        for table in tables:
            self._db.execute(_COLUMNS[table])

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

    def record_vote(
        self,
        answer_id: str,
        vote: str,
        user: str,
        channel: str | None,
        targets: Iterable[tuple[str, str]] = (),
    ) -> bool:
        """Store a vote (a later vote by the same user on the answer replaces it); False: unknown answer.

        targets: the (collection, document) pairs the vote speaks for in the ranking; the caller keeps to
        the collections the voting channel can read.
        """
        if vote not in VOTES:
            raise ValueError(f"vote must be one of {VOTES}")
        answer = self.answer(answer_id)
        if answer is None:
            return False
        value = 1 if vote == "helpful" else -1
        query = answer.retrieval_query or answer.question
        rows = [(answer_id, user, name, source, value, query) for name, source in dict.fromkeys(targets)]
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO votes VALUES (?, ?, ?, ?, ?)",
                (answer_id, user, vote, channel, _now()),
            )
            self._db.execute("DELETE FROM vote_targets WHERE answer_id = ? AND user = ?", (answer_id, user))
            self._db.executemany("INSERT INTO vote_targets VALUES (?, ?, ?, ?, ?, ?)", rows)
        return True

    def ranking_votes(self) -> tuple[Vote, ...]:
        """What the votes say to the ranking: one Vote per voter, answer and cited document."""
        try:
            with self._lock:
                rows = self._db.execute(_RANKING).fetchall()
        except sqlite3.Error as exc:
            raise FeedbackError(UNREADABLE.format(path=self.path, reason=exc)) from exc
        return _votes(rows)

    def reset_adjustments(self, collection: str | None = None) -> int:
        """Take the votes' effect on the ranking away (of one collection, or all); how many targets went.
        The votes themselves stay listed."""
        where, args = ("WHERE collection = ?", (collection,)) if collection is not None else ("", ())
        with self._lock, self._db:
            return self._db.execute(f"DELETE FROM vote_targets {where}", args).rowcount

    def handed_off(self, answer_id: str, user: str) -> str | None:
        """Where a user already asked for help with an answer, if they did (None: not yet, or it failed)."""
        with self._lock:
            row = self._db.execute(
                "SELECT target FROM handoffs WHERE answer_id = ? AND user = ? AND outcome = 'asked'",
                (answer_id, user),
            ).fetchone()
        return str(row[0]) if row else None

    def record_handoff(
        self, answer_id: str, user: str, channel: str | None, target: str, outcome: str
    ) -> None:
        """Keep a hand-off beside the votes: who asked for help with which answer, where, and what came of
        it ("asked", or Slack's error such as "not_in_channel"); a later try by the same user replaces it."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO handoffs VALUES (?, ?, ?, ?, ?, ?)",
                (answer_id, user, channel, target, outcome, _now()),
            )

    def handoffs(self) -> list[dict[str, Any]]:
        """Every hand-off with its question, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT h.created, h.user, h.channel, h.target, h.outcome, a.question "
                "FROM handoffs h JOIN answers a ON a.id = h.answer_id ORDER BY h.created DESC, a.id"
            ).fetchall()
        keys = ("time", "user", "channel", "target", "outcome", "question")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def votes(self) -> list[dict[str, Any]]:
        """Every vote with its question, answer and citation ids, newest first."""
        try:
            with self._lock:
                rows = self._db.execute(
                    "SELECT v.created, v.vote, v.user, v.channel, a.question, a.answer_json "
                    "FROM votes v JOIN answers a ON a.id = v.answer_id ORDER BY v.created DESC, a.id"
                ).fetchall()
        except sqlite3.Error as exc:  # damage past the header: "database disk image is malformed"
            raise FeedbackError(UNREADABLE.format(path=self.path, reason=exc)) from exc
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


class VotesOnDisk:
    """The ranking votes of a feedback file as an engine reads them before each question: read again only
    when the file changed (its size and modification time), the same tuple otherwise; no file, no votes.

    A file that cannot be read gives no votes (logged once): feedback must never stop an answer.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, bytes] | None = None
        self._votes: tuple[Vote, ...] = ()
        self._warned = False

    def __call__(self) -> tuple[Vote, ...]:
        """The votes as the file holds them now."""
        try:
            info = os.stat(self.path)
            with open(self.path, "rb") as handle:
                # SQLite's file change counter (header bytes 24-27), bumped by every committed write in
                # its default journal mode: two votes within one mtime tick still read as a change.
                counter = handle.read(28)[24:]
        except OSError:
            return ()
        stamp = (info.st_mtime_ns, info.st_size, counter)
        with self._lock:
            if stamp != self._stamp:
                self._votes = self._read()
                self._stamp = stamp
            return self._votes

    def _read(self) -> tuple[Vote, ...]:
        try:
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error:
            return ()
        try:
            return _votes(db.execute(_RANKING))
        except sqlite3.Error as exc:  # no vote_targets yet (an older file), or damage
            if "no such table" not in str(exc) and not self._warned:
                log.warning("feedback votes not read from %s: %s", self.path, exc)
                self._warned = True
            return ()
        finally:
            db.close()
