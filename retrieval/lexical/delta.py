"""A version's BM25 index as a persisted base plus the chunks committed since (a delta), removed ones masked.

An ingest of a few files moves the version on; building the whole index again for it would cost every
opening process what the first one paid. Instead the base's rows are placed at their positions in this
version (-1 where a chunk was removed, or its document's title changed: its words did), and the chunks the
base lacks are indexed alone, from the word cache. Scores are worked out from counts at question time
(lexical.py), so base + delta ranks exactly as one index built over the version does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.lexical.bases import Base
from retrieval.lexical.index import LexicalIndex, Part
from retrieval.lexical.segment import Segment

# Past this share of changed chunks (added + removed) an opening builds the whole index and persists it as
# the new base. Measured on the 100k-chunk store of `make bench-scale` (`python -m bench.scale_lexical`, 2
# cores, 2026-12-03): a delta costs every opening 60-110 us a chunk (its cached words read, then indexed:
# 0.28-0.54 s for 5,000) against 0.5-1.1 s for the mapped opening itself; a rebuild costs 6-10 s, once.
# At 5% a delta costs an opening at most about what the mapped base does.
REBUILD_SHARE = 0.05


@dataclass(frozen=True)
class Delta:
    """How a base maps onto a version: its rows' positions and the positions it lacks."""

    base: Base
    positions: np.ndarray | None  # None: the base is this version, row for row
    added: list[int]
    removed: int

    @property
    def changed(self) -> int:
        """Chunks indexed in the delta or masked in the base."""
        return len(self.added) + self.removed

    def index(self, added_words: Sequence[Sequence[str]], size: int) -> LexicalIndex:
        """The version's index: the base's rows where they stand, and added_words (one per added chunk)."""
        parts = [Part(self.base.segment, self.positions)]
        if self.added:
            parts.append(Part(Segment.build(added_words), np.asarray(self.added, dtype=np.int32)))
        return LexicalIndex.from_parts(parts, size)


def delta_from(
    base: Base,
    ids: Sequence[str],
    position: Mapping[str, int],
    source: Mapping[str, str],
    titles: Mapping[str, str],
) -> Delta:
    """How base maps onto the version of these sorted ids (position: id -> place, source: id -> its file)."""
    if base.ids == ids and all(base.titles.get(s) == t for s, t in titles.items()):
        return Delta(base, None, [], 0)
    retitled = {s for s, t in base.titles.items() if s in titles and titles[s] != t}
    places = (position.get(cid, -1) for cid in base.ids)
    if retitled:
        places = (
            -1 if p < 0 or source[cid] in retitled else p for cid, p in zip(base.ids, places, strict=True)
        )
    positions = np.fromiter(places, dtype=np.int32, count=len(base.ids))
    covered = np.zeros(len(ids), dtype=bool)
    kept = positions[positions >= 0]
    covered[kept] = True
    added = np.flatnonzero(~covered).tolist()
    return Delta(base, positions, added, len(base.ids) - len(kept))


def nearest(
    bases: Iterable[Base],
    ids: Sequence[str],
    position: Mapping[str, int],
    source: Mapping[str, str],
    titles: Mapping[str, str],
) -> Delta | None:
    """The base that needs the smallest delta for this version, if one needs at most REBUILD_SHARE."""
    best: Delta | None = None
    for base in bases:
        delta = delta_from(base, ids, position, source, titles)
        if delta.changed <= REBUILD_SHARE * len(ids) and (best is None or delta.changed < best.changed):
            best = delta
        if best is not None and not best.changed:
            break
    return best
