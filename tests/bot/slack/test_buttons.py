"""The answer's buttons: Sources shows the cited passages, the votes are stored and listed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.slack.blocks import escape
from bot.slack.feedback import FeedbackStore
from bot.slack.votes import THANKS
from retrieval.engine import Engine
from tests.bot.slack.harness import (
    button_value,
    mention,
    one_line,
    running,
    strings,
)
from tests.conftest import STOCKHOLM
from tests.helpers.slack_standin import SlackStandIn, action_body

# Each test stops every server, socket client and listener pool it started (conftest.py).
pytestmark = pytest.mark.usefixtures("no_leftover_threads")


def test_sources_button_shows_the_full_passages(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """The Sources button sends the presser an ephemeral message with every cited passage in full."""
    with running(shared_engine, slack, feedback) as bot:
        event = mention(slack, STOCKHOLM)
        bot.send(event)
        (reply,) = slack.wait_for("chat.postMessage")
        answer_id = button_value(reply.params, "citebot_sources")
        press = action_body(
            "citebot_sources", answer_id, "U2", "C1", slack.response_url("src"), slack.new_ts(), event["ts"]
        )
        assert bot.post(press)[0] == 200
        (sources,) = slack.wait_for_response("src")
    assert sources["response_type"] == "ephemeral" and sources["replace_original"] is False
    shown = one_line(" ".join(strings(sources["blocks"])))
    cited = [c.id for c in feedback.answer(answer_id).citations]  # type: ignore[union-attr]
    assert cited
    for citation_id in cited:
        passage = shared_engine.cite(citation_id)
        assert one_line(escape(passage.quote)) in shown
        assert f"`{citation_id}`" in shown


def test_feedback_buttons_store_votes_listed_by_cli(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, tmp_path: Path
) -> None:
    """Helpful and not-helpful votes are stored with the answer's data and listed by `citebot feedback`."""
    with running(shared_engine, slack, feedback) as bot:
        event = mention(slack, STOCKHOLM)
        bot.send(event)
        (reply,) = slack.wait_for("chat.postMessage")
        answer_id = button_value(reply.params, "citebot_helpful")
        for user, action in (("U2", "citebot_helpful"), ("U3", "citebot_not_helpful")):
            bot.post(action_body(action, answer_id, user, "C1", slack.response_url(user), slack.new_ts()))
            (thanks,) = slack.wait_for_response(user)
            assert thanks == {"text": THANKS, "response_type": "ephemeral", "replace_original": False}
    expected = shared_engine.ask(STOCKHOLM)
    votes = feedback.votes()
    assert sorted((v["user"], v["vote"]) for v in votes) == [("U2", "helpful"), ("U3", "not_helpful")]
    for vote in votes:
        assert vote["question"] == STOCKHOLM and vote["answer"] == expected.answer
        assert vote["citations"] == [c.id for c in expected.citations] and vote["channel"] == "C1"
        assert vote["time"].startswith(time.strftime("%Y-", time.gmtime()))
    result = CliRunner().invoke(cli, ["feedback", "--json", "--store", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == votes
