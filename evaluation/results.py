"""Results files: indented JSON written to disk and printed the same on stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_and_print(path: Path, results: dict[str, Any]) -> None:
    """Write a results file (indented JSON) and print the same on stdout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
