"""The public data sets the benchmarks read (DATA=, default ../shared/data): each checked before any work."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SQUAD = "squad/dev-v1.1.even-articles.json"
SQUAD2 = "squad2/dev-v2.0.even-articles.json"
SCIFACT = "scifact"
SCIFACT_FILES = ("corpus.jsonl", "claims_train.jsonl", "qrels/train_cited.tsv")
DOCUMENTS = "documents"
# What each entry point reads under DATA (a folder's name ends in /).
NEEDS = {
    "bench.run": (SQUAD, SQUAD2, *(f"{SCIFACT}/{name}" for name in SCIFACT_FILES)),
    "bench.formats": (SQUAD, f"{DOCUMENTS}/"),
    "bench.scopes": (SQUAD, *(f"{SCIFACT}/{name}" for name in SCIFACT_FILES)),
}


def data_option(parser: argparse.ArgumentParser) -> None:
    """--data FOLDER, as every benchmark that reads the public sets takes it (the Makefile's DATA=)."""
    parser.add_argument(
        "--data", type=Path, default=DATA, help=f"the public data sets' folder (make's DATA=; default {DATA})"
    )


def missing(data: Path, needed: Iterable[str]) -> list[str]:
    """The needed names (files, or folders ending in /) that are not under data."""
    return [n for n in needed if not ((data / n).is_dir() if n.endswith("/") else (data / n).is_file())]


def require(command: str, data: Path) -> None:
    """Exit 2 with one line (the folder, what belongs there, DATA=) when anything command reads is missing."""
    needed = NEEDS[command]
    absent = missing(data, needed)
    if not absent:
        return
    if not data.is_dir():
        problem = "but that folder does not exist"
    elif len(absent) == len(needed):
        problem = "but that folder holds none of them"
    else:
        problem = f"but that folder lacks {', '.join(absent)}"
    print(
        f"Error: {command} reads the public data sets from {data} ({', '.join(needed)}), {problem}. "
        "../shared/data/README.md describes them; DATA=FOLDER (make) or --data FOLDER reads another folder.",
        file=sys.stderr,
    )
    sys.exit(2)


def main() -> None:
    """`python -m bench.data [--data FOLDER] COMMAND...`: what those benchmarks read, checked up front."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    data_option(parser)
    parser.add_argument("commands", nargs="+", choices=sorted(NEEDS))
    args = parser.parse_args()
    for command in args.commands:
        require(command, args.data)


if __name__ == "__main__":
    main()
