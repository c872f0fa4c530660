"""training/ never imports bench/; evaluation/ (what both share) imports neither. Read with ast, not run."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"training": ("bench",), "evaluation": ("bench", "training")}


def _imported(tree: ast.AST) -> list[str]:
    """Every module an absolute import names (a relative one stays inside its own package)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_training_and_evaluation_do_not_import_bench() -> None:
    offenders = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for name in _imported(tree):
                if name.split(".")[0] in forbidden:
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "layer imports not allowed:\n" + "\n".join(offenders)
