"""Thread settings that only act when in the environment before torch is imported: set at the door."""

from __future__ import annotations

import os

# Measured by `python -m bench.busy` (2-core AMD EPYC, 2 CPU burners beside it, 100 warm questions per
# setting, interleaved): with 2 torch threads, warm answer p50 on busy cores was 1,404 ms with OpenMP's
# default wait policy and 148 ms with PASSIVE (earlier run: 434 vs 100 ms): idle pool threads that spin
# take the core the working one needs. With 1 thread (the default) it made no difference (167 vs 161 ms).
WAIT_POLICY = "PASSIVE"


def configure_threads(threads: int) -> None:
    """Before torch is imported: with more than one thread, idle OpenMP threads sleep instead of spinning."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    if threads > 1:
        os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)  # a policy the user set is kept
