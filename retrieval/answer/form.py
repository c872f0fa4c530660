"""The form a question's answer takes (a number, a date, a name, a place, a reason), and whether a sentence
holds one."""

from __future__ import annotations

import re
from collections.abc import Callable

_ASKS_NUMBER = re.compile(
    r"\bhow (?:many|much|old|long|large|big|far|tall|high)\b|\bwhat (?:percentage|percent|number|amount)\b",
    re.IGNORECASE,
)
_ASKS_DATE = re.compile(r"\bwhen\b|\b(?:what|which) (?:year|century|decade|date|month|day)\b", re.IGNORECASE)
_ASKS_PERSON = re.compile(r"^\W*who\b|\bwho (?:was|is|were|did)\b", re.IGNORECASE)
_ASKS_PLACE = re.compile(
    r"^\W*where\b|\bwhere (?:was|is|were|did|do|does|are)\b"
    r"|\b(?:what|which) (?:country|city|state|region|continent|town|place)\b",
    re.IGNORECASE,
)
_ASKS_REASON = re.compile(r"^\W*why\b", re.IGNORECASE)
_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty"
    r"|hundred|thousand|million|billion|half|dozen)\b",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(?:1\d{3}|20\d{2})s?\b")
_DATE = re.compile(
    _YEAR.pattern + r"|\bcentury\b|\b(?:January|February|March|April|May|June|July|August"
    r"|September|October|November|December)\b"
)
# A capitalised word after the sentence's first: a name, more often than not.
_NAME = re.compile(r"(?<=\s)[A-Z][a-z]+")
# A name after a preposition of place ("in Eisleben", "near the Rhine").
_PLACE = re.compile(r"\b(?:in|at|near|from|to|into|across|throughout)\s+(?:the\s+)?([A-Z][a-z]+)")
_REASON = re.compile(
    r"\b(?:because|due to|since|so that|in order to|as a result|led to|caused|reason)\b", re.IGNORECASE
)
_WORD = re.compile(r"[a-z]+")


def answer_form(question: str) -> Callable[[str], bool] | None:
    """For a question asking for a number, date, person, place or reason: whether a sentence holds one."""
    if _ASKS_NUMBER.search(question):
        # A year is a date, not a count: "How many reconstructions..." is not answered by "in 2000".
        return lambda sentence: bool(_NUMBER.search(_YEAR.sub(" ", sentence)))
    if _ASKS_DATE.search(question):
        return lambda sentence: bool(_DATE.search(sentence))
    # The name asked for is one the question does not already give.
    known = set(_WORD.findall(question.lower()))
    if _ASKS_PERSON.search(question):
        return lambda sentence: any(name.lower() not in known for name in _NAME.findall(sentence))
    if _ASKS_PLACE.search(question):
        return lambda sentence: any(name.lower() not in known for name in _PLACE.findall(sentence))
    if _ASKS_REASON.search(question):
        return lambda sentence: bool(_REASON.search(sentence))
    return None
