"""The answer scorer's network: the first layers of the packaged MiniLM, mean pooling and a one-logit head.

Input: [CLS] question [SEP] sentence [SEP] context [SEP] (context: the document's name and the sentence
before). Output: one logit, the log-odds that the sentence answers the question. The token, position and
type embeddings stay frozen at the packaged model's values, so only the layers and the head are trained
and shipped. This class is what training/ trains (torch: the `[train]` extra); what runs is the ONNX graph
export.py writes from the shipped weights without torch, the same arithmetic (bench/export_parity.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from retrieval.errors import ModelError
from retrieval.inference.bert_layers import embed, layer

FROZEN = ("embeddings.",)


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


def as_tensors(encoded: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[torch.Tensor, ...]:
    """PairEncoder's (ids, types, mask) arrays as the tensors ScorerNet takes (training and export)."""
    ids, types, mask = encoded
    return torch.from_numpy(ids), torch.from_numpy(types), torch.from_numpy(mask).bool()


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
        attend = mask[:, None, None, :] > 0
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


def load_scorer_net(weights: Path, base_folder: Path) -> ScorerNet:
    """The network from a trained weights file and the packaged model's frozen embeddings and config."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights), "pt") as handle:
            trained = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 (not a dict)
        with safe_open(str(base_folder / "model.safetensors"), "pt") as handle:
            base = {
                k.removeprefix("bert."): handle.get_tensor(k)
                for k in handle.keys()  # noqa: SIM118
                if k.removeprefix("bert.").startswith(FROZEN)
            }
        config = json.loads((base_folder / "config.json").read_text(encoding="utf-8"))
        return ScorerNet(base, trained, config)
    except (OSError, SafetensorError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(
            f"The answer scorer's weights {weights} cannot be loaded ({exc}); "
            "rebuild them with `make train-scorer`"
        ) from exc
