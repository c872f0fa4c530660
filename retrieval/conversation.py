"""Follow-ups: when a question leans on the previous turn, and what the previous turn lends it.

The rule (documented in the README): a question is a follow-up when there is a previous turn and it either
starts with a conjunction, pronoun or "what about"-style opener, or has at most two content words.
A follow-up is retrieved with the previous question (as it was searched) joined in front of it; its
answer does not repeat sentences the previous answer cited, and prefers the sentence right after one of
them (where the conversation left off).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from retrieval.text.words import tokens

OPENERS = frozenset(
    [
        "and",
        "but",
        "or",
        "so",
        "also",
        "then",
        "plus",
        "what's",
        "it",
        "its",
        "it's",
        "they",
        "them",
        "their",
        "theirs",
        "he",
        "him",
        "his",
        "she",
        "her",
        "hers",
        "this",
        "that",
        "these",
        "those",
        "there",
    ]
)
PHRASE_OPENERS = ("what about", "how about", "and what", "what else", "why not", "how so", "in return")
SHORT_QUESTION_WORDS = 2
MAX_CONTEXT_CHARS = 400


class Turn(BaseModel):
    """A previous question, what it was searched as, and the citation ids its answer gave."""

    question: str
    cited: list[str] = Field(default_factory=list)
    query: str | None = None


class Question(BaseModel):
    """A question, with the conversation's earlier turns (oldest first) for follow-ups."""

    text: str
    history: list[Turn] = Field(default_factory=list)

    @field_validator("history", mode="before")
    @classmethod
    def _questions_as_turns(cls, value: list[Turn | str | dict[str, object]]) -> list[object]:
        return [Turn(question=v) if isinstance(v, str) else v for v in value]


def is_follow_up(text: str, history: list[Turn]) -> bool:
    """Whether text leans on the previous turn, by the rule above."""
    if not history:
        return False
    lowered = " ".join(text.lower().split())
    first = lowered.split(" ", 1)[0].strip(",.?!") if lowered else ""
    return first in OPENERS or lowered.startswith(PHRASE_OPENERS) or len(tokens(text)) <= SHORT_QUESTION_WORDS


def retrieval_query(text: str, history: list[Turn]) -> str:
    """What to search for: the previous turn's search joined in front of a follow-up, else the question."""
    if not is_follow_up(text, history):
        return text
    # A chain of follow-ups keeps its topic: the previous search already holds what it leaned on.
    previous = (history[-1].query or history[-1].question)[-MAX_CONTEXT_CHARS:]
    return f"{previous} {text}"
