"""A wheel built from the project carries everything citebot runs with, and a non-editable install of it
answers the seed question from a folder that is not the checkout.

Offline: the wheel is built with the setuptools already installed (no build isolation), installed without an
index, and the fresh venv sees this venv's dependencies through a .pth file instead of downloading them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, SEED_FILE, STOCKHOLM
from tests.helpers.console import script_env

pytestmark = pytest.mark.slow

# What the build reads: the project file, the README (its long description) and the folders it packages.
SOURCES = ("pyproject.toml", "README.md", "bot", "retrieval", "prompts", "models", "seeds")
SHIPPED = "retrieval/shipped"
EXPECTED = {
    "bot/cli.py",
    "bot/slack/app.py",
    "bot/slack/manifest.yaml",
    "retrieval/engine.py",
    "retrieval/package_files.py",
    f"{SHIPPED}/prompts/answer_system.txt",
    f"{SHIPPED}/prompts/answer_user.txt",
    f"{SHIPPED}/models/answer-scorer.safetensors",
    f"{SHIPPED}/models/answer-scorer.json",
    f"{SHIPPED}/models/answer-scorer.md",
    f"{SHIPPED}/seeds/{SEED_FILE.name}",
}
# Where the installed copy finds its folders, and the code it runs (printed as JSON by the fresh venv).
WHERE = """
import json, bot, retrieval
from bot.settings import load_settings
settings = load_settings()
print(json.dumps({"bot": bot.__file__, "retrieval": retrieval.__file__, "corpus": str(settings.corpus),
                  "prompts": str(settings.prompts), "scorer": str(settings.scorer_folder)}))
"""


def run(argv: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    """A command that must succeed; its stdout."""
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_wheel(tmp_path: Path) -> Path:
    """The wheel of a copy of the sources (a build in the checkout would leave build/ behind, and pick up a
    stale build/lib of an earlier one)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    dist = tmp_path / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    run([*pip_wheel, "--quiet", "-w", dist, source], cwd=tmp_path)
    (wheel,) = dist.glob("citebot-*.whl")
    return wheel


def fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    """A new venv holding the wheel, installed non-editable; this venv's packages visible through a .pth."""
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    pip_install: list[str | Path] = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
    ]
    run([*pip_install, "--quiet", wheel], cwd=tmp_path)
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path)
    # A plain path line: this venv's own .pth files (the editable install's finder) are not processed.
    dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site.strip()) / "citebot-test-dependencies.pth").write_text("\n".join(sorted(dependencies)) + "\n")
    return venv


def test_wheel_installed_elsewhere_answers_the_seed_question(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert names >= EXPECTED, sorted(EXPECTED - names)
    assert not any(n.startswith(("training/", "bench/", "tests/", "models/", "prompts/")) for n in names)

    venv = fresh_venv(tmp_path, wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in script_env(elsewhere / "home").items() if k != "PYTHONPATH"}

    where = json.loads(run([venv / "bin" / "python", "-c", WHERE], cwd=elsewhere, env=env))
    installed = Path(sysconfig.get_paths(vars={"base": str(venv)})["purelib"])
    for key, path in where.items():
        assert Path(path).is_relative_to(installed), (key, path)
    assert (Path(where["corpus"]) / SEED_FILE.name).is_file()
    assert (Path(where["prompts"]) / "answer_user.txt").is_file()
    assert (Path(where["scorer"]) / "answer-scorer.safetensors").is_file()
    script = venv / "bin" / "citebot"
    assert script.read_text(encoding="utf-8").startswith(f"#!{venv / 'bin' / 'python'}")

    docs = elsewhere / "docs"
    shutil.copytree(ROOT / "seeds", docs)
    store = elsewhere / "store"
    run([script, "ingest", docs, "--store", store], cwd=elsewhere, env=env)
    out = run([script, "ask", "--json", STOCKHOLM, "--store", store], cwd=elsewhere, env=env)
    answer = json.loads(out)
    assert answer["abstained"] is False
    quote = answer["citations"][0]
    assert "lift certain sanctions" in quote["quote"]
    assert Path(quote["path"]).resolve().is_relative_to(docs.resolve())
    text = (docs / SEED_FILE.name).read_bytes().decode("utf-8")
    assert text[quote["start"] : quote["end"]] == quote["quote"]
