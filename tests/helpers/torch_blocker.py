"""A Python environment where torch, transformers and sentence-transformers cannot be imported.

`blocked_env(folder)` writes a `sitecustomize.py` into folder and returns the environment variables that make
every Python process started with them load it first: it puts a `sys.meta_path` finder in front of all
others that refuses those packages (and their submodules) as if they were not installed, and appends each
refused name to the file named by TORCH_BLOCKER_LOG, so a test can prove the blocker was active.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BLOCKED = ("torch", "transformers", "sentence_transformers")
LOG_VARIABLE = "TORCH_BLOCKER_LOG"

SITECUSTOMIZE = f'''\
"""Written by tests/helpers/torch_blocker.py: refuses {", ".join(BLOCKED)} as if they were not installed."""

import os
import sys

_BLOCKED = {BLOCKED!r}


class _Refuse:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in _BLOCKED:
            log = os.environ.get({LOG_VARIABLE!r})
            if log:
                with open(log, "a", encoding="utf-8") as handle:
                    handle.write(f"{{os.getpid()}} {{name}}\\n")
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, _Refuse())
'''


def blocked_env(folder: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """environ (default: this process's) with the blocker on PYTHONPATH and its log in folder/refused.log."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    env = dict(os.environ if environ is None else environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH", "")) if p)
    env[LOG_VARIABLE] = str(folder / "refused.log")
    return env


def refused(env: dict[str, str]) -> list[str]:
    """The module names the blocker has refused so far under env (one line per refusal)."""
    log = Path(env[LOG_VARIABLE])
    return (
        [line.split(" ", 1)[1] for line in log.read_text(encoding="utf-8").splitlines()]
        if log.exists()
        else []
    )


def assert_blocked(env: dict[str, str]) -> None:
    """Under env, the interpreter citebot runs on cannot import any blocked package, and logs the refusal."""
    probe = (
        "import importlib\n"
        f"for name in {BLOCKED!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError as exc:\n"
        "        print(name, exc)\n"
        "    else:\n"
        "        print(name, 'imported')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{n} No module named {n!r} (blocked by the test)" for n in BLOCKED]
    assert set(BLOCKED) <= set(refused(env))
