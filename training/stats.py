"""The examples' counts per source, as `python -m training.run --dry-run` prints them."""

from __future__ import annotations

from typing import Any

from training.source_examples import ROW_KINDS

PARTS = ("train", "calibration", "test")
KINDS = ("answerable", "unanswerable", "other_paragraph", "out_of_corpus")


def _cell(counts: dict[str, int], part: str, name: str) -> str:
    value = counts.get(f"{part}/{name}", 0)
    ignored = counts.get(f"{part}/{name}/ignored", 0)
    return f"{value}" + (f" (+{ignored} ignored)" if ignored else "")


def train_rows_lines(sources: dict[str, dict[str, Any]]) -> list[str]:
    """The train part's negatives by kind, counted over the first n of each pool (n = 1..8): what a
    TRAIN_POOL of n for that kind reads in one epoch, beside every positive."""
    total: dict[str, int] = {}
    for c in sources.values():
        for key, n in c.get("train_rows", {}).items():
            total[key] = total.get(key, 0) + int(n)
    lines = [f"train positives: {total.get('positive', 0)}; train negatives within the first n of each pool:"]
    for kind in KINDS:
        running, cells = 0, []
        for order in range(8):
            running += total.get(f"{kind}/{order}", 0)
            cells.append(f"n={order + 1}: {running}")
        lines.append(f"- {kind}: " + ", ".join(cells))
    return lines


def stats_lines(sources: dict[str, dict[str, Any]]) -> list[str]:
    """Per source and part: articles, questions by kind, rows by kind (positives, negatives by kind) and
    the rows training reads (one epoch); then the totals."""
    lines = [
        "| source | part | articles | " + " | ".join(f"q {k}" for k in KINDS) + " | answer in pool | "
        + " | ".join(ROW_KINDS) + " | train pairs/epoch |",
        "|" + " --- |" * (5 + len(KINDS) + len(ROW_KINDS)),
    ]  # fmt: skip
    totals = {p: 0 for p in PARTS}
    for name, c in sources.items():
        for part in PARTS:
            q, rows = c["questions"], c["rows"]
            pool = c["answer_in_pool"].get(f"{part}/answerable", "-")
            cells = [name, part, str(c["articles"].get(part, 0))]
            cells += [str(q.get(f"{part}/{k}", 0)) for k in KINDS] + [str(pool)]
            cells += [_cell(rows, part, k) for k in ROW_KINDS] + [str(rows.get(f"{part}/trained", "-"))]
            lines.append("| " + " | ".join(cells) + " |")
            totals[part] += sum(q.get(f"{part}/{k}", 0) for k in KINDS)
        if c.get("duplicates"):
            lines.append(
                f"| {name} | (dropped: asked in another source of the same title) | {c['duplicates']} |"
            )
    trained = sum(int(c["rows"].get("train/trained", 0)) for c in sources.values())
    lines += ["", *train_rows_lines(sources)]
    lines += [
        "",
        "questions asked (all kinds): " + ", ".join(f"{p} {n}" for p, n in totals.items()),
        f"train pairs per epoch (positives, first TRAIN_POOL negatives of each pool): {trained}",
    ]
    return lines
