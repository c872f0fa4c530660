"""The answer scorer's input: (question, sentence, context) pairs as token ids, types and a mask (numpy only).

Shared by training (through torch) and the run-time scorer (through ONNX Runtime), so both see the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

# Token budgets per part, measured on SQuAD dev: 99% of questions fit in 32 tokens and 95% of sentences in
# 64; the context is a hint (which document, what "it" refers to), so it gets the least.
QUESTION_TOKENS = 32
SENTENCE_TOKENS = 64
CONTEXT_TOKENS = 24


@dataclass(frozen=True)
class Pair:
    """One (question, candidate sentence, context) to score."""

    question: str
    sentence: str
    context: str


class PairEncoder:
    """Pairs -> padded token ids, token types and attention mask, with the packaged model's tokenizer."""

    def __init__(self, tokenizer_file: Path) -> None:
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        cls, sep = self.tokenizer.token_to_id("[CLS]"), self.tokenizer.token_to_id("[SEP]")
        if cls is None or sep is None:
            raise ValueError(f"{tokenizer_file} has no [CLS] or [SEP] token")
        self.cls, self.sep = cls, sep

    def _ids(self, texts: Sequence[str], budget: int) -> list[list[int]]:
        encoded = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [e.ids[:budget] for e in encoded]

    def encode(self, pairs: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, types, mask) for pairs as int64 arrays, padded to the longest row (mask 1 on real tokens)."""
        questions = self._ids([p.question for p in pairs], QUESTION_TOKENS)
        sentences = self._ids([p.sentence for p in pairs], SENTENCE_TOKENS)
        contexts = self._ids([p.context for p in pairs], CONTEXT_TOKENS)
        rows: list[list[int]] = []
        kinds: list[list[int]] = []
        for q, s, c in zip(questions, sentences, contexts, strict=True):
            first = [self.cls, *q, self.sep]
            second = [*s, self.sep, *c, self.sep]
            rows.append(first + second)
            kinds.append([0] * len(first) + [1] * len(second))
        width = max((len(r) for r in rows), default=0)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for n, (row, kind) in enumerate(zip(rows, kinds, strict=True)):
            ids[n, : len(row)] = row
            types[n, : len(row)] = kind
            mask[n, : len(row)] = 1
        return ids, types, mask
