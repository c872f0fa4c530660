"""Whether a passage supports a claim: its closest sentence in meaning, and the claim's numbers in it.

An LLM's sentence citing passage [n] is kept as a citation only when some sentence of passage n means
nearly what it says and the passage holds the numbers it gives; "HACKED [1]", a claim the passage does
not state or a figure it never gives is left uncited. The quoted span is that closest sentence, so the
citation still quotes the document's exact characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from retrieval.search.indexed_chunk import IndexedChunk
from retrieval.text.sentences import sentence_spans

# Fitted by `make fit-support` (training/support.py, fp32) on SciFact train claims whose SUPPORT evidence
# abstract falls in one half by document; a claim is supported when its cosine, less NUMBERS_WEIGHT times
# the share of its numbers the passage does not give, is at least MIN_SUPPORT. On the other half it kept
# 0.953 of the evidence abstracts and rejected 0.995 of random ones and 0.374 of BM25's nearest
# non-evidence one (the cosine alone: 0.963, 0.995, 0.263): it catches a claim off its passage's subject
# and some with figures the passage lacks, not a related passage that does not quite say it.
MIN_SUPPORT = 0.472
NUMBERS_WEIGHT = 0.28
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def numbers_in(text: str) -> set[str]:
    """The numbers a text gives, thousands separators dropped (91,500 and 91500 are one number)."""
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def numbers_share(claim: str, passage: str) -> float:
    """The share of a claim's numbers that the passage gives too (1.0 for a claim without numbers)."""
    wanted = numbers_in(claim)
    return len(wanted & numbers_in(passage)) / len(wanted) if wanted else 1.0


def support_score(cosine: float, share: float, weight: float = NUMBERS_WEIGHT) -> float:
    """How well a passage supports a claim, on the scale MIN_SUPPORT is set on."""
    return cosine + weight * (share - 1.0)


@dataclass(frozen=True)
class Support:
    """A passage's closest sentence to a claim (absolute offsets), its cosine, the claim's numbers' share."""

    start: int
    end: int
    cosine: float
    numbers: float = 1.0


class SupportCheck:
    """Finds the sentence of a passage that supports a claim, and says whether it is close enough."""

    def __init__(self, embed: Callable[[str], list[float]], threshold: float = MIN_SUPPORT) -> None:
        self.embed = embed
        self.threshold = threshold

    def closest(self, claim: str, chunk: IndexedChunk) -> Support:
        """The chunk's sentence closest in meaning to the claim."""
        vector = np.asarray(self.embed(claim), dtype=np.float32)
        if chunk.sentences is not None and len(chunk.sentences.spans):
            cosines = chunk.sentences.similarities(vector)
            best = int(np.argmax(cosines))
            start, end = chunk.sentences.spans[best]
            share = numbers_share(claim, chunk.text)
            return Support(chunk.start + start, chunk.start + end, float(cosines[best]), share)
        # A chunk stored without sentence vectors: its sentences embedded now (rare: older stores).
        spans = sentence_spans(chunk.text, 0, len(chunk.text)) or [(0, len(chunk.text))]
        found = [
            (float(np.asarray(self.embed(chunk.text[s:e]), dtype=np.float32) @ vector), s, e)
            for s, e in spans
        ]
        cosine, start, end = max(found)
        return Support(chunk.start + start, chunk.start + end, cosine, numbers_share(claim, chunk.text))

    def supports(self, found: Support) -> bool:
        """Whether the passage supports the claim: close enough in meaning, its numbers given."""
        return support_score(found.cosine, found.numbers) >= self.threshold
