"""A tiny training set written by hand: four pools of one right and one wrong sentence (no benchmark data)."""

from __future__ import annotations

import json
from pathlib import Path


def tiny_examples(path: Path) -> Path:
    """Eight example rows (one question, a right and a wrong sentence, four times) written to path."""
    rows = [
        {
            "part": "train",
            "kind": "answerable",
            "qid": f"q{n // 2}",
            "order": n % 2,
            "question": "Who manages release 2.4?",
            "sentence": s,
            "context": "notes",
            "label": y,
        }
        for n, (s, y) in enumerate(
            [("The release manager is Priya Raman.", 1), ("Decaf is in the left cupboard.", 0)] * 4
        )
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path
