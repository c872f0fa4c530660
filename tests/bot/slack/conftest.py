"""The Slack door's fixtures: one engine on one store for every end-to-end test, no threads left behind."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from retrieval.engine import Engine
from retrieval.inference.embedder import Embedder
from tests.bot.slack.harness import DRILL_DOC
from tests.conftest import SEED_FILE, STOCKHOLM, make_engine

HR_DOC = "# Pay\n\nThe salary band for a senior engineer is 91,500 to 118,250 zorkmids a year.\n"


@pytest.fixture(scope="package")
def shared_engine(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Engine:
    """One engine on one store (the seed editorial plus a document full of Slack pings), for every test.

    Package-scoped: the end-to-end tests were one module sharing one engine, and still share it.
    """
    root = tmp_path_factory.mktemp("slack")
    docs = root / "docs"
    docs.mkdir()
    shutil.copy(SEED_FILE, docs / SEED_FILE.name)
    (docs / "drill.md").write_text(DRILL_DOC, encoding="utf-8")
    engine = make_engine(root / "store", embedder)
    summary = engine.ingest([docs])
    assert (summary.added, summary.failed) == (2, 0)
    engine.ask(STOCKHOLM)  # builds the chain once, outside every test's timing
    return engine


@pytest.fixture(scope="package")
def two_collections(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Engine:
    """`citebot` holds the fire-drill note, `hr` a pay note (each made by ingest)."""
    root = tmp_path_factory.mktemp("handoff")
    for folder, name, text in (("general", "drill.md", DRILL_DOC), ("hr", "pay.md", HR_DOC)):
        (root / folder).mkdir()
        (root / folder / name).write_text(text, encoding="utf-8")
    engine = make_engine(root / "store", embedder)
    assert engine.ingest([root / "general"]).added == 1
    hr_config = replace(engine.config, location=replace(engine.config.location, collection="hr"))
    assert Engine(hr_config, embedder=embedder).ingest([root / "hr"]).added == 1
    return engine


@pytest.fixture
def no_leftover_threads() -> Iterator[None]:
    """Each test stops every server, socket client and listener pool it started (each module's pytestmark)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while True:
        leftover = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leftover or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leftover, f"threads left running: {leftover}"
