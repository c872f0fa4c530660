"""Words and answers: tokens and stems, the BM25 index, and the extractive answerer on hand-built hits."""

from __future__ import annotations

import pytest

from retrieval.answer.extractive import ABSTAIN_TEXT, AnswerSettings, ExtractiveAnswerer
from retrieval.lexical.index import LexicalIndex
from retrieval.search.corpus import IndexedChunk
from retrieval.search.hybrid import Hit
from retrieval.text.words import stem, tokens
from retrieval.types import Answer

DOC = (
    "Notes\n\n"
    "Lunch is at noon in the canteen. The release manager is Priya Raman. Release 2.4 ships on 14 March.\n\n"
    "The coffee machine is descaled every Friday.\n"
)
OFFICE = [
    "The office coffee machine is descaled every Friday.",
    "Release 2.4 ships on 14 March. The release manager is Priya Raman.",
    "The coffee beans are decaf.",
    "Coffee is served at nine.",
]


def _chunk(text: str, start: int, end: int, tag: str) -> IndexedChunk:
    """A chunk of a document as the corpus would hold it (line computed from the offsets)."""
    return IndexedChunk(
        f"notes.txt#{start}-{end}@{tag}",
        "notes.txt",
        "/docs/notes.txt",
        start,
        end,
        text[start:end],
        "Notes",
        text.count("\n", 0, start) + 1,
    )


@pytest.fixture
def hits() -> list[Hit]:
    """Two hits on DOC: the release paragraph first, the coffee paragraph second."""
    first = _chunk(DOC, DOC.index("Lunch"), DOC.index("\n\nThe coffee"), "a")
    second = _chunk(DOC, DOC.index("The coffee"), len(DOC) - 1, "b")
    return [Hit(first, 0.9, 0.6, 1.0), Hit(second, 0.5, 0.3, 0.2)]


@pytest.fixture
def answerer(hits: list[Hit]) -> ExtractiveAnswerer:
    """The answerer with the idf of the hits' texts and a constant question vector (no sentence vectors)."""
    index = LexicalIndex([h.chunk.text for h in hits])
    return ExtractiveAnswerer(index.idf, lambda _question: [1.0, 0.0])


def test_inflections_share_a_stem() -> None:
    """offer / offered / offers / offering are one word to BM25 and to sentence scoring."""
    assert tokens("offer offered offers offering") == ["offer"] * 4
    assert stem("offered") == stem("offers") == "offer"


def test_tokens_drop_stop_words_and_possessives() -> None:
    """Question words and stop words go; possessive 's and curly apostrophes are handled."""
    assert tokens("What did the US offer in Stockholm?") == ["us", "offer", "stockholm"]
    assert tokens("Priya’s team's snake_case") == ["priya", "team", "snake", "case"]
    assert tokens("The of and to") == []


def test_rare_words_weigh_more_than_common_ones() -> None:
    """idf: a word in 1 of 4 chunks outweighs one in 3 of 4; an unseen word weighs most."""
    index = LexicalIndex(OFFICE)
    assert index.df[stem("coffee")] == 3
    assert index.df[stem("release")] == 1
    assert index.idf(stem("release")) > index.idf(stem("coffee")) > 0
    assert index.idf("zebra") > index.idf(stem("release"))


def test_search_ranks_by_bm25_and_returns_only_positive_scores() -> None:
    """The chunk with both rare query words is first; chunks without any query word are left out."""
    index = LexicalIndex(OFFICE)
    found = index.search("coffee machine", k=4)
    assert found[0][0] == 0
    assert {i for i, _ in found} == {0, 2, 3}
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    assert all(s > 0 for _, s in found)
    assert [i for i, _ in index.search("Who is the release manager?", k=4)] == [1]


@pytest.mark.parametrize("query", ["zebra giraffe", "the of and", ""])
def test_search_without_known_words_finds_nothing(query: str) -> None:
    """Bad input tried: queries of unseen words only, stop words only, and an empty query."""
    index = LexicalIndex(OFFICE)
    assert index.search(query, k=3) == []
    assert list(index.scores(query)) == [0.0] * len(OFFICE)


def test_empty_index_finds_nothing() -> None:
    """Bad input tried: searching an index built from no chunks at all."""
    index = LexicalIndex([])
    assert index.search("coffee", k=5) == []
    assert index.size == 0


def test_answer_cites_the_sentence_with_the_rare_question_words(
    answerer: ExtractiveAnswerer, hits: list[Hit]
) -> None:
    """The release-manager question is answered by exactly that sentence, quoted and numbered [1]."""
    answer = answerer.answer("Who is the release manager?", hits)
    assert not answer.abstained
    assert [c.quote for c in answer.citations] == ["The release manager is Priya Raman."]
    assert answer.answer == "The release manager is Priya Raman. [1]"
    cited = answer.citations[0]
    assert cited.n == 1
    assert cited.id == f"notes.txt#{cited.start}-{cited.end}"
    assert (cited.source, cited.path) == ("notes.txt", "/docs/notes.txt")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("When does release 2.4 ship?", "Release 2.4 ships on 14 March."),
        ("When is the coffee machine descaled?", "The coffee machine is descaled every Friday."),
    ],
)
def test_quote_is_the_document_text_at_its_offsets(
    answerer: ExtractiveAnswerer, hits: list[Hit], question: str, expected: str
) -> None:
    """A citation's offsets are absolute in the file: DOC[start:end] is the quote; its line is right."""
    answer = answerer.answer(question, hits)
    cited = answer.citations[0]
    assert cited.quote == expected
    assert DOC[cited.start : cited.end] == cited.quote
    assert cited.line == DOC.count("\n", 0, cited.start) + 1


def test_citations_are_numbered_one_to_n_in_answer_order(
    answerer: ExtractiveAnswerer, hits: list[Hit]
) -> None:
    """Two equally good sentences: cited [1] and [2], in the order the answer text gives them."""
    answer = answerer.answer("release", hits)
    assert [c.n for c in answer.citations] == [1, 2]
    assert answer.answer == "The release manager is Priya Raman. [1] Release 2.4 ships on 14 March. [2]"
    for citation in answer.citations:
        assert DOC[citation.start : citation.end] == citation.quote


def test_second_sentence_needs_a_score_close_to_the_first(hits: list[Hit]) -> None:
    """With sentences=1, or a ratio no runner-up reaches, only the best sentence is cited."""
    index = LexicalIndex([h.chunk.text for h in hits])
    one = ExtractiveAnswerer(index.idf, lambda _q: [1.0, 0.0], AnswerSettings(sentences=1))
    assert len(one.answer("release", hits).citations) == 1
    strict = ExtractiveAnswerer(index.idf, lambda _q: [1.0, 0.0], AnswerSettings(second_sentence_ratio=1.01))
    assert len(strict.answer("release", hits).citations) == 1
    assert len(ExtractiveAnswerer(index.idf, lambda _q: [1.0, 0.0]).answer("release", hits).citations) == 2


def test_previously_cited_sentences_are_not_repeated(answerer: ExtractiveAnswerer, hits: list[Hit]) -> None:
    """A follow-up with the previous citation id skips that sentence and still numbers from [1]."""
    first = answerer.answer("release", hits).citations[0]
    answer = answerer.answer("release", hits, previous=[first.id, "not an id"])
    assert first.id not in [c.id for c in answer.citations]
    assert answer.citations[0].n == 1
    assert answer.citations[0].quote == "Release 2.4 ships on 14 March."


def _assert_abstained(answer: Answer, hits: list[Hit]) -> None:
    assert answer.abstained
    assert answer.answer == ABSTAIN_TEXT == "I could not find this in the documents."
    assert answer.citations == []
    assert [p.id for p in answer.passages] == [f"notes.txt#{h.chunk.start}-{h.chunk.end}" for h in hits]
    assert [p.text for p in answer.passages] == [h.chunk.text for h in hits]


def test_abstains_when_the_question_words_are_not_found(
    answerer: ExtractiveAnswerer, hits: list[Hit]
) -> None:
    """Bad input tried: a question none of whose content words is in the passages."""
    _assert_abstained(answerer.answer("Who won the 2018 World Cup?", hits), hits)


def test_abstains_when_coverage_is_below_the_threshold(answerer: ExtractiveAnswerer, hits: list[Hit]) -> None:
    """Bad input tried: one common word found among several rare missing ones (coverage well below 0.4)."""
    _assert_abstained(
        answerer.answer("Which volcano erupted near the canteen in Iceland yesterday?", hits), hits
    )


def test_abstains_when_nothing_is_near_in_meaning(hits: list[Hit]) -> None:
    """Bad input tried: full word coverage but every hit's dense similarity below min_dense."""
    far = [Hit(h.chunk, h.score, 0.05, h.bm25) for h in hits]
    index = LexicalIndex([h.chunk.text for h in hits])
    answerer = ExtractiveAnswerer(index.idf, lambda _q: [1.0, 0.0])
    _assert_abstained(answerer.answer("Who is the release manager?", far), far)


def test_no_hits_abstains_with_no_passages(answerer: ExtractiveAnswerer) -> None:
    """Bad input tried: an empty list of hits (an empty store)."""
    answer = answerer.answer("Who is the release manager?", [])
    assert answer.abstained
    assert answer.answer == ABSTAIN_TEXT
    assert answer.citations == [] and answer.passages == []
