"""A collection's generations: a rebuild fills a new one beside the live one, then the head switches to it.

Generation 0 is a collection's first pair (`<name>`, `<name>-docs`), as every store had before rebuilds were
atomic; generation N > 0 is `<name>.gN`, `<name>.gN-docs`. The head, `<name>.head`, is an empty collection
whose metadata names the live generation: rewriting it is one Chroma write, the switch of a rebuild, so a
reader sees the old generation whole or the new one whole. No head means generation 0. A generation present
but not live was left by a rebuild killed half-way (or an old one not yet dropped): the next writer drops it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from retrieval.store.names import generation_names, generation_of, head_name


@dataclass(frozen=True)
class Generations:
    """Which generation of a collection is live, and which are present in Chroma."""

    live: int
    present: frozenset[int]
    names: frozenset[str]

    def leftovers(self) -> list[int]:
        """Generations present that are not live: a killed rebuild's, or a replaced one not yet dropped."""
        return sorted(self.present - {self.live})

    def next(self) -> int:
        """The number a new generation takes (never one a leftover still holds)."""
        return max(self.present | {self.live}) + 1


def read_generations(client: Any, collection: str) -> Generations:
    """The head and the physical collections of collection, read in one listing."""
    listed = client.list_collections()
    head = next((c for c in listed if c.name == head_name(collection)), None)
    live = int((head.metadata or {}).get("generation", 0)) if head is not None else 0
    present = {generation_of(c.name, collection) for c in listed}
    return Generations(
        live=live,
        present=frozenset(g for g in present if g is not None),
        names=frozenset(str(c.name) for c in listed),
    )


def switch_head(client: Any, collection: str, generation: int) -> None:
    """Make generation the live one (one metadata write: readers see the old or the new, never between)."""
    head = client.get_or_create_collection(head_name(collection))
    head.modify(metadata={"generation": generation})


def drop_generation(client: Any, collection: str, generation: int, names: frozenset[str]) -> None:
    """Delete a generation's collections that are present (only a writer, under the writer lock)."""
    for name in generation_names(collection, generation):
        if name in names:
            client.delete_collection(name)
