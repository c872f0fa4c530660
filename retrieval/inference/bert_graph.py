"""BERT as an ONNX graph written with onnx's own helpers from named numpy weights (no torch).

The arithmetic torch's exporter traced (bert_layers.py), node for node where it matters to the numbers: the
attention scale applied to q and k, the -inf mask and the NaN guard after softmax, erf GELU, the pooling; so
the fp32 vectors agree to rounding and the int8 variant quantizes the same MatMuls and embedding tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

# 17: the newest opset every onnxruntime >= 1.16 runs fully; LayerNormalization is a single op from 17 on.
OPSET = 17
# The IR version opset 17 needs (onnx.helper would write its newest, which older onnxruntimes refuse).
IR_VERSION = 8
LAYER_PARTS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


class Graph:
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


class BertGraph:
    """BERT's arithmetic as graph nodes over named numpy weights (what bert_layers.py computes in torch).

    Written as torch's exporter wrote it, shapes included: the heads' shapes are computed from the input's
    at run time (Shape, Gather, Concat) and the attention scale from the head size, where constants would
    do. onnxruntime fuses what it can prove (a known shape let it fuse the attention scale into the MatMul
    and one more LayerNorm into SkipLayerNormalization), and each fusion rounds differently: harmless in
    fp32 (2e-7), but the int8 variant quantizes each MatMul's input per run, so those differences flipped
    its roundings and moved its vectors up to cosine 0.996 from the torch-built file's. With torch's shapes
    the optimized graphs are the same, operator for operator.
    """

    def __init__(self, g: Graph, w: Mapping[str, np.ndarray], heads: int, eps: float) -> None:
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
