"""Articles split three ways, never questions: train the network, calibrate the fusion, test the whole."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterable, Mapping

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


def title_hash(title: str, seed: int) -> str:
    """A title's place in the shuffled order: sha256 of the seed and the normalised title."""
    return hashlib.sha256(f"{seed}:{title}".encode()).hexdigest()


def split_by_title(
    sources: Mapping[str, Iterable[str]], fixed: Mapping[str, str], seed: int
) -> dict[str, str]:
    """Each normalised title's part, one part per title across every source.

    sources: source name -> its titles (normalised), taken in order; fixed: titles whose part is already
    set (today's SQuAD dev articles). Within each source the titles not yet placed go, in title_hash
    order, to whichever part is furthest below its SHARES of that source's titles, so each source is split
    about 7 : 2 : 3 while a title met again in a later source keeps its part. Deterministic for a seed.
    """
    parts = dict(fixed)
    whole = sum(SHARES.values())
    for titles in sources.values():
        mine = sorted(set(titles))
        held = Counter(parts[t] for t in mine if t in parts)
        for title in sorted((t for t in mine if t not in parts), key=lambda t: title_hash(t, seed)):
            total = sum(held.values()) + 1
            part = max(SHARES, key=lambda p: SHARES[p] / whole * total - held[p])
            parts[title] = part
            held[part] += 1
    return parts
