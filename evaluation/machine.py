"""What the figures were measured on: timings differ by CPU (seen here: 2.5x between two 2-core machines)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name and widest vector extension, from /proc/cpuinfo where there is one."""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or "unknown CPU"
    fields = [line.split(":", 1) for line in info.splitlines() if ":" in line]
    name = next((value.strip() for key, value in fields if key.strip() == "model name"), "")
    flags = next((value.split() for key, value in fields if key.strip() == "flags"), [])
    vector = "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "no AVX2")
    return f"{name or 'unknown CPU'} ({vector})"


def describe() -> str:
    """One line: architecture, CPU, cores, Python."""
    return f"{platform.machine()}, {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"


if __name__ == "__main__":
    print(describe())
