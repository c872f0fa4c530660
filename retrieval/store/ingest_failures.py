"""The files of a collection that failed to ingest, with their reasons: kept between ingests so the App Home
and `citebot status` can say why a file is missing.

One JSON file per collection (StoreLayout.failed_files). After each ingest the engine hands over what it
ingested (the paths given), the failures the indexer reported (each "NAME: reason") and its root folders:
a file that failed again has its reason replaced; one this ingest covered (under a path it was given) that
did not fail is dropped, since it was indexed, or is gone, or now skipped on purpose; one outside those
paths is kept. Forgetting a file drops its failure too. A missing or unreadable record reads as no failures:
the next ingest writes it anew.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from retrieval.store.atomic_file import write_atomically

FORMAT = 1


@dataclass(frozen=True)
class FailedFile:
    """One file's last failure: its name as the ingest report gave it, where it lies, why, and when."""

    name: str
    reason: str
    path: str
    when: str

    def line(self) -> str:
        """The file and its reason, as a report shows them."""
        return f"{self.name}: {self.reason}"


def read_failures(path: Path) -> list[FailedFile]:
    """The failures recorded at path (none when there is no record or it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [FailedFile(**row) for row in data["files"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _write(path: Path, failures: Sequence[FailedFile]) -> None:
    if not failures and not path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"format": FORMAT, "files": [asdict(f) for f in sorted(failures, key=lambda f: f.name)]}
    write_atomically(path, json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8"))


def _is_under(path: str, roots: Iterable[Path]) -> bool:
    candidate = Path(path)
    return any(candidate == root or root in candidate.parents for root in roots)


def _split(report_line: str) -> tuple[str, str]:
    """An ingest report's "NAME: reason" (the name is the file's source, or a path; a folder ends in /)."""
    name, _, reason = report_line.partition(": ")
    return name, reason or report_line


def _located(name: str, roots: Sequence[Path]) -> str:
    """Where a reported name lies: an absolute path as it is, else under the root that holds it."""
    if Path(name).is_absolute() or not roots:
        return name
    for root in roots:
        if root.is_dir() and (root / name.rstrip("/")).exists():
            return str(root / name.rstrip("/"))
        if not root.is_dir() and root.name == name:
            return str(root)
    folders = [root for root in roots if root.is_dir()]
    return str((folders or roots)[0] / name.rstrip("/"))


def record_ingest(path: Path, ingested: Sequence[Path], reported: Sequence[str], when: str) -> None:
    """After an ingest of the paths `ingested`: its failures replace those of the same files, and a file
    it covered that did not fail again is dropped."""
    roots = [Path(p).expanduser().resolve() for p in ingested]
    now = {}
    for line in reported:
        name, reason = _split(line)
        now[name] = FailedFile(name, reason, _located(name, roots), when)
    kept = [f for f in read_failures(path) if f.name not in now and not _is_under(f.path, roots)]
    _write(path, [*kept, *now.values()])


def forget_failures(path: Path, sources: Iterable[str], paths: Iterable[Path]) -> None:
    """Files taken out of the index (`citebot forget`): their failures go too."""
    names = set(sources)
    roots = [Path(p).expanduser().resolve() for p in paths]
    before = read_failures(path)
    kept = [f for f in before if f.name not in names and not _is_under(f.path, roots)]
    if len(kept) != len(before):
        _write(path, kept)
