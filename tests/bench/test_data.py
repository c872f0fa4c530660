"""The benchmarks without their data: one line naming the folder, what belongs there and DATA=, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.data import NEEDS, SQUAD

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`python -m ARGS` from the checkout, as the Makefile runs the benchmarks."""
    return subprocess.run(
        [sys.executable, "-m", *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def assert_one_line(result: subprocess.CompletedProcess[str], command: str, data: Path, problem: str) -> None:
    """Exit 2, nothing on stdout, one `Error:` line on stderr naming the folder, its files and DATA=."""
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {command} reads the public data sets from {data} ("), line
    assert all(name in line for name in NEEDS[command])
    assert problem in line and "DATA=FOLDER (make) or --data FOLDER" in line
    assert "Traceback" not in result.stderr


def test_bench_quick_without_its_data_says_which_folder_and_exits_2(tmp_path: Path) -> None:
    """Bad input: `bench.run --quick --data` an empty folder (`make bench-quick` without ../shared/data)."""
    result = bench("bench.run", "--quick", "--data", tmp_path)
    assert_one_line(result, "bench.run", tmp_path, "but that folder holds none of them")


@pytest.mark.parametrize("command", ["bench.formats", "bench.scopes"])
def test_every_bench_that_reads_data_checks_it_first(tmp_path: Path, command: str) -> None:
    """Bad input: a DATA folder that does not exist."""
    missing = tmp_path / "no-such-folder"
    assert_one_line(bench(command, "--data", missing), command, missing, "but that folder does not exist")


def test_a_partly_filled_folder_names_what_it_lacks(tmp_path: Path) -> None:
    """Bad input: the SQuAD file is there, the documents folder is not; `python -m bench.data` (make's first
    step) names only what is missing, and passes once it is there."""
    (tmp_path / SQUAD).parent.mkdir(parents=True)
    (tmp_path / SQUAD).write_text("{}", encoding="utf-8")
    result = bench("bench.data", "--data", tmp_path, "bench.formats")
    assert_one_line(result, "bench.formats", tmp_path, "but that folder lacks documents/.")
    (tmp_path / "documents").mkdir()
    assert bench("bench.data", "--data", tmp_path, "bench.formats").returncode == 0
