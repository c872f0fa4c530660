"""The REPL with a model (an OpenAI-compatible stand-in) and after an abstention: only checked text shown."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from click.testing import CliRunner

from bot.cli import cli
from retrieval.inference.embedder import Embedder
from tests.bot.test_repl import CITEBOT, PROMPT, Repl, child_env, enter, screen_text, start, terminal
from tests.conftest import SEEDS, STOCKHOLM, make_engine
from tests.helpers.openai_standin import OpenAIStandIn

# The model invents [99] (the seeds give five passages): the checked answer drops it and says so in a note.
INVENTED = "The US offered to lift certain sanctions in return for a road map to denuclearization [1][99]."
CHECKED = "The US offered to lift certain sanctions in return for a road map to denuclearization. [1]"
NOTE = "Removed citations to passages that do not exist: [99]."
NITROGEN = "What is the boiling point of liquid nitrogen in kelvin?"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> tuple[Path, Path]:
    """The seeds folder and a store indexing it, built once (each test copies the store)."""
    root = tmp_path_factory.mktemp("repl-llm")
    shutil.copytree(SEEDS, root / "seeds")
    summary = make_engine(root / "store", embedder).ingest([root / "seeds"])
    assert (summary.added, summary.failed) == (1, 0)
    return root / "seeds", root / "store"


@pytest.fixture
def store(indexed: tuple[Path, Path], tmp_path: Path) -> Path:
    """This test's copy of the store (a session writes its history file into it)."""
    shutil.copytree(indexed[1], tmp_path / "store")
    return tmp_path / "store"


@pytest.fixture
def model() -> Iterator[OpenAIStandIn]:
    """The stand-in, answering with a reply that cites a passage that does not exist."""
    with OpenAIStandIn() as standin:
        standin.reply(INVENTED, token_pause=0.08)
        yield standin


def llm_env(model: OpenAIStandIn) -> dict[str, str]:
    """What points a citebot subprocess at the stand-in."""
    return {"CITEBOT_LLM": "openai", "CITEBOT_LLM_BASE_URL": model.base_url, "CITEBOT_LLM_MODEL": "stub"}


def test_a_models_unchecked_reply_never_reaches_the_terminal(
    model: OpenAIStandIn, indexed: tuple[Path, Path], store: Path, tmp_path: Path
) -> None:
    """Bad input: a streamed reply citing [99] of five passages; the terminal shows the model's progress, then
    only the checked answer (its [99] named in the note, never in an answer's text)."""
    env = child_env(tmp_path, indexed[0], **llm_env(model))
    with terminal(["repl", "--store", str(store)], env, tmp_path) as child:
        start(child)
        child.sendline(STOCKHOLM)
        child.expect(re.escape("stockholm-talks-editorial.txt:17"))
        raw = child.before + child.after
        child.expect(PROMPT)
        raw += child.before
        child.sendeof()
        child.expect(pexpect.EOF)
        raw += child.before
    assert model.requests[0]["stream"] is True
    assert "The model is writing (" in raw  # the spinner counted the tokens as they came
    flat = screen_text(raw)
    assert CHECKED in flat and f"Note: {NOTE}" in flat
    assert "[1][99]" not in flat and "denuclearization [1]" not in flat
    assert flat.count("[99]") == flat.count(NOTE) == 1


def test_piped_output_holds_only_the_checked_answer(
    model: OpenAIStandIn, indexed: tuple[Path, Path], store: Path, tmp_path: Path
) -> None:
    """Bad input: the same reply when stdout is a pipe; the model is asked without streaming."""
    result = subprocess.run(
        [str(CITEBOT), "repl", "--store", str(store)],
        input=STOCKHOLM + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=child_env(tmp_path, indexed[0], **llm_env(model)),
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{CHECKED}\n\n"), result.stdout
    assert f"\nNote: {NOTE}\n\nSources:\n  [1] stockholm-talks-editorial.txt, line 17: " in result.stdout
    assert "[1][99]" not in result.stdout + result.stderr
    assert not model.requests[0].get("stream")


def test_cite_opens_an_abstentions_closest_match_on_a_terminal(
    indexed: tuple[Path, Path], store: Path, tmp_path: Path, embedder: Embedder
) -> None:
    """After an abstention, `:cite 1` opens the first closest match shown (numbered [1]); `:cite 4` of three
    matches is one error line."""
    first = make_engine(store, embedder).ask(NITROGEN)
    assert first.abstained and len(first.passages) >= 3
    opened = CliRunner().invoke(cli, ["cite", first.passages[0].id, "--store", str(store)])
    assert opened.exit_code == 0, opened.output
    heading, _, quoted = opened.output.splitlines()[:3]
    with terminal(["repl", "--store", str(store)], child_env(tmp_path, indexed[0]), tmp_path) as child:
        start(child)
        shown = enter(child, NITROGEN, "Closest matches")
        assert ":cite N opens one" in shown and "[1] stockholm-talks-editorial.txt:" in shown
        cited = enter(child, ":cite 1", "»")
        assert " ".join(heading.split()) in cited
        assert " ".join(quoted.split())[:60] in cited
        assert "Error: The last answer has no closest match 4 (it has 3)" in enter(child, ":cite 4", "Error")
        child.sendeof()
        child.expect(pexpect.EOF)


def test_cite_of_a_closest_match_when_piped(
    indexed: tuple[Path, Path], store: Path, embedder: Embedder
) -> None:
    """Piped: the closest matches numbered as the REPL's :cite takes them, the view as `citebot cite ID`'s."""
    repl = Repl(make_engine(store, embedder), indexed[0])
    out = repl.send(NITROGEN)
    answer = repl.session.last
    assert answer is not None and answer.abstained
    first = answer.passages[0]
    assert "Closest matches (not an answer; :cite N opens one):\n  [1] " in out
    assert f"\n      id {first.id}\n" in out
    opened = CliRunner().invoke(cli, ["cite", first.id, "--store", str(store)])
    assert repl.send(":cite 1") == opened.output
    assert repl.send(":cite 0") == "Error: The last answer has no closest match 0 (it has 3)\n"
