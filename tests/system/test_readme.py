"""The README's transcripts, run: every `citebot` command in a block marked `<!-- transcript -->` is run in a
fresh folder holding the seeds, and its output must be what the README shows (timings, dates, the CPU's
variant and the folder's own path aside), so the front door cannot drift from the code.

Bad input tried: the README's own abstention (a question the documents cannot answer) and a citation id.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, SEEDS
from tests.helpers.console import CITEBOT

README = ROOT / "README.md"
MARK = "<!-- transcript -->"
PROMPTS = ("$ citebot ", ".venv/bin/citebot ")
# What differs from run to run or machine to machine, each replaced by a placeholder on both sides.
VARIABLE = [
    (re.compile(r"\d+\.\d\d s\b"), "N.NN s"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"), "DATE"),
    (re.compile(r"^(Variant:\s+)\S+", re.M), r"\1VARIANT"),
]


def transcripts() -> list[list[tuple[str, str]]]:
    """Each marked block as (command, expected output) pairs, in order."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for marked in text.split(MARK)[1:]:
        body = marked.split("```console\n", 1)[1].split("\n```", 1)[0]
        steps: list[tuple[str, list[str]]] = []
        for line in body.splitlines():
            if line.startswith(PROMPTS):
                command = line.split("citebot ", 1)[1].split("  #", 1)[0]
                steps.append((command, []))
            elif steps:
                steps[-1][1].append(line)
        blocks.append([(command, "\n".join(lines).strip("\n")) for command, lines in steps])
    return blocks


def normal(text: str, folder: Path) -> str:
    """Output with what varies replaced, and trailing white space dropped."""
    text = text.replace(str(folder) + os.sep, "")
    for pattern, placeholder in VARIABLE:
        text = pattern.sub(placeholder, text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def test_the_readme_has_transcripts() -> None:
    blocks = transcripts()
    assert len(blocks) >= 3
    assert all(blocks), "a marked block without a citebot command"


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(transcripts())))
def test_readme_transcript_runs_as_shown(tmp_path: Path, index: int) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copytree(SEEDS, folder / "seeds")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env |= {"HOME": str(tmp_path / "home"), "CITEBOT_MODEL_CACHE": os.environ["CITEBOT_MODEL_CACHE"]}
    env["COLUMNS"] = "200"
    if index > 0:  # every block but the demo's reads the store the demo made
        made = subprocess.run([str(CITEBOT), "ingest", "--store", ".citebot", "seeds"], cwd=folder, env=env)
        assert made.returncode == 0
    for command, expected in transcripts()[index]:
        done = subprocess.run(
            [str(CITEBOT), *shlex.split(command)],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=300,
        )
        assert normal(done.stdout, folder) == normal(expected, folder), command
