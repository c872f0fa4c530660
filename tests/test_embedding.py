"""The embedding model: the torch BertEncoder matches sentence-transformers; resolving and batching models."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bot.threads import configure_threads
from retrieval.bert_encoder import BertEncoder, is_supported
from retrieval.embedding import (
    DEFAULT_MODEL,
    DEFAULT_THREADS,
    ROWS_PER_PASS,
    Embedder,
    _load_encoder,
    resolve_model_path,
)
from retrieval.errors import ModelError
from tests.conftest import SEED_FILE, SEEDS, STOCKHOLM
from tests.console import run_script

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="torch sees a CUDA GPU here")

SHORT_TEXTS = [
    "What did the US offer in Stockholm?",
    "The office coffee machine is descaled every Friday.",
    "Ünïcödé, emoji 🙂 and CJK 東京 survive tokenising.",
    "",
]


@pytest.fixture(scope="module")
def model_folder() -> Path:
    """The packaged all-MiniLM-L6-v2 folder."""
    return resolve_model_path("")


@pytest.fixture(scope="module")
def reference(model_folder: Path) -> Any:
    """sentence-transformers itself on the same folder (loaded once for this module)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_folder), device="cpu", local_files_only=True)


@pytest.fixture(scope="module")
def long_text() -> str:
    """The seed editorial: far above the model's 256-token window."""
    return SEED_FILE.read_text(encoding="utf-8")


def test_packaged_model_uses_the_torch_encoder(model_folder: Path, embedder: Embedder) -> None:
    """The default model is one the plain-torch encoder supports, so the fast path is taken."""
    assert is_supported(model_folder)
    assert isinstance(_load_encoder(model_folder, "cpu", DEFAULT_THREADS), BertEncoder)
    assert embedder.name == DEFAULT_MODEL


def test_long_text_is_truncated_to_the_model_window(model_folder: Path, long_text: str) -> None:
    """A text of ~1,000 tokens is cut to max_seq_length (256) tokens, as sentence-transformers does."""
    encoder = _load_encoder(model_folder, "cpu", DEFAULT_THREADS)
    assert isinstance(encoder, BertEncoder)
    assert encoder.max_length == 256
    assert len(encoder.tokenizer.encode(long_text).ids) == 256


def test_bert_encoder_matches_sentence_transformers(
    model_folder: Path, reference: Any, long_text: str
) -> None:
    """Same vectors (max abs diff < 1e-4) for short, empty, non-ASCII and a truncated long text, batched."""
    encoder = _load_encoder(model_folder, "cpu", DEFAULT_THREADS)
    texts = [*SHORT_TEXTS, long_text]
    ours = encoder.encode(texts).numpy()
    theirs = reference.encode(texts, batch_size=len(texts), convert_to_numpy=True, normalize_embeddings=False)
    assert ours.shape == theirs.shape == (len(texts), 384)
    assert float(np.abs(ours - theirs).max()) < 1e-4


def test_a_mixed_batch_gives_each_text_its_vector_alone(model_folder: Path, long_text: str) -> None:
    """A short text batched with a 256-token one gets the vector it gets alone."""
    encoder = _load_encoder(model_folder, "cpu", DEFAULT_THREADS)
    batched = encoder.encode([SHORT_TEXTS[0], long_text]).numpy()
    alone = encoder.encode([SHORT_TEXTS[0]]).numpy()
    assert float(np.abs(batched[0] - alone[0]).max()) < 1e-5


def test_texts_run_in_groups_of_equal_token_count_at_most_rows_at_a_time(
    model_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input tried: an empty text among them, and no texts at all."""
    encoder = BertEncoder(model_folder, "cpu", rows=2)
    texts = ["Short one.", "A somewhat longer sentence than the others.", "Short two.", "", "Short six."]
    alone = np.stack([encoder.encode([t]).numpy()[0] for t in texts])
    passes: list[tuple[int, int]] = []
    pooled = encoder._pooled

    def recording(ids: torch.Tensor) -> torch.Tensor:
        passes.append((int(ids.shape[0]), int(ids.shape[1])))
        return pooled(ids)

    monkeypatch.setattr(encoder, "_pooled", recording)
    together = encoder.encode(texts).numpy()
    assert float(np.abs(together - alone).max()) < 1e-5
    # The three "Short ..." texts share a token count: one pass of two, one of one; the others alone.
    lengths = [len(encoder.tokenizer.encode(t).ids) for t in texts]
    assert sorted(passes) == sorted([(2, lengths[0]), (1, lengths[0]), (1, lengths[1]), (1, lengths[3])])
    assert encoder.encode([]).shape == (0, 384)


def test_resolve_model_path_refuses_a_folder_without_config(tmp_path: Path) -> None:
    """Bad input tried: an existing folder with no config.json in it."""
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelError) as caught:
        resolve_model_path(str(folder))
    assert str(caught.value) == (
        f"Model {str(folder)!r} is not a sentence-transformers folder on disk (no config.json); "
        "citebot never downloads models"
    )


def test_resolve_model_path_never_downloads_a_hub_name() -> None:
    """Bad input tried: a Hugging Face hub name, which must fail locally (the offline guard would trip)."""
    with pytest.raises(ModelError, match="citebot never downloads models"):
        resolve_model_path("BAAI/bge-small-en-v1.5")


@pytest.mark.parametrize("name", ["", DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"])
def test_default_model_names_resolve_to_the_packaged_folder(name: str, model_folder: Path) -> None:
    """Every spelling of the default model is the packaged folder."""
    assert resolve_model_path(name) == model_folder
    assert (model_folder / "config.json").is_file()


def test_embed_query_is_a_unit_vector_of_384_dims(embedder: Embedder) -> None:
    """A question's vector has the model's 384 dimensions and unit length."""
    vector = embedder.embed_query("What did the US offer in Stockholm?")
    assert len(vector) == 384
    assert all(isinstance(x, float) for x in vector)
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, abs_tol=1e-5)


def test_embed_keeps_input_order_under_length_sorting(embedder: Embedder) -> None:
    """Texts given longest-first in small batches come back in input order (each as embedded alone)."""
    texts = [
        "A much longer text about the working-level denuclearization talks held in Stockholm last week.",
        "Short.",
        "Decaf beans are in the left cupboard.",
        "Hi",
        "Release 2.4 ships on 14 March.",
    ]
    small_batches = Embedder(device="cpu", batch_size=2)
    small_batches._encoder = embedder._load()
    done: list[int] = []
    vectors = small_batches.embed(texts, progress=done.append)
    assert done == [2, 2, 1]
    singles = np.array([embedder.embed_query(t) for t in texts])
    assert float(np.abs(np.array(vectors) - singles).max()) < 1e-5


class _LengthEncoder:
    """A fake encoder whose vector records the text it was given and the batch it came in."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return np.array([[float(len(t)), float(len(self.batches))] for t in texts])


def test_embed_batches_by_length_and_maps_back() -> None:
    """Batches are formed from length-sorted texts; each vector goes back to its text's position."""
    texts = ["ccc", "a", "eeeee", "bb", "dddd"]
    fake = _LengthEncoder()
    embedder = Embedder(device="cpu", batch_size=2)
    embedder._encoder = fake
    vectors = embedder.embed(texts)
    assert fake.batches == [["a", "bb"], ["ccc", "dddd"], ["eeeee"]]
    assert [v[0] for v in vectors] == [3.0, 1.0, 5.0, 2.0, 4.0]
    assert [v[1] for v in vectors] == [2.0, 1.0, 3.0, 1.0, 2.0]


def test_embed_of_nothing_is_nothing() -> None:
    """Bad input tried: an empty list of texts (no model call is needed)."""
    fake = _LengthEncoder()
    embedder = Embedder(device="cpu")
    embedder._encoder = fake
    assert embedder.embed([]) == []
    assert fake.batches == []


@pytest.fixture
def torch_threads() -> Iterator[int]:
    """torch's thread count before the test, put back after it (the count is one per process)."""
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def test_the_embedder_sets_torch_threads_when_it_loads(torch_threads: int) -> None:
    """Embedder(threads=n) gives torch n intra-op threads once its model loads, and not before."""
    wanted = 3 if torch_threads != 3 else 2
    embedder = Embedder(device="cpu", threads=wanted)
    assert torch.get_num_threads() == torch_threads
    assert len(embedder.embed_query("warm up")) == 384
    assert torch.get_num_threads() == wanted


def test_a_batch_runs_on_the_ingest_threads_and_a_question_on_one(torch_threads: int) -> None:
    """More texts than one pass holds use ingest_threads for that call only; one question uses threads."""
    embedder = Embedder(device="cpu", threads=1, ingest_threads=2)
    encoder = embedder._load()
    seen: list[int] = []
    real_encode = encoder.encode

    def encode(texts: list[str]) -> object:
        seen.append(torch.get_num_threads())
        return real_encode(texts)

    encoder.encode = encode  # type: ignore[method-assign]
    try:
        embedder.embed([f"sentence {i}" for i in range(ROWS_PER_PASS + 1)])
        embedder.embed(["one question"])
    finally:
        encoder.encode = real_encode  # type: ignore[method-assign]
    assert seen == [2, 1]
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("threads", [0, -1])
def test_fewer_than_one_thread_is_refused(threads: int) -> None:
    """Bad input tried: threads=0 and threads=-1 (torch would fail later with a less clear error)."""
    with pytest.raises(ModelError) as caught:
        Embedder(device="cpu", threads=threads)
    assert str(caught.value) == f"The embedding model needs at least 1 thread, not {threads}"


def test_configure_threads_sets_a_passive_wait_policy_unless_the_user_chose_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bad input tried: threads=0; a user's own OMP_WAIT_POLICY is kept; one thread changes nothing."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    configure_threads(1)
    assert "OMP_WAIT_POLICY" not in os.environ
    configure_threads(2)
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    configure_threads(4)
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    with pytest.raises(ValueError, match="threads must be at least 1, not 0"):
        configure_threads(0)


def _no_gpu_message(device: str) -> str:
    why = (
        f"this torch build ({torch.__version__}) is CPU-only"
        if torch.version.cuda is None
        else f"torch is built for CUDA {torch.version.cuda}, but no GPU was found"
    )
    return f"Device {device!r} was asked for, but torch sees no CUDA GPU ({why}); use device auto or cpu"


@NO_GPU
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_without_a_gpu_is_a_clear_model_error(device: str) -> None:
    """Bad input tried: device cuda (and cuda:0) on a machine where torch sees no CUDA GPU."""
    embedder = Embedder(device=device)
    with pytest.raises(ModelError) as caught:
        embedder.embed_query(STOCKHOLM)
    assert str(caught.value) == _no_gpu_message(device)


@NO_GPU
def test_auto_without_a_gpu_takes_the_cpu() -> None:
    """device auto on a machine without a GPU loads the model on the CPU."""
    embedder = Embedder(device="auto")
    assert len(embedder.embed_query(STOCKHOLM)) == 384
    encoder = embedder._load()
    assert isinstance(encoder, BertEncoder)
    assert encoder.device == torch.device("cpu")


@NO_GPU
@pytest.mark.slow
def test_citebot_ask_with_cuda_and_no_gpu_says_so(tmp_path: Path) -> None:
    """Bad input tried: CITEBOT_DEVICE=cuda on this GPU-less machine, through the real `citebot` script."""
    done = run_script(
        tmp_path,
        "ask",
        STOCKHOLM,
        "--store",
        tmp_path / "store",
        CITEBOT_CORPUS=str(SEEDS),
        CITEBOT_DEVICE="cuda",
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"The store is empty: ingesting {SEEDS} first.\nError: {_no_gpu_message('cuda')}\n"
    )
