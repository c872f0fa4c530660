"""LLM answers held to the extractive answer's standard: every claim cited, every citation a real span.

The model sees the top passages numbered and fenced as data. Its reply is checked: markers to passages
that do not exist are removed, sentences with no valid marker are flagged or dropped, and each valid
marker becomes a citation of the sentence in that passage closest in meaning to the claim (so
text[start:end] == quote still holds), kept only when that sentence supports the claim (support.py): a
marker on a claim its passage does not state is removed and noted. A reply that cites nothing valid or
supported, a refusal, an error or a timeout falls back to the extractive answer with a visible note.
When retrieval finds no support, the model is not asked at all.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.answer.llm import LLMConfig, LLMError, complete
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


def fence(hits: list[Hit]) -> str:
    """The passages as numbered, fenced data for the prompt; a document can never close its own fence."""
    return "\n\n".join(
        f'<passage n="{i}" source="{html.escape(h.chunk.source)}">\n'
        f"{html.escape(h.chunk.text, quote=False)}\n</passage>"
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
            reply = complete(self.model, self.config, system, user, on_token)
        except LLMError as exc:
            return self._fallback(base, FAILED.format(reason=exc))
        if not reply.strip() or CANNOT_ANSWER.lower().rstrip(".") in reply.lower():
            return self._fallback(base, REFUSED)
        return self._checked(question, reply, shown, base)

    def _checked(self, question: str, reply: str, shown: list[Hit], base: Answer) -> Answer:
        claims = split_claims(reply)
        invalid = sorted({n for _, numbers in claims for n in numbers if not 1 <= n <= len(shown)})
        if not any(1 <= n <= len(shown) for _, numbers in claims for n in numbers):
            return self._fallback(base, UNCITED)
        numbering: dict[tuple[str, int, int], Citation] = {}
        parts: list[str] = []
        uncited = 0
        unsupported: list[int] = []
        for text, numbers in claims:
            markers = []
            for n in [n for n in dict.fromkeys(numbers) if 1 <= n <= len(shown)]:
                hit = shown[n - 1]
                found = self.support.closest(text, hit.chunk)
                if not self.support.supports(found):
                    unsupported.append(n)
                    continue
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
            return self._fallback(base, NONE_SUPPORTED)
        notes = []
        if invalid:
            notes.append(REMOVED.format(markers=", ".join(f"[{n}]" for n in invalid)))
        if unsupported:
            notes.append(UNSUPPORTED.format(markers=", ".join(f"[{n}]" for n in dict.fromkeys(unsupported))))
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
