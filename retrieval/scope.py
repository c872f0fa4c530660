"""A scope: the collections one place (a Slack channel, a REPL) may answer from, asked as one.

A question is answered wholly from the scope's collections, each at its newest committed version; no
passage of a collection outside the scope is ever retrieved, quoted or looked up. Engines are opened once
per collection and share one embedding model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from langchain_core.runnables import Runnable

from retrieval.chain import ask_chain, build_chain
from retrieval.conversation import Turn
from retrieval.engine import Engine
from retrieval.errors import InputError, NotFoundError
from retrieval.search.citations import parse_citation_id, unknown_citation
from retrieval.search.freshness import Freshness
from retrieval.search.scoped import ScopedRetriever, union_idf
from retrieval.store.names import check_collection_name
from retrieval.types import Answer, CitedPassage


class Scope:
    """Several collections' engines answering as one: one merged ranking, each citation from its own."""

    def __init__(self, engines: Sequence[Engine]) -> None:
        if not engines:
            raise InputError("A scope needs at least one collection")
        self.engines = list(engines)
        self.collections = tuple(e.config.location.collection for e in self.engines)
        self.freshness = Freshness()
        self._chain: tuple[tuple[str, ...], Runnable[Any, Answer]] | None = None
        self._lock = threading.Lock()

    def ask(
        self, question: str, history: list[Turn] | None = None, on_token: Callable[[str], None] | None = None
    ) -> Answer:
        """Answer from the scope's collections only (one collection: exactly as its engine answers)."""
        if len(self.engines) == 1:
            if on_token is None:
                return self.engines[0].ask(question, history)
            return self.engines[0].ask(question, history, on_token=on_token)
        snapshots = [engine.snapshot() for engine in self.engines]
        versions = tuple(s.version for s in snapshots)
        with self._lock:
            if self._chain is None or self._chain[0] != versions:
                pairs = zip(self.engines, snapshots, strict=True)
                retriever = ScopedRetriever(
                    retrievers=[e.retriever_over(s.store, s.corpus) for e, s in pairs],
                    k=self.engines[0].config.k,
                )
                answerer = self.engines[0].answerer(union_idf([s.corpus.lexical for s in snapshots]))
                self._chain = (versions, build_chain(retriever, answerer))
            chain = self._chain[1]
        answer = ask_chain(chain, question, history, on_token)
        manifests = {name: s.corpus.manifest for name, s in zip(self.collections, snapshots, strict=True)}
        return self.freshness.mark(answer, lambda c: manifests.get(c.collection, {}).get(c.source))

    def cite(self, citation: str, collection: str | None = None) -> CitedPassage:
        """A citation's passage, from the named collection or the first of the scope's that holds it.

        A collection outside the scope is refused with the same message as an unknown id: a scope never
        tells what another collection holds.
        """
        engines = [e for e in self.engines if collection in (None, "", e.config.location.collection)]
        if not engines:  # the named collection is not in this scope
            raise unknown_citation(citation, parse_citation_id(citation)[0])
        failure: NotFoundError | None = None
        for engine in engines:
            try:
                return engine.cite(citation)
            except NotFoundError as exc:
                failure = exc
        assert failure is not None
        raise failure


class Scopes:
    """The engines of one store's collections (opened on first use, sharing one model) and their scopes."""

    def __init__(self, first: Engine) -> None:
        self.first = first
        self._engines: dict[str, Engine] = {first.config.location.collection: first}
        self._scopes: dict[tuple[str, ...], Scope] = {}
        self._lock = threading.Lock()

    def known(self) -> set[str]:
        """The collections the store holds now."""
        return set(self.first.store.collections())

    def engine(self, collection: str) -> Engine:
        """The engine of one collection of the store (opened once; it must exist already)."""
        name = check_collection_name(collection)
        with self._lock:
            engine = self._engines.get(name)
            if engine is None:
                base = self.first.config
                config = replace(base, location=replace(base.location, collection=name))
                engine = Engine(config, create=False, notice=self.first.notice, embedder=self.first.embedder)
                self._engines[name] = engine
            return engine

    def scope(self, collections: Sequence[str]) -> Scope:
        """The scope of these collections, in this order (built once per distinct list)."""
        key = tuple(dict.fromkeys(collections))
        with self._lock:
            scope = self._scopes.get(key)
        if scope is None:
            scope = Scope([self.engine(name) for name in key])
            with self._lock:
                scope = self._scopes.setdefault(key, scope)
        return scope
