"""The answer scorer's network: the first layers of the packaged MiniLM, mean pooling and a one-logit head.

Input: [CLS] question [SEP] sentence [SEP] context [SEP] (context: the document's name and the sentence
before). Output: one logit, the log-odds that the sentence answers the question. The token, position and
type embeddings stay frozen at the packaged model's values, so only the layers and the head are trained
and shipped; the same class is trained (training/) and run (answer_scorer.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

from retrieval.bert_layers import embed, layer

# Token budgets per part, measured on SQuAD dev: 99% of questions fit in 32 tokens and 95% of sentences in
# 64; the context is a hint (which document, what "it" refers to), so it gets the least.
QUESTION_TOKENS = 32
SENTENCE_TOKENS = 64
CONTEXT_TOKENS = 24
FROZEN = ("embeddings.",)


@dataclass(frozen=True)
class Pair:
    """One (question, candidate sentence, context) to score."""

    question: str
    sentence: str
    context: str


def trained_names(layers: int) -> list[str]:
    """The weight names that training changes and the weights file holds, for a stack of `layers`."""
    names = [
        f"encoder.layer.{i}.{part}.{kind}"
        for i in range(layers)
        for part in (
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
            "attention.output.LayerNorm",
            "intermediate.dense",
            "output.dense",
            "output.LayerNorm",
        )
        for kind in ("weight", "bias")
    ]
    return [*names, "classifier.weight", "classifier.bias"]


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

    def encode(self, pairs: Sequence[Pair]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ids, types, mask) for pairs, padded to the longest row."""
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
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        types = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.bool)
        for n, (row, kind) in enumerate(zip(rows, kinds, strict=True)):
            ids[n, : len(row)] = torch.tensor(row)
            types[n, : len(row)] = torch.tensor(kind)
            mask[n, : len(row)] = True
        return ids, types, mask


class ScorerNet(torch.nn.Module):
    """Frozen packaged embeddings, `layers` trainable BERT layers, mean pooling and a one-logit classifier."""

    def __init__(
        self, base: Mapping[str, torch.Tensor], trained: Mapping[str, torch.Tensor], config: Mapping[str, Any]
    ) -> None:
        super().__init__()
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.layers = sum(1 for name in trained if name.endswith("attention.self.query.weight"))
        self.frozen = {k: v.float() for k, v in base.items() if k.startswith(FROZEN)}
        self.names = list(trained)
        for name, value in trained.items():
            self.register_parameter(name.replace(".", "__"), torch.nn.Parameter(value.float().clone()))

    def weights(self) -> dict[str, torch.Tensor]:
        """Every weight by its BERT name: the frozen embeddings and the trained parameters."""
        own = {name: getattr(self, name.replace(".", "__")) for name in self.names}
        return {**self.frozen, **own}

    def forward(self, ids: torch.Tensor, types: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """One logit per row."""
        w = self.weights()
        attend = mask[:, None, None, :]
        x = embed(ids, types, w, self.eps)
        for i in range(self.layers):
            x = layer(x, w, i, self.heads, self.eps, attend)
        # Mean over the real tokens, as the packaged model was trained to pool: its [CLS] vector barely
        # differs between inputs (measured: 0.1% of its norm across two unrelated pairs), and a classifier
        # on it learned nothing in a full epoch (AUC 0.50 on calibration articles).
        weight = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * weight).sum(1) / weight.sum(1).clamp(min=1.0)
        return torch.nn.functional.linear(pooled, w["classifier.weight"], w["classifier.bias"])[:, 0]

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The trained weights by BERT name (what the weights file holds)."""
        return {name: getattr(self, name.replace(".", "__")).detach() for name in self.names}


def initial_weights(base: Mapping[str, torch.Tensor], layers: int, seed: int) -> dict[str, torch.Tensor]:
    """The first `layers` layers of the packaged model, and a fresh classifier."""
    generator = torch.Generator().manual_seed(seed)
    hidden = base["embeddings.word_embeddings.weight"].shape[1]
    fresh = {
        "classifier.weight": torch.randn(1, hidden, generator=generator) * 0.02,
        "classifier.bias": torch.zeros(1),
    }
    return {name: fresh[name] if name in fresh else base[name].clone() for name in trained_names(layers)}


def read_base(folder: Path) -> dict[str, torch.Tensor]:
    """The packaged model's weights by BERT name."""
    return {k.removeprefix("bert."): v for k, v in load_file(str(folder / "model.safetensors")).items()}
