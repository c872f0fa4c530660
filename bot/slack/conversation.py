"""Reading Slack messages: the question in a mention, and a thread's earlier turns for follow-ups."""

from __future__ import annotations

import html
import re
from typing import Any

from retrieval.conversation import Turn

ANSWER_EVENT = "citebot_answer"
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]*))?>")
# The one rule of a "questions" channel (scopes.py's mode): a message asks something when it ends in "?" or
# its first word is a question word; an auxiliary verb counts only when "not" does not follow it ("Do not
# push on Fridays." states a rule, "Do we push on Fridays" asks).
QUESTION_WORDS = frozenset(["who", "whom", "whose", "what", "when", "where", "which", "why", "how"])
QUESTION_VERBS = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "am",
        "do",
        "does",
        "did",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "has",
        "have",
        "had",
    ]
)
_WORD = re.compile(r"[a-z']+")


def question_text(text: str) -> str:
    """A message's text as the question: mentions removed, links and Slack escapes made plain."""
    text = _MENTION.sub(" ", text or "")
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    return " ".join(html.unescape(text).split())


def is_question(text: str) -> bool:
    """Whether a message (as question_text leaves it) asks something: QUESTION_WORDS' rule."""
    text = text.strip()
    if text.rstrip(" \t\"')*_~").endswith("?"):
        return True
    words = _WORD.findall(text.lower())[:2]
    if not words:
        return False
    if words[0] in QUESTION_WORDS:
        return True
    return words[0] in QUESTION_VERBS and (len(words) < 2 or words[1] != "not")


def answer_metadata(
    question: str, cited: list[str], answer_id: str, query: str | None = None
) -> dict[str, Any]:
    """Metadata on every answer: what was asked, cited and searched for, for follow-ups in the thread."""
    payload: dict[str, Any] = {"question": question, "cited": cited, "answer_id": answer_id}
    if query:
        payload["query"] = query
    return {"event_type": ANSWER_EVENT, "event_payload": payload}


def thread_turns(messages: list[dict[str, Any]], before_ts: str, bot_user_id: str | None) -> list[Turn]:
    """Earlier turns of a thread (oldest first): people's questions, with the citations citebot answered."""
    turns: list[Turn] = []
    for message in sorted(messages, key=lambda m: float(m.get("ts", 0))):
        if float(message.get("ts", 0)) >= float(before_ts):
            break
        meta = message.get("metadata") or {}
        if meta.get("event_type") == ANSWER_EVENT:
            payload = meta.get("event_payload") or {}
            asked = str(payload.get("question", ""))
            cited = [str(c) for c in payload.get("cited", [])]
            query = str(payload["query"]) if payload.get("query") else None
            if turns and turns[-1].question == asked:
                turns[-1] = Turn(question=asked, cited=cited, query=query)
            elif asked:
                turns.append(Turn(question=asked, cited=cited, query=query))
            continue
        if message.get("bot_id") or message.get("subtype") or message.get("user") == bot_user_id:
            continue
        asked = question_text(str(message.get("text", "")))
        if asked:
            turns.append(Turn(question=asked))
    return turns
