"""How a store's index was built (model, chunking, format): recorded with it, checked before vectors mix.

The record lives in Chroma itself, as JSON in the metadata of the generation's manifest collection: a server
store carries it as a local one does, and it is written before the generation's first chunk, so it always
describes the vectors beside it; a rebuild's new generation carries its own, made live with it in one switch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from retrieval.errors import BuildMismatchError, StoreError
from retrieval.store.folder import STORE_FORMAT
from retrieval.types import ModelIdentity

REBUILD_HINT = (
    "run `citebot ingest --rebuild PATH...` to index everything again this way "
    "(the old index answers until the new one is complete)"
)
# A store indexed before build records existed holds no record. It is adopted, not refused: its vectors were
# made by the only model and variant citebot had then (the packaged MiniLM in fp32), so it is taken as built
# by the current model in fp32, and its record is written at its next ingest.
ADOPTED_VARIANT = "fp32"


@dataclass(frozen=True)
class BuildRecord:
    """What made one generation's chunks and vectors."""

    model: ModelIdentity
    chunk_chars: int
    # The chunker's version, handed in by the engine that builds every record: the store never imports the
    # chunker (the read side never imports the writer).
    chunker_version: int
    store_format: int = STORE_FORMAT
    # Document parsers' versions by format (issue 15 adds PDF, DOCX...); plain text needs none.
    parsers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        """The record as the manifest's metadata holds it (Chroma metadata takes scalars only)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str) -> BuildRecord:
        """Inverse of to_json; a record that cannot be read is damage (StoreError)."""
        try:
            data = json.loads(text)
            model = data["model"]
            return cls(
                model=ModelIdentity(
                    name=str(model["name"]),
                    sha256=str(model["sha256"]),
                    variant=str(model["variant"]),
                    dimension=int(model["dimension"]),
                ),
                chunk_chars=int(data["chunk_chars"]),
                chunker_version=int(data["chunker_version"]),
                store_format=int(data["store_format"]),
                parsers={str(k): str(v) for k, v in dict(data.get("parsers") or {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(
                f"The store {where} is damaged: its build record is unreadable; {REBUILD_HINT}"
            ) from exc

    def as_status(self) -> dict[str, Any]:
        """The record as `citebot status --json` shows it."""
        return {
            "model": self.model.name,
            "sha256": self.model.sha256,
            "variant": self.model.variant,
            "dimension": self.model.dimension,
            "chunk_chars": self.chunk_chars,
            "chunker_version": self.chunker_version,
            "store_format": self.store_format,
            "parsers": dict(self.parsers),
        }


def model_differences(recorded: BuildRecord, wanted: BuildRecord) -> list[str]:
    """What differs in the model that makes vectors ("dimension 384 -> 768"); the variant never does."""
    was, now = recorded.model, wanted.model
    found = []
    if was.name != now.name:
        found.append(f"model {was.name} -> {now.name}")
    if was.sha256 != now.sha256:
        found.append(f"model weights sha256 {was.sha256[:12]} -> {now.sha256[:12]}")
    if was.dimension != now.dimension:
        found.append(f"dimension {was.dimension} -> {now.dimension}")
    return found


def ingest_differences(recorded: BuildRecord, wanted: BuildRecord) -> list[str]:
    """What differs between how a store was built and how an ingest would add to it."""
    found = model_differences(recorded, wanted)
    if recorded.chunk_chars != wanted.chunk_chars:
        found.append(f"chunk size {recorded.chunk_chars} -> {wanted.chunk_chars}")
    if recorded.chunker_version != wanted.chunker_version:
        found.append(f"chunker version {recorded.chunker_version} -> {wanted.chunker_version}")
    if recorded.store_format != wanted.store_format:
        found.append(f"store format {recorded.store_format} -> {wanted.store_format}")
    return found


def check_format(record: BuildRecord, where: str) -> None:
    """Refuse a store written in a newer format than this citebot reads (whatever the command)."""
    if record.store_format > STORE_FORMAT:
        raise BuildMismatchError(
            f"The store {where} has store format {record.store_format}, newer than this citebot reads "
            f"({STORE_FORMAT}); use the citebot that built it, or run `citebot ingest --rebuild PATH...` "
            "to set it aside and index the files again"
        )


def refuse(where: str, differences: list[str]) -> BuildMismatchError:
    """The error for a store built another way: what differs, and how to rebuild it."""
    found = "; ".join(differences)
    return BuildMismatchError(f"The store {where} was built differently ({found}); {REBUILD_HINT}")


def store_variant(record: BuildRecord | None, indexed: bool) -> str | None:
    """The variant to embed with: the store's; fp32 for a store older than records; else None (default)."""
    if record is not None:
        return record.model.variant
    return ADOPTED_VARIANT if indexed else None
