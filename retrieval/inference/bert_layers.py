"""BERT's embedding and encoder-layer arithmetic in plain torch, over a dict of named weight tensors.

Training only (scorer_net.py, through `[train]`), and bench/export_parity.py's reference: the ONNX files
that run are written by export.py without torch, node for node the graph torch traced from these functions.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

Weights = Mapping[str, torch.Tensor]


def norm(x: torch.Tensor, w: Weights, name: str, eps: float) -> torch.Tensor:
    """Layer norm with the weights stored under name."""
    weight = w[f"{name}.weight"]
    # The weight's size, not x's: the same number, but a constant when the graph is traced for ONNX.
    return F.layer_norm(x, weight.shape, weight, w[f"{name}.bias"], eps)


def linear(x: torch.Tensor, w: Weights, name: str) -> torch.Tensor:
    """A dense layer with the weights stored under name."""
    return F.linear(x, w[f"{name}.weight"], w[f"{name}.bias"])


def embed(ids: torch.Tensor, types: torch.Tensor | None, w: Weights, eps: float) -> torch.Tensor:
    """Word + position + token-type embeddings, normalised; types None means all type 0."""
    positions = torch.arange(ids.shape[1], device=ids.device)
    type_part = (
        w["embeddings.token_type_embeddings.weight"][0]
        if types is None
        else F.embedding(types, w["embeddings.token_type_embeddings.weight"])
    )
    x = (
        F.embedding(ids, w["embeddings.word_embeddings.weight"])
        + F.embedding(positions, w["embeddings.position_embeddings.weight"])[None]
        + type_part
    )
    return norm(x, w, "embeddings.LayerNorm", eps)


def layer(
    x: torch.Tensor, w: Weights, i: int, heads: int, eps: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Encoder layer i; mask (batch, 1, 1, length), True where a token may be attended to, or None."""
    p = f"encoder.layer.{i}."
    batch, length, hidden = x.shape

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, length, heads, hidden // heads).transpose(1, 2)

    q = split(linear(x, w, p + "attention.self.query"))
    k = split(linear(x, w, p + "attention.self.key"))
    v = split(linear(x, w, p + "attention.self.value"))
    context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    context = context.transpose(1, 2).reshape(batch, length, hidden)
    x = norm(x + linear(context, w, p + "attention.output.dense"), w, p + "attention.output.LayerNorm", eps)
    inner = F.gelu(linear(x, w, p + "intermediate.dense"))
    return norm(x + linear(inner, w, p + "output.dense"), w, p + "output.LayerNorm", eps)
