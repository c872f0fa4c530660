"""Fast start: `citebot --help` imports nothing heavy; `status` and `cite` never load the model.

Each command runs in a fresh interpreter (what a user's shell starts), which then lists the heavy modules
left in sys.modules. No timings here: they belong to the benchmarks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from retrieval.inference.embedder import Embedder
from tests.conftest import make_engine
from tests.helpers.console import script_env

pytestmark = pytest.mark.slow

# The model's runtimes: `status` and `cite` read the store and files only, so none of them may load.
MODEL = ("torch", "transformers", "sentence_transformers", "onnxruntime")
# Besides the model: the store, the engine's libraries, and pydantic (with pydantic-settings 0.3 s of a
# 0.15 s `--help` measured without them, on a 2-core AMD EPYC).
HEAVY = (*MODEL, "chromadb", "langchain_core", "langsmith", "numpy", "bm25s", "pydantic", "pydantic_settings")

# Runs the command as the console script does, then writes which of the named modules were imported.
PROBE = """
import json, sys
from bot.cli import cli

report, names, args = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
try:
    code = cli.main(args, prog_name="citebot", standalone_mode=False)
except SystemExit as exc:
    code = exc.code
with open(report, "w", encoding="utf-8") as handle:
    json.dump({"code": code, "imported": [n for n in names if n in sys.modules]}, handle)
"""


def imported_by(tmp_path: Path, names: tuple[str, ...], *args: str | Path) -> tuple[list[str], str]:
    """Which of names `citebot ARGS` imported in a fresh interpreter, and what it printed."""
    report = tmp_path / "imported.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), ",".join(names), *(str(a) for a in args)],
        env=script_env(tmp_path / "home"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text(encoding="utf-8"))
    assert result["code"] in (0, None), done.stdout + done.stderr
    imported: list[str] = result["imported"]
    return imported, done.stdout


@pytest.fixture
def small_store(tmp_path: Path, embedder: Embedder) -> tuple[Path, str]:
    """A real store of one short document (ingested with the session's model) and a citation id in it."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "release.txt").write_text(
        "Release 2.4 ships on 14 March.\nThe release manager is Priya Raman.\n", encoding="utf-8"
    )
    engine = make_engine(tmp_path / "store", embedder)
    engine.ingest([folder])
    answer = engine.ask("When does release 2.4 ship?")
    assert not answer.abstained
    return tmp_path / "store", answer.citations[0].id


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    imported, out = imported_by(tmp_path, HEAVY, "--help")
    assert "Usage: citebot" in out
    assert imported == []


def test_status_does_not_load_the_model(tmp_path: Path, small_store: tuple[Path, str]) -> None:
    store, _ = small_store
    imported, out = imported_by(tmp_path, MODEL, "status", "--store", store)
    assert "Documents:" in out
    assert imported == []


def test_cite_does_not_load_the_model(tmp_path: Path, small_store: tuple[Path, str]) -> None:
    store, citation = small_store
    imported, out = imported_by(tmp_path, MODEL, "cite", citation, "--store", store)
    assert "Release 2.4 ships on 14 March." in out
    assert imported == []
