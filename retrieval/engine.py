"""The engine as the doors see it: one object built from settings, owning the store, model and chain."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable

from retrieval.answer.extractive import AnswerSettings, ExtractiveAnswerer
from retrieval.answer.learned_scorer import MODELS, AnswerScorer
from retrieval.answer.llm import LLMConfig, chat_model
from retrieval.answer.llm_answering import LLMAnswerer
from retrieval.answer.prompts import load_prompts
from retrieval.answer.support import SupportCheck
from retrieval.catalog import IndexedDocument, forget_records, list_documents, records_named
from retrieval.chain import Answerer, ask_chain, build_chain
from retrieval.conversation import Turn
from retrieval.errors import BuildMismatchError, StoreError
from retrieval.inference.embedder import (
    DEFAULT_INGEST_THREADS,
    DEFAULT_THREADS,
    Embedder,
    resolve_model_path,
)
from retrieval.inference.model_cache import default_model_cache
from retrieval.ingest.chunking import CHUNKER_VERSION
from retrieval.ingest.extraction import DEFAULT_TIME_LIMIT_S
from retrieval.ingest.files import DEFAULT_MAX_FILE_BYTES
from retrieval.ingest.indexer import Indexer, IngestSummary, Progress
from retrieval.ingest.loaders import parser_versions
from retrieval.package_files import shipped
from retrieval.search.citations import look_up
from retrieval.search.corpus import Corpus
from retrieval.search.feedback_boost import FeedbackBoost, VoteSource
from retrieval.search.freshness import Freshness
from retrieval.search.hybrid import HybridRetriever
from retrieval.search.snapshot import LiveIndex, Snapshot
from retrieval.store.build_record import (
    BuildRecord,
    ingest_differences,
    model_differences,
    refuse,
    store_variant,
)
from retrieval.store.chunk_store import ChunkStore, StoreLocation, forget_clients
from retrieval.store.folder import set_aside_damaged
from retrieval.store.ingest_failures import FailedFile, forget_failures, read_failures, record_ingest
from retrieval.store.names import check_chroma_url, check_collection_name
from retrieval.store.records import now_iso
from retrieval.store.writer_lock import server_lease, writer_lock
from retrieval.types import Answer, CitedPassage

PROMPTS = shipped("prompts")  # the checkout's prompts/, or the installed package's copy


@dataclass(frozen=True)
class EngineConfig:
    """Everything the engine needs, decided by the door that builds it."""

    location: StoreLocation
    model: str = ""
    device: str = "auto"
    # The variant a new store (or a rebuild) embeds with; None: the one this CPU runs fastest within the
    # cosine bar (onnx_encoder.fastest_variant). A store always keeps the variant it was built with.
    variant: str | None = None
    k: int = 5
    chunk_chars: int = 1000
    ingest_batch: int = 256
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    # A PDF, Word file, deck or web page whose parser runs longer than this is skipped as failed.
    parse_time_limit_s: float = DEFAULT_TIME_LIMIT_S
    threads: int = DEFAULT_THREADS
    # Where ONNX files built from the model folders live (one per machine is enough; see onnx_models.py).
    model_cache: Path = field(default_factory=default_model_cache)
    ingest_threads: int = DEFAULT_INGEST_THREADS
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    # The learned answer scorer (models/), on by default: on SQuAD articles it never saw (`make bench`) it
    # abstains on 0.96 of questions about articles the store lacks (0.46 without it) and gives the right
    # sentence to more of the answerable ones (0.734 against 0.715); BENCHMARKS.md, "On by default".
    scorer: bool = True
    scorer_folder: Path = MODELS
    # Abstain under this probability instead of the threshold fitted with the scorer (None: the fitted one).
    min_confidence: float | None = None
    llm: LLMConfig | None = None
    prompts: Path = PROMPTS
    # Votes on earlier answers (the door reads them): a bounded nudge to the ranking of similar questions.
    feedback: VoteSource | None = None


class Engine:
    """Store, model and chain for one store location; the model loads on first use."""

    def __init__(
        self,
        config: EngineConfig,
        create: bool = True,
        notice: Callable[[str], None] | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        """embedder: another engine's, shared (one model in memory) where it runs the variant this needs."""
        self.config = config
        self.store = ChunkStore(config.location, create=create)
        self.notice = notice
        # Questions are embedded the way the store's vectors were; a new store takes the default.
        recorded = store_variant(self.store.build, self.store.document_count() > 0)
        # A shared model serves a collection it can answer: one it embedded, or a new one it will embed.
        shareable = embedder is not None and (recorded is None or embedder.runs(recorded))
        self.embedder = (
            embedder if embedder is not None and shareable else self._embedder(recorded or config.variant)
        )
        self._answerable = False
        # Prompt files are checked when the engine starts, not at the first question.
        self.prompts = load_prompts(config.prompts) if config.llm else None
        self.live = LiveIndex(self._chain_over, notice)
        self._scorer: AnswerScorer | None = None
        self.freshness = Freshness()
        # Voted questions are embedded by this engine's model (read at call time: tests swap it in).
        self.feedback = (
            FeedbackBoost(config.feedback, lambda query: self.embedder.embed([query])[0])
            if config.feedback is not None
            else None
        )

    @property
    def created(self) -> bool:
        """Whether this engine created its store (a new folder, or a new collection on a server)."""
        return bool(self.store.created)

    def snapshot(self) -> Snapshot:
        """The newest committed version of the index, with its chain (opened anew when it moved on)."""
        self.check_answerable()
        return self.live.current(self.store)

    @property
    def corpus(self) -> Corpus:
        """The committed chunks the chain searches, as of the newest version."""
        return self.snapshot().corpus

    def ingest(
        self,
        paths: Iterable[Path],
        progress: Progress | None = None,
        wait: bool = False,
        on_wait: Callable[[str], None] | None = None,
        rebuild: bool = False,
    ) -> IngestSummary:
        """Index the files under paths as the collection's one writer; the chain then sees the new state.

        rebuild: index them into a new generation beside the live one, made live only once complete.
        """
        location = self.config.location
        if self.store.read_only:
            raise StoreError(f"The store at {location.path} is read-only: it can be asked, not ingested into")
        paths = list(paths)
        try:
            # The lock holds back writers of this store folder; the lease, those of the same server
            # collection from other hosts or store folders (writer_lock.py).
            with (
                writer_lock(location.path, location.collection, wait, on_wait),
                server_lease(location, wait, on_wait),
            ):
                summary = self._ingest_locked(paths, progress, rebuild)
                # Beside the build record: which files failed and why, until they are ingested again.
                record_ingest(self._failures_path(), paths, summary.failures, now_iso())
        finally:
            self._answerable = False
        # After the lock: the base is derived data, and building it (a minute at 1M chunks) blocks no writer.
        self.live.prepare(self.store)
        return summary

    def _ingest_locked(
        self, paths: Iterable[Path], progress: Progress | None, rebuild: bool
    ) -> IngestSummary:
        """Ingest (or rebuild) under the collection's writer lock."""
        location = self.config.location
        if not self.store.sees(self.store.committed_version()):
            # Another writer committed (or rebuilt) since this handle opened: writing through an
            # embedded client that never loaded those vectors would index beside a stale copy.
            forget_clients()
            self.store = ChunkStore(location)
        # What a rebuild killed half-way (or one killed before dropping what it replaced) left.
        self.store.drop_generations(self.store.generations().leftovers())
        if rebuild:
            return self._rebuild(paths, progress)
        recorded = self.store.read_build()
        wanted = self.wanted_build()
        if recorded is None:  # a new store, or one indexed before records existed (adopted)
            self.store.write_build(wanted)
        elif differences := ingest_differences(recorded, wanted):
            raise refuse(location.describe(), differences)
        summary = self._indexer(self.store).ingest(paths, progress)
        if recorded is not None and recorded.parsers != wanted.parsers:
            # A new parser is no reason to rebuild: each file read by an older one is read again
            # when ingested (its record names its parser); the build record names the newest.
            self.store.write_build(replace(recorded, parsers=wanted.parsers))
        return summary

    def _failures_path(self) -> Path:
        return self.config.location.layout.failed_files(self.config.location.collection)

    def failed_files(self) -> list[FailedFile]:
        """The files that failed their last ingest into this collection, with the reasons."""
        return read_failures(self._failures_path())

    def _embedder(self, variant: str | None) -> Embedder:
        """The configured model in a variant (None: the one this CPU runs fastest, measured once)."""
        config = self.config
        return Embedder(
            config.model,
            config.device,
            threads=config.threads,
            ingest_threads=config.ingest_threads,
            cache=config.model_cache,
            notice=self.notice,
            variant=variant,
        )

    def _indexer(self, store: ChunkStore, embedder: Embedder | None = None) -> Indexer:
        return Indexer(
            store,
            embedder or self.embedder,
            max_chars=self.config.chunk_chars,
            batch_chunks=self.config.ingest_batch,
            max_file_bytes=self.config.max_file_bytes,
            parse_time_limit_s=self.config.parse_time_limit_s,
        )

    def _rebuild(self, paths: Iterable[Path], progress: Progress | None) -> IngestSummary:
        """Index paths into a new generation; readers keep the live one until the switch (under the lock)."""
        live = self.store
        # A rebuild embeds in the configured variant (by default the one this CPU runs fastest), whatever
        # variant the old generation was built with.
        wanted = self.config.variant
        embedder = self.embedder if self.embedder.requested_variant == wanted else self._embedder(wanted)
        target = ChunkStore(self.config.location, generation=live.generations().next())
        target.write_build(
            BuildRecord(
                embedder.identity(), self.config.chunk_chars, CHUNKER_VERSION, parsers=parser_versions()
            )
        )
        summary = self._indexer(target, embedder).ingest(paths, progress)
        target.make_live()
        self.store, self.embedder = target, embedder
        live.drop_generations([live.generation])
        return summary

    def wanted_build(self) -> BuildRecord:
        """How this engine builds a store: its model (loaded to know its variant) and its chunking."""
        return BuildRecord(
            self.embedder.identity(), self.config.chunk_chars, CHUNKER_VERSION, parsers=parser_versions()
        )

    def check_answerable(self) -> None:
        """Refuse to answer from vectors another model made (chunking does not matter to questions)."""
        recorded = self.store.build
        if self._answerable or recorded is None:
            return
        # Only the model matters here: the parsers' versions (a module import each) are an ingest's concern.
        wanted = BuildRecord(self.embedder.identity(), self.config.chunk_chars, CHUNKER_VERSION)
        if differences := model_differences(recorded, wanted):
            raise refuse(self.config.location.describe(), differences)
        self._answerable = True

    def is_empty(self) -> bool:
        """Whether nothing is indexed yet."""
        return self.store.document_count() == 0

    def retriever(self, k: int | None = None) -> HybridRetriever:
        """The hybrid retriever over the newest snapshot (refused if another model made its vectors)."""
        snapshot = self.snapshot()
        return self.retriever_over(snapshot.store, snapshot.corpus, k)

    def retriever_over(self, store: ChunkStore, corpus: Corpus, k: int | None = None) -> HybridRetriever:
        """The hybrid retriever over one snapshot's store and corpus."""
        return HybridRetriever(
            corpus=corpus, store=store, embedder=self.embedder, k=k or self.config.k, feedback=self.feedback
        )

    @property
    def scorer(self) -> AnswerScorer | None:
        """The learned answer scorer (loaded on first use; None when switched off)."""
        if self.config.scorer and self._scorer is None:
            # Its embeddings and tokenizer are the packaged MiniLM's, whatever model embeds the passages.
            self._scorer = AnswerScorer(
                self.config.scorer_folder,
                resolve_model_path(""),
                self.config.model_cache,
                self.config.device,
                self.config.threads,
                self.notice,
            )
            if self.config.min_confidence is not None:
                self._scorer.threshold = self.config.min_confidence
        return self._scorer

    def chain(self) -> Runnable[Any, Answer]:
        """The question -> Answer chain over the newest snapshot."""
        return self.snapshot().chain

    def _chain_over(self, store: ChunkStore, corpus: Corpus) -> Runnable[Any, Answer]:
        """The chain that answers from one snapshot (built once per committed version)."""
        return build_chain(self.retriever_over(store, corpus), self.answerer(corpus.lexical.idf))

    def answerer(self, idf: Callable[[str], float]) -> Answerer:
        """The chain's last step as configured (extractive, or an LLM's), weighing words by idf."""
        extractive = ExtractiveAnswerer(idf, self.embedder.embed_query, self.config.answer, self.scorer)
        if self.config.llm and self.prompts:
            support = SupportCheck(self.embedder.embed_query)
            return LLMAnswerer(
                chat_model(self.config.llm), self.prompts, extractive, self.config.llm, support
            )
        return extractive

    def set_k(self, k: int) -> None:
        """Retrieve k passages per question from now on."""
        self.config = replace(self.config, k=k)
        self.live.rebuild_chains()

    def ask(
        self, question: str, history: list[Turn] | None = None, on_token: Callable[[str], None] | None = None
    ) -> Answer:
        """Answer a question (earlier turns give follow-ups their context; on_token receives a stream)."""
        snapshot = self.snapshot()  # the whole answer comes from this one committed version
        answer = ask_chain(snapshot.chain, question, history, on_token)
        manifest = snapshot.corpus.manifest
        return self.freshness.mark(answer, lambda c: manifest.get(c.source))

    def _reading_store(self) -> ChunkStore:
        """The handle that reads the newest version: once questions have opened one, the snapshot's (opened
        anew after another process's ingest or rebuild); a one-shot command's own handle otherwise."""
        return self.store if self.live.loaded is None else self.snapshot().store

    def cite(self, citation: str) -> CitedPassage:
        """Look up a citation id (a file changed since ingest is quoted from the index, marked stale)."""
        store = self._reading_store()
        passage = look_up(
            citation,
            store.documents(),
            lambda r: store.get_chunks(list(r.chunk_ids)),
            self.config.location.path,
        )
        return passage.model_copy(update={"collection": self.config.location.collection})

    def documents(self) -> list[IndexedDocument]:
        """Every file this collection indexes (`citebot docs`)."""
        return list_documents(self._reading_store(), self.freshness)

    def forget(self, paths: list[Path]) -> list[str]:
        """Remove the files paths name from the index, as the collection's one writer; their names."""
        location = self.config.location
        with writer_lock(location.path, location.collection), server_lease(location):
            if not self.store.sees(self.store.committed_version()):
                forget_clients()  # another writer moved on: write through a handle that sees its state
                self.store = ChunkStore(location, create=False)
            records = records_named(paths, self.store.documents())
            forget_records(self.store, records)
            forget_failures(self._failures_path(), [record.source for record in records], paths)
        self.live.prepare(self.store)
        return [record.source for record in records]

    def status(self) -> dict[str, Any]:
        """What is indexed, where, with which model."""
        store = self._reading_store()
        manifest = store.documents()
        return {
            "store": self.config.location.describe(),
            "documents": len(manifest),
            "chunks": sum(len(r.chunk_ids) for r in manifest.values()),
            "model": self.embedder.name,
            "last_ingested": store.last_ingested(),
            "damaged_records": len(store.damaged),
            "failed_files": len(self.failed_files()),
            # None: indexed before build records existed (adopted as fp32; recorded at the next ingest).
            "build": store.build.as_status() if store.build else None,
            "generation": store.generation,
            "collection": self.config.location.collection,
            "collections": store.collections(),
        }


def rebuild_store(location: StoreLocation) -> Path | None:
    """Before `ingest --rebuild`: a store that cannot be opened (damaged, or of a newer format) is set aside,
    never deleted; one that opens is left as it is, answering, while the rebuild fills a new generation."""
    check_collection_name(location.collection)
    if location.chroma_url:
        check_chroma_url(location.chroma_url)
    with writer_lock(location.path, location.collection), server_lease(location):
        try:
            ChunkStore(location, create=True)
        except (StoreError, BuildMismatchError):
            if location.chroma_url:
                raise
            forget_clients()
            aside = set_aside_damaged(location.path)
            forget_clients()
            return aside
        return None
