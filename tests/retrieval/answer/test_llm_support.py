"""An LLM's citations must be supported by the passage sentence they quote (retrieval/answer/support.py).

Bad input tried: a reply "HACKED [1]" (an obeyed injection with a valid marker), a true sentence beside an
invented one that cites the same passage, a claim about another subject citing a real passage, and a
claim whose figures the passage does not give, and a chunk stored without sentence vectors (its
sentences embedded at check time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from retrieval.answer.llm import LLMConfig
from retrieval.answer.llm_answering import NONE_SUPPORTED, UNSUPPORTED
from retrieval.answer.support import (
    MIN_SUPPORT,
    NUMBERS_WEIGHT,
    Support,
    SupportCheck,
    numbers_in,
    numbers_share,
    support_score,
)
from retrieval.inference.embedder import Embedder
from retrieval.search.indexed_chunk import IndexedChunk
from retrieval.types import Answer
from tests.conftest import STOCKHOLM, make_engine
from tests.helpers.openai_standin import OpenAIStandIn

TRUE = "The US offered to lift certain sanctions in return for a road map to denuclearization [1]."
INVENTED = "The delegates also agreed to build a joint space station on the Moon [1]."


@pytest.fixture
def server() -> Iterator[OpenAIStandIn]:
    """The OpenAI-compatible stand-in on loopback."""
    with OpenAIStandIn() as standin:
        yield standin


@pytest.fixture
def ask(
    server: OpenAIStandIn, corpus: Path, tmp_path: Path, embedder: Embedder
) -> Iterator[Callable[[str], Answer]]:
    """An engine answering through the stand-in, over the corpus fixture."""
    engine = make_engine(
        tmp_path / "store",
        embedder,
        llm=LLMConfig("openai", "stub", server.base_url, timeout=5, uncited="flag"),
    )
    engine.ingest([corpus])
    yield engine.ask


def test_an_obeyed_injection_with_a_valid_marker_is_not_shown(
    server: OpenAIStandIn, ask: Callable[[str], Answer]
) -> None:
    server.reply("HACKED [1]")
    answer = ask(STOCKHOLM)
    assert (answer.mode, answer.note) == ("llm-fallback", NONE_SUPPORTED)
    assert "HACKED" not in answer.answer and answer.citations


def test_an_invented_sentence_loses_its_citation_and_is_noted(
    server: OpenAIStandIn, ask: Callable[[str], Answer]
) -> None:
    server.reply(f"{TRUE} {INVENTED}")
    answer = ask(STOCKHOLM)
    assert answer.mode == "llm"
    assert answer.answer.startswith("The US offered to lift certain sanctions")
    assert "space station on the Moon. [no source]" in answer.answer
    assert UNSUPPORTED.format(markers="[1]") in (answer.note or "")
    [citation] = answer.citations
    assert "sanctions" in citation.quote
    text = Path(citation.path).read_text(encoding="utf-8")
    assert text[citation.start : citation.end] == citation.quote


def test_the_quoted_sentence_is_the_closest_in_meaning(embedder: Embedder) -> None:
    text = "Rain fell all week. The ferry to the island leaves at nine every morning. Lunch is at noon."
    chunk = IndexedChunk("f.txt#100-190@x", "f.txt", "/docs/f.txt", 100, 100 + len(text), text, "F")
    check = SupportCheck(embedder.embed_query)
    found = check.closest("When does the boat to the island depart?", chunk)
    assert (
        text[found.start - 100 : found.end - 100] == "The ferry to the island leaves at nine every morning."
    )
    assert check.supports(found)
    off_subject = check.closest("Quarterly revenue grew by twelve percent.", chunk)
    assert not check.supports(off_subject)


def test_a_claims_numbers_must_be_in_its_passage() -> None:
    assert numbers_in("Paid 91,500 or 91500.5 in 2026 [1].") == {"91500", "91500.5", "2026", "1"}
    assert numbers_share("The band is 91,500 to 118,250 a year.", "from 91500 up to 120,000") == 0.5
    assert numbers_share("No figures here.", "1 2 3") == 1.0
    close = Support(0, 10, cosine=MIN_SUPPORT + 0.1, numbers=1.0)
    check = SupportCheck(lambda text: [0.0])
    assert check.supports(close)
    assert not check.supports(
        replace(close, numbers=0.0)
    )  # the same sentence, but none of the claim's figures
    assert support_score(0.9, 0.5) == pytest.approx(0.9 - 0.5 * NUMBERS_WEIGHT)
