"""Readers on a Chroma server follow another process's rebuild, as they do on an embedded store.

A rebuild fills a new generation, switches the head and drops the old generation's collections. A reader
that kept answering from its own handle to the old generation failed every question after it ("Lost the
Chroma server ... Collection [...] does not exist") until restarted; the next question now opens the new
generation. The rebuilds run in other processes (`citebot ingest --rebuild`), as a cron job would.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from retrieval.inference.embedder import Embedder
from tests.bot.test_repl import CITEBOT, child_env, enter, start, terminal
from tests.conftest import SEED_FILE, STOCKHOLM, make_engine
from tests.helpers.chroma_server import running_chroma

pytestmark = pytest.mark.slow

REBUILDS = 3


def rebuild_elsewhere(tmp_path: Path, url: str, store: Path, folder: Path) -> None:
    """`citebot ingest --rebuild` in its own process and its own store folder, on the same server."""
    env = child_env(tmp_path, folder, CITEBOT_STORE=str(store), CITEBOT_CHROMA_URL=url)
    done = subprocess.run(
        [str(CITEBOT), "ingest", "--rebuild", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    """A folder holding the seed editorial."""
    folder = tmp_path / "seeds"
    folder.mkdir()
    shutil.copy(SEED_FILE, folder / SEED_FILE.name)
    return folder


def test_an_engine_answers_across_three_rebuilds_by_another_process(
    tmp_path: Path, embedder: Embedder, seeds: Path
) -> None:
    """Bad input: the server collection an engine has open rebuilt three times by another process (each
    rebuild drops the generation the engine read); every question after each rebuild is answered."""
    with running_chroma(tmp_path / "server") as url:
        engine = make_engine(tmp_path / "reader-cache", embedder, chroma_url=url)
        engine.ingest([seeds])
        assert engine.ask(STOCKHOLM).citations
        generations = [engine.snapshot().store.generation]
        answered = 0
        for _ in range(REBUILDS):
            rebuild_elsewhere(tmp_path, url, tmp_path / "writer-cache", seeds)
            answer = engine.ask(STOCKHOLM)
            answered += bool(answer.citations)
            generations.append(engine.snapshot().store.generation)
        assert answered == REBUILDS
        assert generations == list(range(REBUILDS + 1)), "each question read the generation made live"
        # Citing, listing and status read the same newest generation, not the dropped one the engine opened.
        citation = answer.citations[0]
        assert engine.cite(citation.id).quote == citation.quote
        assert [d.source for d in engine.documents()] == ["stockholm-talks-editorial.txt"]
        assert engine.status()["generation"] == REBUILDS


def test_a_running_repl_answers_across_three_rebuilds_by_another_process(
    tmp_path: Path, embedder: Embedder, seeds: Path
) -> None:
    """Bad input: a REPL open on a server collection while another process rebuilds it three times."""
    with running_chroma(tmp_path / "server") as url:
        make_engine(tmp_path / "writer-cache", embedder, chroma_url=url).ingest([seeds])
        env = child_env(tmp_path, seeds, CITEBOT_STORE=str(tmp_path / "repl-cache"), CITEBOT_CHROMA_URL=url)
        with terminal(["repl"], env, tmp_path) as child:
            start(child)
            enter(child, STOCKHOLM, "lift certain sanctions")
            for _ in range(REBUILDS):
                rebuild_elsewhere(tmp_path, url, tmp_path / "writer-cache", seeds)
                screen = enter(child, STOCKHOLM, "lift certain sanctions")
                assert "Lost the Chroma server" not in screen and "Error" not in screen, screen
