"""Shared fixtures: offline guard, isolated environment, the model loaded once, engines on tmp stores."""

from __future__ import annotations

import atexit
import functools
import ipaddress
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.slack.feedback import FeedbackStore
from retrieval.answer.learned_scorer import MODELS, AnswerScorer
from retrieval.engine import Engine, EngineConfig
from retrieval.inference.embedder import Embedder, resolve_model_path
from retrieval.store.chunk_store import StoreLocation
from tests.helpers.slack_standin import SlackStandIn

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = SEEDS / "stockholm-talks-editorial.txt"
STOCKHOLM = "What did the US offer in Stockholm?"

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# One model cache for the run, built from the packaged model by the first test that needs it (as on a fresh
# machine; ~15 s) and shared by every engine and subprocess after that, then removed.
MODEL_CACHE = Path(tempfile.mkdtemp(prefix="citebot-models-"))
atexit.register(shutil.rmtree, MODEL_CACHE, True)


# A shell starts a job in the background (`make test &`, nohup) with SIGINT ignored, and a child inherits an
# ignored signal: the tests that press Ctrl-C on a citebot subprocess would then wait on one that cannot hear
# it. Python's own handler is reset at exec, so the children start with the default and install theirs.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _is_loopback(address: Any) -> bool:
    if isinstance(address, str | bytes):
        return True  # AF_UNIX socket paths stay on this machine
    if not isinstance(address, tuple):
        return False
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to a non-loopback address fails the test."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guard(address: Any) -> None:
        if not _is_loopback(address):
            raise AssertionError(f"test tried to reach the network: {address!r}")

    def connect(self: socket.socket, address: Any) -> Any:
        guard(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        guard(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the user's CITEBOT_* settings or writes to their home."""
    for name in list(os.environ):
        if name.startswith("CITEBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CITEBOT_MODEL_CACHE", str(MODEL_CACHE))


@pytest.fixture(autouse=True)
def closed_stores(tmp_path: Path) -> Iterator[None]:
    """Chroma clients a test opened on its own folders are stopped after it, their files closed.

    Chroma caches one client per folder for the life of the process: without this, each test's store
    kept about 16 descriptors open, and the run passed select()'s limit of 1024 in a later pexpect test.
    """
    yield
    from chromadb.api.shared_system_client import SharedSystemClient

    systems = SharedSystemClient._identifier_to_system
    for identifier in [i for i in systems if i.startswith(str(tmp_path))]:
        SharedSystemClient._identifier_to_refcount.pop(identifier, None)
        systems.pop(identifier).stop()


@pytest.fixture(scope="session", autouse=True)
def built_models() -> None:
    """The ONNX files built into MODEL_CACHE before any test, as `make setup` builds them (~20 s once)."""
    from retrieval.model_setup import prepare_models

    prepare_models("", MODEL_CACHE, MODELS, 1, None)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real all-MiniLM-L6-v2, loaded once for the whole run."""
    # fp32: a test must give the same answers on every machine, and which variant a CPU runs fastest differs
    # between machines (int8 on this AVX2 one). On one follow-up of the seed editorial int8 quotes another
    # sentence (a close call; over 1,577 SQuAD questions it costs 0.4 points, BENCHMARKS.md). int8 has its
    # own tests (test_embedding.py, test_onnx_models.py), and each subprocess that makes a new store runs the
    # variant this machine chose.
    model = Embedder(device="cpu", cache=MODEL_CACHE, variant="fp32")
    model.embed_query("warm up")
    return model


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A small corpus folder: the seed document plus two short files."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(SEED_FILE, folder / SEED_FILE.name)
    (folder / "coffee.md").write_text(
        "# Coffee\n\nThe office coffee machine is descaled every Friday by the facilities team.\n\n"
        "Decaf beans are kept in the left cupboard.\n",
        encoding="utf-8",
    )
    (folder / "notes").mkdir()
    (folder / "notes" / "release.txt").write_text(
        "Release 2.4 ships on 14 March.\nThe release manager is Priya Raman.\n", encoding="utf-8"
    )
    return folder


@functools.cache
def shared_scorer() -> AnswerScorer:
    """The shipped answer scorer, loaded once for the whole run."""
    return AnswerScorer(MODELS, resolve_model_path(""), MODEL_CACHE)


def make_engine(store: Path, embedder: Embedder, chroma_url: str | None = None, **config: Any) -> Engine:
    """An engine on a store folder, sharing the session's model and answer scorer."""
    config.setdefault("model_cache", MODEL_CACHE)
    engine = Engine(EngineConfig(StoreLocation(store, chroma_url), device="cpu", **config))
    engine.embedder = embedder
    if (
        engine.config.scorer
        and engine.config.scorer_folder == MODELS
        and engine.config.min_confidence is None
    ):
        engine._scorer = shared_scorer()
    return engine


@pytest.fixture
def engine(tmp_path: Path, embedder: Embedder) -> Iterator[Engine]:
    """An engine on a fresh embedded store in tmp_path."""
    yield make_engine(tmp_path / "store", embedder)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    """A running Slack stand-in."""
    with SlackStandIn() as standin:
        yield standin


@pytest.fixture
def feedback(tmp_path: Path) -> Iterator[FeedbackStore]:
    """The answers-and-votes file, where `citebot feedback --store tmp_path` looks for it."""
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    yield store
    store.close()
