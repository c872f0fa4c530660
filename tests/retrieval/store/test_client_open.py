"""Opening a Chroma client skips the `overrides` package's start-up signature checks for chromadb alone."""

from __future__ import annotations

from pathlib import Path

import overrides
import pytest

from retrieval.store.client import open_client
from retrieval.store.records import StoreLocation


def test_overrides_checks_are_restored_after_a_client_opens(tmp_path: Path) -> None:
    """The decorator is overrides' own again once the client is open, and still refuses a bad override
    (bad input: a method that overrides nothing); the client works."""
    real = overrides.override
    client = open_client(StoreLocation(tmp_path / "store"))
    assert overrides.override is real
    assert client.list_collections() == []
    client.create_collection("probe").add(ids=["a"], documents=["text"], embeddings=[[0.0, 1.0]])
    assert client.get_collection("probe").count() == 1

    class Base:
        def method(self) -> int:
            return 1

    with pytest.raises(TypeError, match="No super class method found"):

        class Wrong(Base):
            @overrides.override
            def other(self) -> int:
                return 2
