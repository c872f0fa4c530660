"""/ask: an ephemeral answer at the response_url, and its Share button."""

from __future__ import annotations

import json
import time

import pytest

from bot.slack.feedback import FeedbackStore
from retrieval.engine import Engine
from tests.bot.slack.harness import (
    ACK_BUDGET_S,
    blocks_of,
    button_value,
    posted,
    running,
)
from tests.conftest import STOCKHOLM
from tests.helpers.slack_standin import SlackStandIn, action_body, slash_body

# Each test stops every server, socket client and listener pool it started (conftest.py).
pytestmark = pytest.mark.usefixtures("no_leftover_threads")


def test_slash_ask_is_ephemeral_and_share_posts_it(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """/ask: a quick empty ack, the ephemeral answer at the response_url with Share; Share posts it."""
    with running(shared_engine, slack, feedback) as bot:
        began = time.monotonic()
        status, body = bot.post(slash_body("/ask", STOCKHOLM, "U1", "C1", slack.response_url("ask")))
        acked_in = time.monotonic() - began
        (ephemeral,) = slack.wait_for_response("ask")
        assert posted(slack) == []
        answer_id = button_value(ephemeral, "citebot_share")
        share = action_body("citebot_share", answer_id, "U1", "C1", slack.response_url("share"))
        assert bot.post(share)[0] == 200
        (shared,) = slack.wait_for("chat.postMessage")
        (deleted,) = slack.wait_for_response("share")
        assert deleted["delete_original"] is True
    assert (status, body) == (200, b"") and acked_in < ACK_BUDGET_S
    assert ephemeral["response_type"] == "ephemeral" and "[1]" in ephemeral["text"]
    (actions,) = blocks_of(ephemeral, "actions")
    share_button = next(b for b in actions["elements"] if b["action_id"] == "citebot_share")
    assert share_button["text"]["text"] == "Share in channel"
    message = shared.params
    assert message["channel"] == "C1" and message.get("thread_ts") is None
    assert message["text"].startswith(f"<@U1> asked: {STOCKHOLM}\n")
    assert [s["text"]["text"] for s in blocks_of(message, "section")] == [
        s["text"]["text"] for s in blocks_of(ephemeral, "section")
    ]
    assert "citebot_share" not in json.dumps(message["blocks"])
