"""Scopes in the engine: several collections of one store asked as one, and nothing outside them reached.

Bad input tried: a scope of no collections, a citation of a collection outside the scope (named, and found
only by searching), an id of a file no collection holds, a malformed id, an empty collection in a scope.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from retrieval.engine import Engine
from retrieval.errors import InputError, NotFoundError
from retrieval.inference.embedder import Embedder
from retrieval.lexical.index import LexicalIndex
from retrieval.scope import Scope, Scopes
from retrieval.search.scoped import union_idf
from tests.conftest import make_engine
from tests.helpers.chroma_server import running_chroma

PAY = "The salary band for a senior glassblower is 41,000 to 48,000 florins a year."
LUNCH = "The canteen serves lunch from noon, and it closes early on Fridays at one o'clock."
PAY_Q = "What is the salary band for a senior glassblower?"
LUNCH_Q = "When does the canteen close on Fridays?"


def collection(first: Engine, name: str) -> Engine:
    """Another collection of the first engine's store, sharing its model."""
    config = replace(first.config, location=replace(first.config.location, collection=name))
    return Engine(config, embedder=first.embedder)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Scopes:
    """One store: `citebot` holds the canteen notes, `hr` the pay policy, `empty` nothing."""
    root = tmp_path_factory.mktemp("scopes")
    for folder, name, text in (("general", "canteen.txt", LUNCH), ("hr", "pay.txt", PAY)):
        (root / folder).mkdir()
        (root / folder / name).write_text(f"{text}\nAsk the office for anything else.\n", encoding="utf-8")
    general = make_engine(root / "store", embedder)
    general.ingest([root / "general"])
    collection(general, "hr").ingest([root / "hr"])
    collection(general, "empty")  # created, never ingested into
    return Scopes(general)


def test_a_scope_answers_from_each_of_its_collections(store: Scopes) -> None:
    scope = store.scope(["hr", "citebot"])
    pay, lunch = scope.ask(PAY_Q), scope.ask(LUNCH_Q)
    assert (pay.citations[0].collection, pay.citations[0].source) == ("hr", "pay.txt")
    assert "41,000 to 48,000 florins" in pay.citations[0].quote
    assert (lunch.citations[0].collection, lunch.citations[0].source) == ("citebot", "canteen.txt")
    assert scope.cite(pay.citations[0].id, "hr").quote == pay.citations[0].quote


def test_nothing_outside_the_scope_is_retrieved_quoted_or_looked_up(store: Scopes) -> None:
    scope = store.scope(["citebot"])
    answer = scope.ask(PAY_Q)
    shown = answer.answer + " ".join(p.text for p in answer.passages)
    assert "florins" not in shown and all(p.collection == "citebot" for p in answer.passages)
    pay_id = store.scope(["hr"]).ask(PAY_Q).citations[0].id
    unknown = f"Unknown citation {pay_id!r}: no indexed file is called 'pay.txt'"
    for named in ("hr", None):  # asked by name, or searched for among the scope's own
        with pytest.raises(NotFoundError) as refused:
            scope.cite(pay_id, named)
        assert str(refused.value) == unknown  # the same words as for a file nobody holds
    with pytest.raises(NotFoundError, match=r"no indexed file is called 'nothing\.txt'"):
        scope.cite("nothing.txt#0-10", "hr")
    with pytest.raises(InputError, match="Not a citation id"):
        scope.cite("pay.txt", "hr")


def test_merged_ranking_puts_the_collection_holding_the_answer_first(store: Scopes) -> None:
    """Interleaving each collection's own best would put the canteen note level with the pay policy."""
    for order in (["citebot", "hr"], ["hr", "citebot"]):
        answer = store.scope(order).ask(PAY_Q)
        assert answer.passages[0].collection == "hr"
        assert answer.passages[0].score > answer.passages[-1].score


def test_an_empty_collection_in_a_scope_changes_nothing(store: Scopes) -> None:
    with_empty = store.scope(["hr", "citebot", "empty"]).ask(PAY_Q)
    without = store.scope(["hr", "citebot"]).ask(PAY_Q)
    assert [c.id for c in with_empty.citations] == [c.id for c in without.citations]
    assert [p.id for p in with_empty.passages] == [p.id for p in without.passages]


def test_one_collection_scope_answers_exactly_as_its_engine(store: Scopes) -> None:
    engine = store.engine("hr")
    assert store.scope(["hr"]).ask(PAY_Q).citations == engine.ask(PAY_Q).citations
    assert store.engine("hr") is engine and store.scope(["hr", "hr"]) is store.scope(["hr"])


def test_engines_share_one_model(store: Scopes) -> None:
    assert store.engine("hr").embedder is store.first.embedder


def test_a_scope_of_nothing_is_refused() -> None:
    with pytest.raises(InputError, match="at least one collection"):
        Scope([])


def test_a_scope_sees_a_collections_new_documents(store: Scopes, tmp_path: Path) -> None:
    (tmp_path / "rota.txt").write_text(
        "The night porter of the glassworks is Ilse Brandt.\n", encoding="utf-8"
    )
    scope = store.scope(["hr", "citebot"])
    before = scope.ask("Who is the night porter of the glassworks?")
    assert all(c.source != "rota.txt" for c in before.citations)
    collection(store.first, "hr").ingest([tmp_path])  # another handle commits, as another process would
    after = scope.ask("Who is the night porter of the glassworks?")
    assert (after.citations[0].collection, after.citations[0].source) == ("hr", "rota.txt")


def test_union_idf_is_the_idf_of_one_index_over_everything() -> None:
    left = [["glass", "pay"], ["glass"], ["lunch"]]
    right = [["lunch", "noon"], ["pay"]]
    whole = LexicalIndex.from_words(left + right)
    merged = union_idf([LexicalIndex.from_words(left), LexicalIndex.from_words(right)])
    for word in ("glass", "pay", "lunch", "noon", "unseen"):
        assert math.isclose(merged(word), whole.idf(word), rel_tol=1e-9)


def test_a_scope_on_a_chroma_server(tmp_path: Path, embedder: Embedder) -> None:
    """The same scope against one `chroma run`: its collections listed there, each answered from."""
    for folder, name, text in (("general", "canteen.txt", LUNCH), ("hr", "pay.txt", PAY)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text(text + "\n", encoding="utf-8")
    with running_chroma(tmp_path / "server") as url:
        general = make_engine(tmp_path / "cache", embedder, chroma_url=url)
        general.ingest([tmp_path / "general"])
        collection(general, "hr").ingest([tmp_path / "hr"])
        scopes = Scopes(make_engine(tmp_path / "other-cache", embedder, chroma_url=url))
        assert scopes.known() == {"citebot", "hr"}
        scope = scopes.scope(["citebot", "hr"])
        assert (scope.ask(PAY_Q).citations[0].collection, scope.ask(LUNCH_Q).citations[0].collection) == (
            "hr",
            "citebot",
        )
        with pytest.raises(NotFoundError):
            scopes.scope(["citebot"]).cite(scope.ask(PAY_Q).citations[0].id, "hr")
