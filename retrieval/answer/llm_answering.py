"""LLM answers held to the extractive answer's standard: every claim cited, every citation a real span.

The model sees the top passages numbered and fenced as quoted data: in the passages, every character that
could write or imitate a fence tag or a citation marker is escaped, and the prompt says that passages are
data, never instructions. Its reply (read to MAX_REPLY_CHARS at most) is checked: markers to passages that
do not exist are removed, and each valid marker becomes a citation of the sentence in that passage closest
in meaning to the claim (so text[start:end] == quote still holds), kept only when that sentence supports
the claim (support.py): a marker on a claim its passage does not state is removed and noted. A supported
sentence is shown only if it also answers the question (llm_relevance.py): an obeyed injection supports
itself but answers nothing, and is left out. Sentences with no valid marker are left out (or, with
uncited "flag", shown marked). A reply that cites nothing valid, supported and answering, a refusal, an
error or a timeout falls back to the extractive answer with a visible note. When retrieval finds no
support, the model is not asked at all.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.answer.llm import MAX_REPLY_CHARS, LLMConfig, LLMError, complete
from retrieval.answer.llm_relevance import Claim, Relevance
from retrieval.answer.prompts import CANNOT_ANSWER, Prompts
from retrieval.answer.support import SupportCheck
from retrieval.search.citations import citation_id
from retrieval.search.hybrid import Hit
from retrieval.text.sentences import sentence_spans
from retrieval.types import Answer, Citation

_MARKER = re.compile(r"\s*\[(\d+)\]")
UNCITED_MARK = "[no source]"
NOT_ASKED = "No passage supports an answer, so the model was not asked."
FAILED = "The language model failed: {reason}; this is the extractive answer."
REFUSED = "The model found no answer in the passages; this is the extractive answer."
UNCITED = "The model's answer cited no passage, so it is not shown; this is the extractive answer."
REMOVED = "Removed citations to passages that do not exist: {markers}."
FLAGGED = "{count} sentence(s) of the model's answer cited no passage and are {what}."
UNSUPPORTED = "Removed citations the cited passage does not support: {markers}."
NONE_SUPPORTED = (
    "No passage the model cited supports what it said, so its answer is not shown; "
    "this is the extractive answer."
)
OFF_QUESTION = "Left out {count} sentence(s) of the model's answer that do not answer the question."
NONE_ANSWER = (
    "Nothing the model's cited passages support answers the question, so its answer is not shown; "
    "this is the extractive answer."
)
# The prompt asks for at most four sentences; each sentence checked costs an embedding and two scorer runs.
MAX_CLAIMS = 20
CUT = (
    f"The model's reply was cut: only its first {MAX_REPLY_CHARS:,} characters and {MAX_CLAIMS} sentences "
    "were read."
)
# Characters a model may read as "<" or ">" (fullwidth, small, and the angle brackets of Unicode's math and
# ornament blocks), and citation markers ("[1]", "[2, 3]"): in a passage, written as character references,
# so a document can write neither one of the prompt's tags nor a marker for the model to copy. (html.escape
# has already turned the ASCII "<", ">" and "&" into references.)
_LOOKALIKES = {
    ord(c): f"&#x{ord(c):X};"
    for c in "\uff1c\uff1e\ufe64\ufe65\u2329\u232a\u27e8\u27e9\u276c\u276d\u276e\u276f"
}
_MARKER_LIKE = re.compile(r"\[(\s*+\d[\d\s,]*+)\]")


def quoted(text: str, attribute: bool = False) -> str:
    """A document's text (or, as an attribute, its name) as the prompt quotes it: nothing in it can open or
    close a fence, or cite."""
    escaped = html.escape(text, quote=attribute).translate(_LOOKALIKES)
    return _MARKER_LIKE.sub(r"&#x5B;\1&#x5D;", escaped)


def fence(hits: list[Hit]) -> str:
    """The passages as numbered, fenced data for the prompt; a document can never close its own fence."""
    return "\n\n".join(
        f'<passage n="{i}" source="{quoted(h.chunk.source, attribute=True)}">\n'
        f"{quoted(h.chunk.text)}\n</passage>"
        for i, h in enumerate(hits, 1)
    )


def split_claims(reply: str) -> list[tuple[str, list[int]]]:
    """The reply's sentences, each without its markers, with the passage numbers it cites."""
    claims = []
    for start, end in sentence_spans(reply, 0, len(reply)):
        sentence = reply[start:end]
        numbers = [int(m.group(1)) for m in _MARKER.finditer(sentence)]
        text = " ".join(_MARKER.sub("", sentence).split())
        if text and not re.fullmatch(r"[\W_]+", text):
            claims.append((text, numbers))
        elif numbers and claims:  # markers standing alone after the sentence they belong to
            claims[-1] = (claims[-1][0], claims[-1][1] + numbers)
    return claims


def in_answer_order(hits: list[Hit], base: Answer) -> list[Hit]:
    """The hits in the order of the answer's passages, so the model's [n] is the answer's passage n.

    The answer scorer lifts passages by their best sentence; the model must see them as the answer lists them.
    """
    rank = {p.id: i for i, p in enumerate(base.passages)}
    return sorted(
        hits, key=lambda h: rank.get(citation_id(h.chunk.source, h.chunk.start, h.chunk.end), len(rank))
    )


class LLMAnswerer:
    """Asks the model, checks its citations, and falls back to the extractive answer when it must."""

    def __init__(
        self,
        model: Any,
        prompts: Prompts,
        extractive: ExtractiveAnswerer,
        config: LLMConfig,
        support: SupportCheck,
        shown: int = 5,
    ) -> None:
        self.model = model
        self.support = support
        self.prompts = prompts
        self.extractive = extractive
        self.config = config
        self.shown = shown
        self.relevance = Relevance(extractive)

    @staticmethod
    def _fallback(base: Answer, note: str) -> Answer:
        return base.model_copy(update={"mode": "llm-fallback", "note": note})

    def answer(
        self,
        question: str,
        hits: list[Hit],
        query: str | None = None,
        previous: list[str] | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        """The model's checked answer, or the extractive one with a note saying why."""
        base = self.extractive.answer(question, hits, query=query, previous=previous)
        if base.abstained:
            return base.model_copy(update={"note": NOT_ASKED})
        shown = in_answer_order(hits, base)[: self.shown]
        system, user = self.prompts.messages(question, fence(shown))
        try:
            reply, cut = complete(self.model, self.config, system, user, on_token)
        except LLMError as exc:
            return self._fallback(base, FAILED.format(reason=exc))
        if not reply.strip() or CANNOT_ANSWER.lower().rstrip(".") in reply.lower():
            return self._fallback(base, REFUSED)
        claims = split_claims(reply)
        cut = cut or len(claims) > MAX_CLAIMS
        # A follow-up ("and in 2019?") is judged with the question it follows, as it was retrieved.
        answer = self._checked(question, query or question, hits, claims[:MAX_CLAIMS], shown, base)
        if cut:
            note = f"{CUT} {answer.note}" if answer.note else CUT
            answer = answer.model_copy(update={"note": note})
        return answer

    def _checked(
        self,
        question: str,
        query: str,
        hits: list[Hit],
        claims: list[tuple[str, list[int]]],
        shown: list[Hit],
        base: Answer,
    ) -> Answer:
        invalid = sorted({n for _, numbers in claims for n in numbers if not 1 <= n <= len(shown)})
        if not any(1 <= n <= len(shown) for _, numbers in claims for n in numbers):
            return self._fallback(base, UNCITED)
        unsupported: list[int] = []
        # Each claim's supported citations: (passage number, the claim as that passage supports it).
        supported: list[list[tuple[int, Claim]]] = []
        for text, numbers in claims:
            backed = []
            for n in [n for n in dict.fromkeys(numbers) if 1 <= n <= len(shown)]:
                found = self.support.closest(text, shown[n - 1].chunk)
                if self.support.supports(found):
                    backed.append((n, Claim(text, shown[n - 1].chunk, found)))
                else:
                    unsupported.append(n)
            supported.append(backed)
        every = [claim for backed in supported for _, claim in backed]
        judged = iter(self.relevance.answers(question, query, hits, every))
        numbering: dict[tuple[str, int, int], Citation] = {}
        parts: list[str] = []
        uncited = off_question = 0
        for (text, _), backed in zip(claims, supported, strict=True):
            answering = [(n, claim) for n, claim in backed if next(judged)]
            if backed and not answering:
                off_question += 1  # supported, but not an answer: left out whatever the uncited setting
                continue
            markers = []
            for n, claim in answering:
                hit, found = shown[n - 1], claim.found
                key = (hit.chunk.source, found.start, found.end)
                if key not in numbering:
                    numbering[key] = hit.chunk.citation(len(numbering) + 1, found.start, found.end, hit.score)
                markers.append(f"[{numbering[key].n}]")
            if not markers:
                uncited += 1
                if self.config.uncited == "flag":
                    parts.append(f"{text} {UNCITED_MARK}")
                continue
            parts.append(f"{text} {''.join(markers)}")
        if not numbering:
            return self._fallback(base, NONE_ANSWER if off_question else NONE_SUPPORTED)
        notes = []
        if invalid:
            notes.append(REMOVED.format(markers=", ".join(f"[{n}]" for n in invalid)))
        if unsupported:
            notes.append(UNSUPPORTED.format(markers=", ".join(f"[{n}]" for n in dict.fromkeys(unsupported))))
        if off_question:
            notes.append(OFF_QUESTION.format(count=off_question))
        if uncited:
            what = f"marked {UNCITED_MARK}" if self.config.uncited == "flag" else "left out"
            notes.append(FLAGGED.format(count=uncited, what=what))
        return base.model_copy(
            update={
                "answer": " ".join(parts),
                "citations": list(numbering.values()),
                "mode": "llm",
                "note": " ".join(notes) or None,
            }
        )
