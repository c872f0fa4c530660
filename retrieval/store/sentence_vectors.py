"""A chunk's sentences: their spans and vectors, packed into one string of the chunk's metadata.

Why sentences: they are what an extractive answer cites, and scoring them by meaning (not only by shared
words) is what finds "demands ... in exchange for" for "what did they want in return". Embedding sentences
instead of whole chunks costs no more tokens, and the chunk's own vector is their normalised mean.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import numpy as np

Span = tuple[int, int]


@dataclass(frozen=True)
class SentenceVectors:
    """Sentence spans (relative to the chunk's start) and one unit vector per sentence."""

    spans: tuple[Span, ...]
    vectors: np.ndarray = field(compare=False)

    @classmethod
    def build(cls, spans: list[Span], vectors: list[list[float]]) -> SentenceVectors:
        """From spans and the model's vectors for them."""
        return cls(tuple(spans), np.asarray(vectors, dtype=np.float32).reshape(len(spans), -1))

    def chunk_vector(self) -> list[float]:
        """The chunk's vector: the normalised mean of its sentences' vectors."""
        mean = self.vectors.mean(axis=0)
        norm = float(np.linalg.norm(mean)) or 1.0
        return [float(x) for x in mean / norm]

    def similarities(self, query: np.ndarray) -> np.ndarray:
        """Cosine similarity of each sentence to a unit query vector."""
        return np.asarray(self.vectors @ query)

    def pack(self) -> str:
        """One compact string (float16 vectors, base64) for Chroma metadata, which holds scalars only."""
        raw = self.vectors.astype(np.float16).tobytes()
        return json.dumps(
            {
                "spans": [list(s) for s in self.spans],
                "dim": int(self.vectors.shape[1]),
                "vectors": base64.b64encode(raw).decode("ascii"),
            },
            separators=(",", ":"),
        )

    @classmethod
    def unpack(cls, packed: str) -> SentenceVectors:
        """Inverse of pack."""
        data = json.loads(packed)
        vectors = np.frombuffer(base64.b64decode(data["vectors"]), dtype=np.float16).astype(np.float32)
        spans = tuple((int(a), int(b)) for a, b in data["spans"])
        return cls(spans, vectors.reshape(len(spans), int(data["dim"])))
