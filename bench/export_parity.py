"""Issue 32's parity check: the ONNX files built without torch against the ones torch's exporter built.

Until issue 32, `citebot models` traced the encoder and the answer scorer with torch (the reference below is
that code, kept here and nowhere else); now retrieval/inference/export.py writes the same graphs with onnx's
helpers. Both are quantized and optimized by the same functions, and run side by side on a probe set:
the encoder's vectors (cosine, per text, one text a run as questions are embedded, and fp32 also in batches
as ingest embeds), the scorer's logits (max absolute difference, one pair a run as citebot runs int8). The
bar: cosine >= 0.9999 for every probe text, both variants. Needs torch (the `[train]` extra):

    .venv/bin/python -m bench.export_parity
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.machine import describe
from evaluation.results import save_and_print
from retrieval.answer.learned_scorer import MODELS, WEIGHTS_FILE
from retrieval.inference import bert_graph, export
from retrieval.inference.embedder import resolve_model_path
from retrieval.inference.encoder import session
from retrieval.inference.model_cache import PROBE
from retrieval.inference.scorer_inputs import Pair, PairEncoder

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "export_parity.json"
MIN_COSINE = 0.9999
QUESTIONS = [
    "What did the US offer in Stockholm?",
    "Why did the talks break down?",
    "Who is the North's top nuclear envoy?",
    "When did Trump and Kim meet at the border?",
    "What should Seoul and Washington do?",
    "Who won the 2018 World Cup?",
]


def probe_texts() -> list[str]:
    """The variant-choice probe, the seed file's sentences, and odd inputs (empty, non-Latin, 256+ tokens)."""
    from retrieval.text.sentences import sentence_spans

    seed = (ROOT / "seeds" / "stockholm-talks-editorial.txt").read_text(encoding="utf-8")
    sentences = [seed[s:e] for s, e in sentence_spans(seed, 0, len(seed))]
    odd = ["", "Ünïcödé 東京 🙂", " ".join(sentences)[:3000]]
    return [*PROBE, *sentences, *odd]


def probe_pairs() -> list[Pair]:
    """Each question against each of the seed file's first 20 sentences, in the context the scorer reads."""
    from retrieval.text.sentences import sentence_spans

    seed = (ROOT / "seeds" / "stockholm-talks-editorial.txt").read_text(encoding="utf-8")
    sentences = [seed[s:e] for s, e in sentence_spans(seed, 0, len(seed))][:20]
    return [
        Pair(q, s, "stockholm talks editorial: " + (sentences[i - 1] if i else ""))
        for q in QUESTIONS
        for i, s in enumerate(sentences)
    ]


# ---- the reference: today's torch export until issue 32 (retrieval/inference/export.py at 5da4fea) ----


def torch_encoder(folder: Path, out: Path) -> None:
    """The encoder traced by torch.onnx.export, as `citebot models` did before issue 32."""
    import torch
    from safetensors.torch import load_file

    from retrieval.inference.bert_layers import embed, layer

    class MeanPooledBert(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
            self.normalize = any("Normalize" in m["type"] for m in modules)
            self.heads = int(config["num_attention_heads"])
            self.layers = int(config["num_hidden_layers"])
            self.eps = float(config.get("layer_norm_eps", 1e-12))
            weights = load_file(str(folder / "model.safetensors"))
            self.names = [k.removeprefix("bert.") for k in weights]
            for name, value in weights.items():
                self.register_buffer(name.removeprefix("bert.").replace(".", "__"), value.float())

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            w = {name: getattr(self, name.replace(".", "__")) for name in self.names}
            x = embed(ids, None, w, self.eps)
            attend = mask[:, None, None, :] > 0
            for i in range(self.layers):
                x = layer(x, w, i, self.heads, self.eps, attend)
            weight = mask.unsqueeze(-1).to(x.dtype)
            pooled = (x * weight).sum(1) / weight.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    _trace(MeanPooledBert().eval(), (ids, (ids > 0).long()), ["input_ids", "attention_mask"], out)


def torch_scorer(weights: Path, base_folder: Path, out: Path) -> None:
    """The scorer traced by torch.onnx.export, as `citebot models` did before issue 32."""
    import torch

    from retrieval.inference.scorer_net import load_scorer_net

    net = load_scorer_net(weights, base_folder).eval()
    ids = torch.tensor([[101, 2040, 102, 2003, 102, 1037, 102], [101, 2040, 102, 2003, 102, 0, 0]])
    types = torch.tensor([[0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0]])
    _trace(net, (ids, types, (ids > 0).long()), ["input_ids", "token_type_ids", "attention_mask"], out)


def _trace(module: Any, example: tuple[Any, ...], names: list[str], out: Path) -> None:
    import torch

    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            example,
            str(out),
            input_names=names,
            output_names=["output"],
            dynamic_axes={name: {0: "rows", 1: "tokens"} for name in names},
            opset_version=bert_graph.OPSET,
            dynamo=False,
        )


def _variants(raw: Path, out: Path) -> None:
    """fp32.onnx and int8.onnx from a raw fp32 graph, by the functions `citebot models` uses."""
    export.quantize(raw, out / "int8.raw.onnx")
    export.optimize(raw, out / "fp32.onnx")
    export.optimize(out / "int8.raw.onnx", out / "int8.onnx")


# ---- the comparison ----------------------------------------------------------------------------------


def encode(file: Path, folder: Path, texts: list[str], batch: bool) -> np.ndarray:
    """Vectors for texts, one text a run (or all of one token count at once, fp32 as ingest runs it)."""
    from retrieval.inference.encoder import OnnxEncoder

    encoder = OnnxEncoder(file, folder, 16 if batch else 1, 1, ["CPUExecutionProvider"])
    return encoder.encode(texts)


def logits(file: Path, pairs: list[Pair], tokenizer: Path) -> np.ndarray:
    """The scorer's logit for each pair, one pair a run."""
    run = session(file, 1, ["CPUExecutionProvider"])
    encoder = PairEncoder(tokenizer)
    out = []
    for pair in pairs:
        ids, types, mask = encoder.encode([pair])
        feed = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
        out.append(float(np.asarray(run.run(None, feed)[0]).reshape(-1)[0]))
    return np.asarray(out)


def ops(file: Path) -> dict[str, int]:
    """The optimized graph's operators and how often each occurs."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(file), load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    folder = resolve_model_path("")
    weights = MODELS / WEIGHTS_FILE
    texts, pairs = probe_texts(), probe_pairs()
    results: dict[str, Any] = {"machine": describe(), "texts": len(texts), "pairs": len(pairs)}
    with tempfile.TemporaryDirectory(prefix="citebot-parity-") as tmp:
        work = Path(tmp)
        built: dict[str, Path] = {}
        seconds: dict[str, float] = {}
        for way in ("torch", "onnx"):
            for kind in ("encoder", "scorer"):
                out = work / f"{way}-{kind}"
                out.mkdir()
                began = time.perf_counter()
                if way == "onnx":
                    if kind == "encoder":
                        export.build_encoder(folder, out, packaged=True)
                    else:
                        export.build_scorer(weights, folder, out)
                else:
                    raw = out / "fp32.raw.onnx"
                    (torch_encoder(folder, raw) if kind == "encoder" else torch_scorer(weights, folder, raw))
                    _variants(raw, out)
                seconds[f"{way} {kind}"] = round(time.perf_counter() - began, 2)
                built[f"{way} {kind}"] = out
        results["build_seconds"] = seconds
        for variant in ("fp32", "int8"):
            old, new = built["torch encoder"] / f"{variant}.onnx", built["onnx encoder"] / f"{variant}.onnx"
            row: dict[str, Any] = {}
            for batch in (False, True) if variant == "fp32" else (False,):
                a, b = encode(old, folder, texts, batch), encode(new, folder, texts, batch)
                cosine = (a * b).sum(1) / np.maximum(
                    np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12
                )
                row["batched" if batch else "one a run"] = {
                    "worst_cosine": float(cosine.min()),
                    "mean_cosine": float(cosine.mean()),
                    "max_abs_difference": float(np.abs(a - b).max()),
                    "identical": bool(np.array_equal(a, b)),
                }
            row["bytes"] = {"torch": old.stat().st_size, "onnx": new.stat().st_size}
            row["ops_equal"] = ops(old) == ops(new)
            if not row["ops_equal"]:
                row["ops"] = {"torch": ops(old), "onnx": ops(new)}
            results[f"encoder {variant}"] = row
            old, new = built["torch scorer"] / f"{variant}.onnx", built["onnx scorer"] / f"{variant}.onnx"
            a, b = (
                logits(old, pairs, folder / "tokenizer.json"),
                logits(new, pairs, folder / "tokenizer.json"),
            )
            results[f"scorer {variant}"] = {
                "max_abs_difference": float(np.abs(a - b).max()),
                "logit_range": [float(a.min()), float(a.max())],
                "same_best_sentence": sum(
                    int(np.argmax(a[i : i + 20]) == np.argmax(b[i : i + 20])) for i in range(0, len(a), 20)
                ),
                "questions": len(QUESTIONS),
                "identical": bool(np.array_equal(a, b)),
                "bytes": {"torch": old.stat().st_size, "onnx": new.stat().st_size},
                "ops_equal": ops(old) == ops(new),
            }
    results["bar"] = {
        "min_cosine": MIN_COSINE,
        "met": all(
            results[f"encoder {v}"][way]["worst_cosine"] >= MIN_COSINE
            for v in ("fp32", "int8")
            for way in results[f"encoder {v}"]
            if way in ("one a run", "batched")
        ),
    }
    save_and_print(args.out, results)


if __name__ == "__main__":
    main()
