"""Block Kit views of answers, built directly (the end-to-end Slack tests go through the stand-in)."""

from __future__ import annotations

from bot.slack.blocks import answer_blocks
from retrieval.types import Answer, Citation, Passage


def _texts(blocks: list[dict[str, object]]) -> str:
    return repr(blocks)


def test_an_abstained_answer_without_passages_has_no_empty_heading() -> None:
    """Bad input tried: an abstained answer from a store that holds nothing (no passages at all)."""
    empty = Answer(question="Who runs the release?", answer="I could not find this.", abstained=True)
    blocks = answer_blocks(empty, "a1")
    assert "Closest matches" not in _texts(blocks)
    assert [b["type"] for b in blocks] == ["section", "actions"]
    passage = Passage(
        id="a.txt#0-5", source="a.txt", path="/a.txt", start=0, end=5, score=0.1, line=1, text="Hello"
    )
    near = empty.model_copy(update={"passages": [passage]})
    assert "*Closest matches (not an answer):*" in _texts(answer_blocks(near, "a1"))


def test_a_stale_citation_says_its_file_changed() -> None:
    """A citation whose file changed since ingest is marked in the sources line; a fresh one is not."""
    citation = Citation(
        n=1, id="a.txt#0-5", source="a.txt", path="/a.txt", start=0, end=5, quote="Hello", score=1, line=1
    )
    answer = Answer(question="q?", answer="Hello [1]", abstained=False, citations=[citation])
    assert "(changed since it was indexed)" not in _texts(answer_blocks(answer, "a1"))
    stale = answer.model_copy(update={"citations": [citation.model_copy(update={"stale": True})]})
    assert '[1] a.txt, line 1 (changed since it was indexed) - "Hello"' in str(answer_blocks(stale, "a1"))
