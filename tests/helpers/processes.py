"""Stopping the servers a test started, so nothing is left running."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ask a server to stop; kill it if it has not within 10 seconds."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_until_listening(process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    """Wait for `citebot slack` to log that it listens (its stderr goes to log); fail if it exits first."""
    deadline = time.monotonic() + timeout
    while "citebot is listening" not in log.read_text() and time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        time.sleep(0.2)
