"""Training checkpoints: a stopped run resumes to the weights an unstopped one writes; a checkpoint of
another layer count, of another plan, or damaged is refused with one clear line, never resumed into."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from retrieval.inference.embedder import resolve_model_path
from tests.helpers.training_examples import tiny_examples
from training.checkpoint import CheckpointError, check_checkpoint
from training.train import train

ROOT = Path(__file__).resolve().parents[2]


def _train(tmp_path: Path, out: str, layers: int = 1, **kw: object) -> dict[str, object]:
    examples = tiny_examples(tmp_path / "examples.jsonl")
    base = resolve_model_path("")
    return dict(train(examples, base, tmp_path / out, layers, 3.0, 1, progress=False, every=1, **kw))  # type: ignore[arg-type]


def test_a_stopped_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    whole = _train(tmp_path, "whole.safetensors")
    checkpoint = tmp_path / "work" / "scorer-checkpoint.pt"
    assert _train(tmp_path, "stopped.safetensors", checkpoint=checkpoint, stop_after=2) == {"stopped": 2}
    assert not (tmp_path / "stopped.safetensors").exists() and checkpoint.is_file()
    resumed = _train(tmp_path, "resumed.safetensors", checkpoint=checkpoint)
    assert resumed["resumed_from"] == 2 and resumed["steps"] == whole["steps"] == 3
    assert not checkpoint.exists()  # done: the next run, of any plan, starts afresh
    a, b = load_file(str(tmp_path / "whole.safetensors")), load_file(str(tmp_path / "resumed.safetensors"))
    assert all((a[k].float() - b[k].float()).abs().max() < 1e-3 for k in a)


def test_a_checkpoint_of_another_size_plan_or_damaged_is_refused(tmp_path: Path) -> None:
    checkpoint = tmp_path / "scorer-checkpoint.pt"
    _train(tmp_path, "one.safetensors", checkpoint=checkpoint, stop_after=1)
    with pytest.raises(CheckpointError, match="1-layer network, not 2"):
        check_checkpoint(checkpoint, 2)
    with pytest.raises(CheckpointError, match="1-layer network, not 2"):
        _train(tmp_path, "two.safetensors", layers=2, checkpoint=checkpoint)
    with pytest.raises(CheckpointError, match="another plan"):
        _train(tmp_path, "pool.safetensors", checkpoint=checkpoint, pool={"answerable": 0})
    checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="damaged"):
        check_checkpoint(checkpoint, 1)
    work = tmp_path / "work"
    work.mkdir()
    (work / "scorer-checkpoint.pt").write_bytes(b"\x80\x04 half a pickle")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.run",
            "--work",
            str(work),
            "--sources",
            "squad_dev",
            "--layers",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1 and "damaged" in lines[0], run.stderr
    assert sorted(p.name for p in work.iterdir()) == ["scorer-checkpoint.pt"]
