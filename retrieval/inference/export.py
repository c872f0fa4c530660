"""ONNX files made locally from the packaged weights: torch traces the encoder's and the scorer's arithmetic.

Only this module (and training) imports torch; it runs once per model and machine, when the model cache lacks
a file, never while answering. onnxruntime's own tool quantizes the int8 variant.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from retrieval.inference.bert_layers import embed, layer

# 17: the newest opset every onnxruntime >= 1.16 runs fully; LayerNormalization is a single op from 17 on.
OPSET = 17


class _MeanPooledBert(torch.nn.Module):
    """A sentence-transformers BERT: every layer, mean pooling over the mask, optionally normalised."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        from safetensors.torch import load_file

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        self.normalize = any("Normalize" in m["type"] for m in modules)
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        weights = load_file(str(folder / "model.safetensors"))
        self.names = [k.removeprefix("bert.") for k in weights]
        # Registered as buffers so that they become the graph's initializers: onnxruntime's quantizer only
        # quantizes a MatMul whose weight is an initializer (plain tensors were traced as constants, and the
        # "int8" file came out as large as fp32's, unchanged).
        for name, value in weights.items():
            self.register_buffer(name.removeprefix("bert.").replace(".", "__"), value.float())

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Sentence vectors for padded rows of token ids (mask 1 on real tokens)."""
        w = {name: getattr(self, name.replace(".", "__")) for name in self.names}
        x = embed(ids, None, w, self.eps)
        attend = mask[:, None, None, :] > 0
        for i in range(self.layers):
            x = layer(x, w, i, self.heads, self.eps, attend)
        weight = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * weight).sum(1) / weight.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled


def _export(module: torch.nn.Module, example: tuple[torch.Tensor, ...], names: list[str], out: Path) -> None:
    """Trace module into out (written beside it first, then renamed: a killed export leaves no half file)."""
    dynamic = {name: {0: "rows", 1: "tokens"} for name in names}
    partial = out.with_suffix(".partial")
    with torch.inference_mode(), warnings.catch_warnings():
        # It warns that it is the legacy exporter on every call; a user building models needs no such note.
        warnings.simplefilter("ignore", DeprecationWarning)
        # The TorchScript exporter (dynamo=False): the torch.export one needs onnxscript, one more dependency,
        # and gave the same graph here.
        torch.onnx.export(
            module,
            example,
            str(partial),
            input_names=names,
            output_names=["output"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    partial.replace(out)


def export_encoder(folder: Path, out: Path) -> None:
    """The sentence encoder of a model folder as fp32 ONNX: (input_ids, attention_mask) -> vectors."""
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    mask = (ids > 0).long()
    _export(_MeanPooledBert(folder).eval(), (ids, mask), ["input_ids", "attention_mask"], out)


def export_scorer(weights: Path, base_folder: Path, out: Path) -> None:
    """The answer scorer as fp32 ONNX: (input_ids, token_type_ids, attention_mask) -> one logit per row."""
    from retrieval.inference.scorer_net import load_scorer_net

    net = load_scorer_net(weights, base_folder).eval()
    ids = torch.tensor([[101, 2040, 102, 2003, 102, 1037, 102], [101, 2040, 102, 2003, 102, 0, 0]])
    types = torch.tensor([[0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0]])
    mask = (ids > 0).long()
    _export(net, (ids, types, mask), ["input_ids", "token_type_ids", "attention_mask"], out)


def quantize(fp32: Path, out: Path) -> None:
    """int8 weights, dynamic activations, one scale per output channel.

    Per channel, because one scale per tensor lost too much: on 600 SciFact sentences (AMD EPYC, AVX2) the
    per-tensor int8 encoder's worst cosine to fp32 was 0.906; per channel it was 0.984 (mean 0.992), and
    reduce_range changed nothing measurable.
    """
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = out.with_suffix(".partial")
    # The quantizer logs a warning to the root logger on every call ("consider pre-processing"), which a
    # user would read as trouble; pre-processing (shape inference) changed nothing measurable here.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
    partial.replace(out)


def optimize(raw: Path, out: Path) -> None:
    """onnxruntime's graph fusions applied once and saved, so that a session need not apply them at start.

    Measured (AMD EPYC, 2 cores): creating the int8 session took 0.23-0.32 s with the fusions run at load and
    0.06-0.09 s from the saved graph, with the same vectors and the same speed. EXTENDED (fusions the CPU
    provider runs), not ALL, whose layout changes would tie the file to one machine.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    partial = out.with_suffix(".partial")
    options.optimized_model_filepath = str(partial)
    onnxruntime.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])
    partial.replace(out)


def build_encoder(folder: Path, out: Path) -> None:
    """fp32.onnx and int8.onnx in out: the encoder exported, quantized, each optimized."""
    _build_variants(lambda raw: export_encoder(folder, raw), out)


def build_scorer(weights: Path, base_folder: Path, out: Path) -> None:
    """fp32.onnx and int8.onnx in out: the answer scorer exported, quantized, each optimized."""
    _build_variants(lambda raw: export_scorer(weights, base_folder, raw), out)


def _build_variants(export: Callable[[Path], None], out: Path) -> None:
    """export writes the plain fp32 graph; int8 is quantized from it; both are saved optimized."""
    raw_fp32, raw_int8 = out / "fp32.raw.onnx", out / "int8.raw.onnx"
    try:
        export(raw_fp32)
        quantize(raw_fp32, raw_int8)
        optimize(raw_fp32, out / "fp32.onnx")
        optimize(raw_int8, out / "int8.onnx")
    finally:
        raw_fp32.unlink(missing_ok=True)
        raw_int8.unlink(missing_ok=True)
