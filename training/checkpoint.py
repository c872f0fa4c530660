"""Training checkpoints in WORK (outside the repository): a stopped run resumes, another plan is refused."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

CHECKPOINT = "scorer-checkpoint.pt"
# Steps between checkpoints: about 5 minutes of a 6-layer run on 2 cores (~1.7 s a step).
EVERY = 200


class CheckpointError(Exception):
    """A checkpoint that cannot be resumed into this run (damaged, another layer count, another plan)."""


def plan_key(
    layers: int, epochs: float, seed: int, pool: Mapping[str, int], rows: int, steps: int
) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the network's size and the whole training plan."""
    return {
        "layers": layers,
        "epochs": epochs,
        "seed": seed,
        "pool": dict(pool),
        "rows": rows,
        "steps": steps,
    }


def _load(path: Path) -> dict[str, Any]:
    try:
        with warnings.catch_warnings():  # torch warns of a damaged file's pickle protocol, then raises
            warnings.simplefilter("ignore")
            state = torch.load(path, weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise CheckpointError(
            f"the training checkpoint {path} is damaged ({type(exc).__name__}); "
            "delete it to train from the start"
        ) from exc
    if not isinstance(state, dict) or not {"key", "step", "net", "optimiser", "schedule"} <= set(state):
        raise CheckpointError(f"the training checkpoint {path} is damaged; delete it to train from the start")
    return state


def check_checkpoint(path: Path, layers: int) -> None:
    """Before any work: a checkpoint there must be readable and of this layer count (CheckpointError)."""
    if path.is_file():
        found = int(_load(path)["key"]["layers"])
        if found != layers:
            raise CheckpointError(
                f"the training checkpoint {path} is of a {found}-layer network, not {layers}: "
                f"run with LAYERS={found} to resume it, or delete it to train from the start"
            )


def read_checkpoint(path: Path, key: Mapping[str, Any]) -> dict[str, Any] | None:
    """The checkpoint's state if there is one for exactly this plan; None if there is none."""
    if not path.is_file():
        return None
    check_checkpoint(path, int(key["layers"]))
    state = _load(path)
    if state["key"] != dict(key):
        other = {k: state["key"].get(k) for k in key if state["key"].get(k) != key[k]}
        raise CheckpointError(
            f"the training checkpoint {path} is of another plan ({other}); delete it to train from the start"
        )
    return state


def write_checkpoint(path: Path, key: Mapping[str, Any], step: int, running: float, **parts: Any) -> None:
    """Save the state after `step` steps, atomically (a stop while writing keeps the previous one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({"key": dict(key), "step": step, "running": running, **parts}, partial)
    os.replace(partial, path)
