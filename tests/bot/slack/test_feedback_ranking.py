"""Votes into ranking, end to end: Slack's vote buttons over real HTTP (bolt against the stand-in) write the
feedback file; an engine reading that file (as `citebot slack`, ask and the REPL build it) ranks with them.

The store: two guest-wifi notes that tie for a wifi question (the lab's a hair ahead), a fire-drill note, and
an `hr` collection with a pay note. C0HR reads hr; every other channel reads citebot.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.slack.blocks import GONE
from bot.slack.feedback import FeedbackStore, VotesOnDisk
from bot.slack.scopes import LiveScopes
from bot.slack.settings import SlackSettings
from bot.slack.votes import THANKS, VOTING_TOO_FAST
from retrieval.engine import Engine
from retrieval.inference.embedder import Embedder
from retrieval.search.feedback_boost import adjustment
from retrieval.types import Answer
from tests.bot.slack.harness import Running, button_value, mention, running
from tests.conftest import make_engine
from tests.helpers.slack_standin import SlackStandIn, action_body

pytestmark = pytest.mark.usefixtures("no_leftover_threads")
VOTES_PER_MINUTE = SlackSettings.model_fields["vote_limit"].default
VOTED = "What's the password for the guest wifi network?"
LIKE_IT = "What is the wifi password for guests?"
UNRELATED = "When is the fire drill?"
PAY = "What is the salary band for a senior engineer?"
DOCS = {
    "wifi-office.md": (
        "# Office wifi\n\nThe guest wifi password in the office is Tulip42, changed every spring.\n"
    ),
    "wifi-lab.md": "# Lab wifi\n\nThe guest wifi password in the lab is Orchid77, changed every autumn.\n",
    "drill.md": "# Fire drill\n\nThe fire drill is on Thursday at 10:00; leave by the east stairs.\n",
}
PAY_DOC = "# Pay\n\nThe salary band for a senior engineer is 91,500 to 118,250 zorkmids a year.\n"
SCOPES = 'default = ["citebot"]\n[channels]\nC0HR = ["hr"]\n'


def hr_engine(store: Path, embedder: Embedder) -> Engine:
    """An engine on the store's hr collection (made if need be), sharing the model and scorer."""
    base = make_engine(store, embedder)
    engine = Engine(
        replace(base.config, location=replace(base.config.location, collection="hr")), embedder=embedder
    )
    engine._scorer = base._scorer
    return engine


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """The store folder, made by ingest once for the module."""
    root = tmp_path_factory.mktemp("votes")
    for folder, files in (("general", DOCS), ("hr", {"pay.md": PAY_DOC})):
        (root / folder).mkdir()
        for name, text in files.items():
            (root / folder / name).write_text(text, encoding="utf-8")
    assert make_engine(root / "store", embedder).ingest([root / "general"]).added == 3
    assert hr_engine(root / "store", embedder).ingest([root / "hr"]).added == 1
    return root / "store"


@pytest.fixture
def voted_engine(store: Path, embedder: Embedder, feedback: FeedbackStore) -> Engine:
    """An engine that reads the test's feedback file, as bot/engines.py builds every door's."""
    return make_engine(store, embedder, feedback=VotesOnDisk(feedback.path))


@pytest.fixture
def live(tmp_path: Path, store: Path) -> LiveScopes:
    path = tmp_path / "scopes.toml"
    path.write_text(SCOPES, encoding="utf-8")
    return LiveScopes(path, "citebot", lambda: {"citebot", "hr"})


def ask(bot: Running, question: str, channel: str = "C1") -> tuple[str, Answer]:
    """Mention citebot with a question; the answer's id and the answer as kept for its buttons."""
    before = len(bot.slack.calls_to("chat.postMessage"))
    bot.send(mention(bot.slack, question, channel=channel))
    reply = bot.slack.wait_for("chat.postMessage", before + 1)[-1]
    answer_id = button_value(reply.params, "citebot_helpful")
    kept = bot.app.extensions["citebot"].feedback.answer(answer_id)  # type: ignore[attr-defined]
    assert kept is not None
    return answer_id, kept


def press(bot: Running, action: str, answer_id: str, user: str, channel: str, name: str) -> Any:
    """Press a vote button; what the presser is told."""
    bot.post(action_body(action, answer_id, user, channel, bot.slack.response_url(name), bot.slack.new_ts()))
    (said,) = bot.slack.wait_for_response(name)
    return said["text"]


def order(engine: Engine, question: str) -> list[str]:
    return [hit.chunk.source for hit in engine.retriever().search(question)]


def scores(engine: Engine, question: str) -> dict[str, float]:
    return {hit.chunk.source: hit.score for hit in engine.retriever().search(question)}


def same(a: Answer, b: Answer) -> bool:
    return (a.answer, a.citations, a.passages, a.abstained) == (
        b.answer,
        b.citations,
        b.passages,
        b.abstained,
    )


def test_a_vote_reorders_a_similar_question_and_not_an_unrelated_one(
    voted_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """A not-helpful vote on the lab note (cited for one wifi question) puts the office note first for a
    differently worded wifi question, asked in Slack; the fire-drill question's answer is unchanged."""
    assert order(voted_engine, LIKE_IT)[:2] == ["wifi-lab.md", "wifi-office.md"]
    unrelated = voted_engine.ask(UNRELATED)
    with running(voted_engine, slack, feedback) as bot:
        answer_id, answer = ask(bot, VOTED)
        assert [c.source for c in answer.citations] == ["wifi-lab.md"]
        assert press(bot, "citebot_not_helpful", answer_id, "U2", "C1", "vote") == THANKS
        _, after = ask(bot, LIKE_IT)
    assert after.citations[0].source == "wifi-office.md"
    assert order(voted_engine, LIKE_IT)[:2] == ["wifi-office.md", "wifi-lab.md"]
    assert same(voted_engine.ask(UNRELATED), unrelated)


def test_without_votes_answers_are_identical(
    store: Path, embedder: Embedder, voted_engine: Engine, feedback: FeedbackStore
) -> None:
    """Bad input tried: a feedback file with answers but no votes, and one with votes only on a collection
    this one is not: answers equal, field for field, an engine that reads no feedback at all."""
    plain = make_engine(store, embedder)
    questions = [VOTED, LIKE_IT, UNRELATED]
    for question in questions:
        feedback.record_answer(plain.ask(question), "U1", "C1")
    hr_answer = feedback.record_answer(plain.ask(VOTED), "U1", "C0HR")
    feedback.record_vote(hr_answer, "not_helpful", "U1", "C0HR", [("hr", "wifi-lab.md")])
    for question in questions:
        assert same(voted_engine.ask(question), plain.ask(question))
        assert scores(voted_engine, question) == scores(plain, question)


def test_a_vote_from_outside_the_collections_scope_is_refused_and_changes_nothing(
    voted_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, live: LiveScopes
) -> None:
    """Bad input tried: a forged vote payload from C0GEN (which reads citebot) on an answer C0HR got from hr,
    and a vote on an answer id that was never given: both refused, nothing reaches the ranking."""
    with running(voted_engine, slack, feedback, scopes=live) as bot:
        answer_id, answer = ask(bot, PAY, channel="C0HR")
        assert {c.collection for c in answer.citations} == {"hr"}
        hr = hr_engine(voted_engine.config.location.path, voted_engine.embedder)
        before = scores(hr, PAY)
        assert press(bot, "citebot_not_helpful", answer_id, "U2", "C0GEN", "forged") == GONE
        assert press(bot, "citebot_not_helpful", "0123456789abcdef", "U2", "C0HR", "unknown") == GONE
        assert feedback.ranking_votes() == ()
        assert scores(hr, PAY) == before
        assert press(bot, "citebot_not_helpful", answer_id, "U3", "C0HR", "own") == THANKS
    assert {(v.collection, v.source, v.value) for v in feedback.ranking_votes()} == {("hr", "pay.md", -1)}


def test_a_vote_flood_from_one_user_is_rate_limited_and_counts_once(
    voted_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """Bad input tried: one user pressing Not helpful on two answers citing the lab note, then on the same
    answer until the limit refuses: the votes past VOTES_PER_MINUTE are refused, and the lab note moves by
    one voter's adjustment for the voted question; a second person moves it further."""
    before = scores(voted_engine, VOTED)["wifi-lab.md"]
    with running(voted_engine, slack, feedback) as bot:
        first, _ = ask(bot, VOTED)
        second, answer = ask(bot, "What is the password of the guest wifi network?")
        assert [c.source for c in answer.citations] == ["wifi-lab.md"]
        told = [
            press(bot, "citebot_not_helpful", first if n % 2 else second, "U2", "C1", f"flood{n}")
            for n in range(VOTES_PER_MINUTE + 3)
        ]
        assert told == [THANKS] * VOTES_PER_MINUTE + [VOTING_TOO_FAST.format(limit=VOTES_PER_MINUTE)] * 3
        one_voter = scores(voted_engine, VOTED)["wifi-lab.md"]
        assert one_voter == pytest.approx(before + adjustment(-1.0), abs=1e-9)
        assert press(bot, "citebot_not_helpful", first, "U3", "C1", "second") == THANKS
    assert scores(voted_engine, VOTED)["wifi-lab.md"] < one_voter
