"""Whether a passage supports a claim: the cosine of the claim to the passage's closest sentence.

An LLM's sentence citing passage [n] is kept as a citation only when some sentence of passage n means
nearly what it says; "HACKED [1]" or a claim the passage does not state is left uncited. The quoted span is
that closest sentence, so the citation still quotes the document's exact characters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from retrieval.chunking import sentence_spans
from retrieval.indexed_chunk import IndexedChunk

# Fitted by `make fit-support` (training/support.py, fp32) on SciFact train claims whose SUPPORT evidence
# abstract falls in one half by document; on the other half it kept 0.968 of the claims' evidence
# abstracts and rejected 0.995 of random abstracts, but only 0.24 of BM25's nearest non-evidence one:
# it catches a claim off its passage's subject, not a related passage that does not quite say it.
MIN_SUPPORT = 0.48


@dataclass(frozen=True)
class Support:
    """A passage's closest sentence to a claim (absolute offsets) and its cosine to the claim."""

    start: int
    end: int
    cosine: float


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
            return Support(chunk.start + start, chunk.start + end, float(cosines[best]))
        # A chunk stored without sentence vectors: its sentences embedded now (rare: older stores).
        spans = sentence_spans(chunk.text, 0, len(chunk.text)) or [(0, len(chunk.text))]
        found = [
            (float(np.asarray(self.embed(chunk.text[s:e]), dtype=np.float32) @ vector), s, e)
            for s, e in spans
        ]
        cosine, start, end = max(found)
        return Support(chunk.start + start, chunk.start + end, cosine)

    def supports(self, found: Support) -> bool:
        """Whether the closest sentence is close enough to count as support."""
        return found.cosine >= self.threshold
