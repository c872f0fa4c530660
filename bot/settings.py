"""Settings, built once at the door: explicit option > CITEBOT_* environment variable > default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot import store_finder
from bot.errors import SettingsError as SettingsError
from retrieval.answer.llm import LLMConfig
from retrieval.package_files import shipped

# The engine's modules (langchain, numpy, chromadb) are imported only when an engine is configured, so that
# `citebot --help` and a bad setting's message do not wait for them.
if TYPE_CHECKING:
    from retrieval.engine import EngineConfig

PROJECT_SEEDS = shipped("seeds")


# The embedder's measured thread counts (retrieval/inference/embedder.py), read when settings are built,
# not imported.
def _answer_threads() -> int:
    from retrieval.inference.embedder import DEFAULT_THREADS

    return DEFAULT_THREADS


def _ingest_threads() -> int:
    from retrieval.inference.embedder import DEFAULT_INGEST_THREADS

    return DEFAULT_INGEST_THREADS


def _model_cache() -> Path:
    """XDG's cache folder (~/.cache unless XDG_CACHE_HOME says otherwise) + citebot."""
    from retrieval.inference.model_cache import default_model_cache

    cache_home = os.environ.get("XDG_CACHE_HOME")
    return default_model_cache(Path(cache_home) if cache_home else None)


class Settings(BaseSettings):
    """Everything configurable about citebot."""

    model_config = SettingsConfigDict(env_prefix="CITEBOT_", extra="ignore", populate_by_name=True)

    store: Path = Field(
        default_factory=store_finder.default_store,
        description="Store folder (embedded Chroma, caches, history); default: the nearest .citebot from the "
        "current folder upward, else the per-user store.",
    )
    chroma_url: str | None = Field(None, description="http://host:port of a Chroma server to use instead.")
    collection: str = Field("citebot", min_length=1, description="The collection used (1-63 characters).")
    corpus: Path = Field(PROJECT_SEEDS, description="What `citebot ingest` with no PATH ingests.")
    model: str = Field("", description="Embedding model folder; empty means the packaged all-MiniLM-L6-v2.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where the model runs; auto takes a GPU."
    )
    variant: Literal["auto", "fp32", "int8"] = Field(
        "auto",
        description="How a new store (or a --rebuild) embeds: auto is the fastest within cosine 0.98 of "
        "fp32 on this CPU (measured once); a store keeps the variant it was built with.",
    )
    model_cache: Path = Field(
        default_factory=_model_cache,
        description="Folder of the ONNX files built from the model (built once per machine; ~180 MB).",
    )
    k: int = Field(5, ge=1, le=50, description="How many passages to retrieve.")
    chunk_chars: int = Field(1000, ge=200, le=4000, description="Largest chunk, in characters.")
    ingest_batch: int = Field(
        256, ge=1, le=10_000, description="Chunks embedded and committed together during ingest."
    )
    threads: int = Field(
        default_factory=_answer_threads,
        ge=1,
        le=256,
        description="Threads for answering a question (1 measured best).",
    )
    ingest_threads: int = Field(
        default_factory=_ingest_threads,
        ge=1,
        le=256,
        description="Threads for embedding during ingest (every core).",
    )
    max_file_mb: float = Field(
        50, gt=0, le=100_000, description="Larger files are skipped with a reason (megabytes)."
    )
    parse_seconds: float = Field(
        60,
        gt=0,
        le=86_400,
        description="A PDF, Word file, deck or web page parsed for longer fails (seconds).",
    )
    scorer: Literal["on", "off"] = Field(
        "on",
        description="on: the learned answer scorer ranks sentences and decides abstention; off: hand-set.",
    )
    scorer_folder: Path = Field(
        shipped("models"),
        description="Folder of the answer scorer's files (default: the ones citebot ships).",
    )
    min_confidence: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Abstain under this confidence (default: the threshold fitted with the scorer).",
    )
    llm: Literal["none", "openai", "ollama"] = Field(
        "none", description="none: extractive answers; openai: any OpenAI-compatible endpoint; ollama."
    )
    llm_base_url: str | None = Field(None, description="The endpoint, e.g. http://127.0.0.1:8080/v1.")
    llm_model: str = Field("", description="Model name as the endpoint knows it.")
    llm_api_key: str | None = Field(
        None,
        validation_alias=AliasChoices("CITEBOT_LLM_API_KEY", "OPENAI_API_KEY", "llm_api_key"),
        description="API key (CITEBOT_LLM_API_KEY, else OPENAI_API_KEY); local servers need none.",
    )
    llm_timeout: float = Field(30.0, gt=0, le=600, description="Seconds to wait for the model.")
    llm_uncited: Literal["flag", "drop"] = Field(
        "drop",
        description="A model sentence citing no passage: drop (left out) or flag (shown marked [no source]).",
    )
    prompts: Path = Field(shipped("prompts"), description="Folder of the prompt templates.")

    @field_validator("store", "corpus", "model_cache", "scorer_folder", "prompts", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        """An empty folder setting is refused: a Path of "" would silently mean the current folder."""
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty: name a folder (. for the current one)")
        return value

    def store_origin(self) -> str:
        """How the store was chosen (named, found upward, or the per-user one)."""
        return store_finder.store_origin(self.store, "store" in self.model_fields_set)

    def llm_config(self) -> LLMConfig | None:
        """The model endpoint, or None for extractive answers."""
        if self.llm == "none":
            return None
        if not self.llm_model:
            raise SettingsError("CITEBOT_LLM_MODEL is not set: name the model the endpoint serves")
        return LLMConfig(
            provider=self.llm,
            model=self.llm_model,
            base_url=self.llm_base_url,
            api_key=self.llm_api_key,
            timeout=self.llm_timeout,
            uncited=self.llm_uncited,
        )

    def engine_config(self) -> EngineConfig:
        """What the engine needs from these settings."""
        from retrieval.engine import EngineConfig
        from retrieval.store.chunk_store import StoreLocation

        return EngineConfig(
            location=StoreLocation(self.store, self.chroma_url or None, self.collection),
            model=self.model,
            device=self.device,
            model_cache=self.model_cache,
            variant=None if self.variant == "auto" else self.variant,
            k=self.k,
            chunk_chars=self.chunk_chars,
            ingest_batch=self.ingest_batch,
            max_file_bytes=int(self.max_file_mb * 1024 * 1024),
            parse_time_limit_s=self.parse_seconds,
            threads=self.threads,
            ingest_threads=self.ingest_threads,
            scorer=self.scorer == "on",
            scorer_folder=self.scorer_folder,
            min_confidence=self.min_confidence,
            llm=self.llm_config(),
            prompts=self.prompts,
        )


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit (non-None) overrides on top."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'CITEBOT_' + str(err['loc'][0]).upper() if err['loc'] else 'settings'}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise SettingsError(f"Invalid setting: {problems}") from exc
