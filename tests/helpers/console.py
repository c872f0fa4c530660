"""The installed `citebot` console script in a subprocess: offline, with no CITEBOT_* of the caller's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

CITEBOT = Path(sys.executable).parent / "citebot"


def script_env(home: Path, **settings: str) -> dict[str, str]:
    """The caller's environment less its CITEBOT_* settings, HOME moved, models never downloaded."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    # The run's one model cache (conftest.MODEL_CACHE) unless a test names another.
    environ.update(HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if "CITEBOT_MODEL_CACHE" in os.environ:
        environ["CITEBOT_MODEL_CACHE"] = os.environ["CITEBOT_MODEL_CACHE"]
    environ.update(settings)
    return environ


def run_script(
    cwd: Path,
    *args: str | bytes | Path,
    timeout: float = 300,
    preexec_fn: Callable[[], None] | None = None,
    **settings: str,
) -> subprocess.CompletedProcess[str]:
    """`citebot ARGS` in cwd (HOME under it), its output as text; argv bytes are passed as they are."""
    argv = [os.fsencode(CITEBOT), *(a if isinstance(a, bytes) else os.fsencode(str(a)) for a in args)]
    return subprocess.run(
        argv,
        env=script_env(cwd / "home", **settings),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec_fn,
        check=False,
    )


def one_error(stderr: str | bytes, stdout: str | bytes) -> str:
    """The message of the one `Error:` line stderr must be; nothing else there, no traceback anywhere."""
    err = stderr.decode("utf-8") if isinstance(stderr, bytes) else stderr
    out = stdout.decode("utf-8") if isinstance(stdout, bytes) else stdout
    assert "Traceback" not in err + out
    assert err.startswith("Error: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err.removeprefix("Error: ").removesuffix("\n")
