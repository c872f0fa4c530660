"""Block Kit views of answers, built directly (the end-to-end Slack tests go through the stand-in)."""

from __future__ import annotations

from bot.slack.blocks import answer_blocks
from retrieval.types import Answer, Passage
from tests.helpers.citations import citation as make_citation


def _texts(blocks: list[dict[str, object]]) -> str:
    return repr(blocks)


def test_an_abstained_answer_without_passages_has_no_empty_heading() -> None:
    """Bad input tried: an abstained answer from a store that holds nothing (no passages at all)."""
    empty = Answer(question="Who runs the release?", answer="I could not find this.", abstained=True)
    blocks = answer_blocks(empty, "a1")
    assert "Closest matches" not in _texts(blocks)
    assert [b["type"] for b in blocks] == ["section", "actions"]
    passage = Passage(
        id="a.txt#0-5",
        source="a.txt",
        path="/a.txt",
        text_path="/a.txt",
        start=0,
        end=5,
        score=0.1,
        line=1,
        text="Hello",
    )
    near = empty.model_copy(update={"passages": [passage]})
    assert "*Closest matches (not an answer):*" in _texts(answer_blocks(near, "a1"))


def test_a_stale_citation_says_its_file_changed() -> None:
    """A citation whose file changed since ingest is marked in the sources line; a fresh one is not."""
    citation = make_citation("Hello", source="a.txt", path="/a.txt", start=0, end=5, score=1, line=1)
    answer = Answer(question="q?", answer="Hello [1]", abstained=False, citations=[citation])
    assert "(changed since it was indexed)" not in _texts(answer_blocks(answer, "a1"))
    stale = answer.model_copy(update={"citations": [citation.model_copy(update={"stale": True})]})
    assert '[1] a.txt, line 1 (changed since it was indexed) - "Hello"' in str(answer_blocks(stale, "a1"))


def test_a_pdf_citation_names_its_page() -> None:
    """The sources line reads `handbook.pdf, p. 3`; a span over a page break reads `pp. 3-4`."""
    citation = make_citation(
        "Leave is twenty-six days a year.",
        source="handbook.pdf",
        path="/d/handbook.pdf",
        text_path="/s/texts/ab.txt",
        start=10,
        end=40,
        line=3,
        page=3,
        location="page 3",
        score=1,
    )
    answer = Answer(question="q?", answer="Leave [1]", abstained=False, citations=[citation])
    assert '[1] handbook.pdf, p. 3 - "Leave is twenty-six days a year."' in _texts(
        answer_blocks(answer, "a1")
    )
    across = citation.model_copy(update={"location": "pages 3-4"})
    assert "handbook.pdf, pp. 3-4" in _texts(
        answer_blocks(answer.model_copy(update={"citations": [across]}), "a")
    )
