"""Articles split three ways, never questions: train the network, calibrate the fusion, test the whole."""

from __future__ import annotations

import random
from collections.abc import Iterable

# Of every 12 articles: 7 train the network, 2 fit the fusion and the threshold, 3 are only ever tested.
SHARES = {"train": 7, "calibration": 2, "test": 3}


def split_articles(titles: Iterable[str], with_unanswerable: set[str], seed: int) -> dict[str, str]:
    """Each title's part; articles with and without SQuAD 2.0 questions are split apart, so each part has
    both kinds. Deterministic for a seed and a set of titles."""
    parts: dict[str, str] = {}
    whole = sum(SHARES.values())
    for group in (
        sorted(t for t in set(titles) if t in with_unanswerable),
        sorted(set(titles) - with_unanswerable),
    ):
        order = list(group)
        random.Random(seed).shuffle(order)
        bounds, total = [], 0
        for name, share in SHARES.items():
            total += share
            bounds.append((name, round(len(order) * total / whole)))
        begin = 0
        for name, end in bounds:
            for title in order[begin:end]:
                parts[title] = name
            begin = end
    return parts
