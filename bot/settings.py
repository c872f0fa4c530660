"""Settings, built once at the door: explicit option > CITEBOT_* environment variable > default."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from retrieval.engine import EngineConfig
from retrieval.store import StoreLocation

PROJECT_SEEDS = Path(__file__).resolve().parent.parent / "seeds"


class SettingsError(Exception):
    """A setting has a value citebot cannot use."""


class Settings(BaseSettings):
    """Everything configurable about citebot."""

    model_config = SettingsConfigDict(env_prefix="CITEBOT_", extra="ignore")

    store: Path = Field(Path(".citebot"), description="Store folder (embedded Chroma, caches, history).")
    chroma_url: str | None = Field(None, description="http://host:port of a Chroma server to use instead.")
    collection: str = Field("citebot", min_length=3, description="Chroma collection name (3+ characters).")
    corpus: Path = Field(PROJECT_SEEDS, description="What `ask` ingests first when the store is empty.")
    model: str = Field("", description="Embedding model folder; empty means the packaged all-MiniLM-L6-v2.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where the model runs; auto takes a GPU."
    )
    k: int = Field(5, ge=1, le=50, description="How many passages to retrieve.")
    chunk_chars: int = Field(1000, ge=200, le=4000, description="Largest chunk, in characters.")

    def engine_config(self) -> EngineConfig:
        """What the engine needs from these settings."""
        return EngineConfig(
            location=StoreLocation(self.store, self.chroma_url or None, self.collection),
            model=self.model,
            device=self.device,
            k=self.k,
            chunk_chars=self.chunk_chars,
        )


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit (non-None) overrides on top."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'CITEBOT_' + str(err['loc'][0]).upper() if err['loc'] else 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"Invalid setting: {problems}") from exc
