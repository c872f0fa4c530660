"""`citebot feedback`: the votes and the standing ranking adjustments they make; `--reset` clears those."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.feedback_commands import NOTHING_TO_RESET
from bot.slack.feedback import FeedbackStore
from retrieval.engine import Engine
from retrieval.search.feedback_boost import adjustment

QUESTION = "Who is the release manager?"


def voted(engine: Engine, corpus: Path, feedback: FeedbackStore) -> str:
    """An answer from the corpus, voted helpful by two people and not helpful by a third."""
    engine.ingest([corpus])
    answer = engine.ask(QUESTION)
    (source,) = {c.source for c in answer.citations}
    answer_id = feedback.record_answer(answer, "U1", "C1")
    for user, vote in (("U1", "helpful"), ("U2", "helpful"), ("U3", "not_helpful")):
        assert feedback.record_vote(answer_id, vote, user, "C1", [("citebot", source)])
    return source


def feedback_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["feedback", *args])
    return result.exit_code, result.output


def test_feedback_lists_the_standing_adjustments(
    engine: Engine, corpus: Path, feedback: FeedbackStore, tmp_path: Path
) -> None:
    """The votes, then per collection and document the voters for and against, the net and the adjustment;
    --adjustments --json gives them alone as JSON lines. Bad input tried: --collection without --reset."""
    source = voted(engine, corpus, feedback)
    code, shown = feedback_cli("--store", str(tmp_path))
    assert code == 0, shown
    assert shown.count(QUESTION) == 3 and "Ranking adjustments" in shown
    assert f"citebot  {source}  2/1  net +1  {adjustment(1):+.4f}" in shown
    code, shown = feedback_cli("--store", str(tmp_path), "--adjustments", "--json")
    assert code == 0 and '"net": 1' in shown and shown.count("\n") == 1 and QUESTION not in shown
    code, shown = feedback_cli("--store", str(tmp_path), "--collection", "citebot")
    assert code == 2 and "--collection only narrows --reset" in shown and "Traceback" not in shown


def test_reset_needs_yes_and_keeps_the_votes(
    engine: Engine, corpus: Path, feedback: FeedbackStore, tmp_path: Path
) -> None:
    """Bad input tried: --reset without --yes (exit 2, says what would go), --yes without --reset, a
    collection name that is a path, a collection with nothing to reset; then --reset --yes clears them."""
    voted(engine, corpus, feedback)
    store = ("--store", str(tmp_path))
    code, shown = feedback_cli(*store, "--reset")
    assert code == 2 and "would reset 1 ranking adjustments (3 votes" in shown and "--yes" in shown
    assert len(feedback.ranking_votes()) == 3
    code, shown = feedback_cli(*store, "--yes")
    assert code == 2 and "--yes confirms --reset" in shown
    code, shown = feedback_cli(*store, "--reset", "--collection", "../hr", "--yes")
    assert code == 2 and "Traceback" not in shown
    code, shown = feedback_cli(*store, "--reset", "--collection", "hr", "--yes")
    assert code == 0 and NOTHING_TO_RESET.format(where=" in collection hr") in shown
    assert len(feedback.ranking_votes()) == 3
    code, shown = feedback_cli(*store, "--reset", "--collection", "citebot", "--yes")
    assert code == 0 and "Reset 1 ranking adjustments (3 votes" in shown
    assert feedback.ranking_votes() == () and len(feedback.votes()) == 3
    code, shown = feedback_cli(*store)
    assert code == 0 and "Ranking adjustments" not in shown and shown.count(QUESTION) == 3
