"""The form a question's answer takes (a number, a date, a name), and whether a sentence holds one."""

from __future__ import annotations

import re
from collections.abc import Callable

_ASKS_NUMBER = re.compile(
    r"\bhow (?:many|much|old|long|large|big|far|tall|high)\b|\bwhat (?:percentage|percent|number|amount)\b",
    re.IGNORECASE,
)
_ASKS_DATE = re.compile(r"\bwhen\b|\b(?:what|which) (?:year|century|decade|date|month|day)\b", re.IGNORECASE)
_ASKS_PERSON = re.compile(r"^\W*who\b|\bwho (?:was|is|were|did)\b", re.IGNORECASE)
_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty"
    r"|hundred|thousand|million|billion|half|dozen)\b",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"\b(?:1\d{3}|20\d{2})s?\b|\bcentury\b|\b(?:January|February|March|April|May|June|July|August"
    r"|September|October|November|December)\b"
)
# A capitalised word after the sentence's first: a name, more often than not.
_NAME = re.compile(r"(?<=\s)[A-Z][a-z]+")
_WORD = re.compile(r"[a-z]+")


def answer_form(question: str) -> Callable[[str], bool] | None:
    """For a question asking for a number, a date or a person: whether a sentence holds one; else None."""
    if _ASKS_NUMBER.search(question):
        return lambda sentence: bool(_NUMBER.search(sentence))
    if _ASKS_DATE.search(question):
        return lambda sentence: bool(_DATE.search(sentence))
    if _ASKS_PERSON.search(question):
        # The name asked for is one the question does not already give.
        known = set(_WORD.findall(question.lower()))
        return lambda sentence: any(name.lower() not in known for name in _NAME.findall(sentence))
    return None
