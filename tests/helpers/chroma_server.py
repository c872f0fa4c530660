"""A real Chroma server on a loopback ephemeral port, for tests that need the server backend."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.processes import stop

CHROMA = Path(sys.executable).parent / "chroma"
START_TIMEOUT = 30.0


def free_port() -> int:
    """A port the kernel picked as free (bound to 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def running_chroma(folder: Path) -> Iterator[str]:
    """Run `chroma run` on folder until the block ends; yield its http://127.0.0.1:PORT url."""
    with chroma_process(folder) as (url, _):
        yield url


@contextmanager
def chroma_process(folder: Path, data: Path | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run `chroma run` on folder/data (or data) until the block ends; yield its url and the process."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(CHROMA),
                "run",
                "--path",
                str(data or folder / "data"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _answers(url):
                if process.poll() is not None:
                    output = log_path.read_text(errors="replace")
                    raise RuntimeError(f"chroma run exited with {process.returncode}:\n{output}")
                if time.monotonic() > deadline:
                    output = log_path.read_text(errors="replace")
                    raise RuntimeError(
                        f"chroma run did not answer on {url} in {START_TIMEOUT:.0f} s:\n{output}"
                    )
                time.sleep(0.1)
            yield url, process
        finally:
            if process.poll() is None:
                stop(process)
