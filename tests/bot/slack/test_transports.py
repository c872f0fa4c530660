"""HTTP and Socket Mode: signed requests only, fresh timestamps, the url_verification handshake."""

from __future__ import annotations

import http.client
import json
import time

import pytest

from bot.slack.feedback import FeedbackStore
from bot.slack.transports import EVENTS_PATH
from retrieval.engine import Engine
from tests.bot.slack.harness import (
    APP_TOKEN,
    SECRET,
    mention,
    posted,
    running,
)
from tests.conftest import STOCKHOLM
from tests.helpers.slack_standin import SlackStandIn, event_body, sign

# Each test stops every server, socket client and listener pool it started (conftest.py).
pytestmark = pytest.mark.usefixtures("no_leftover_threads")


def test_bad_signature_is_rejected(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """401 and nothing posted for: the wrong secret, a body changed after signing, a garbled signature,
    no signature headers at all."""
    with running(shared_engine, slack, feedback) as bot:
        body = json.dumps(event_body(mention(slack, STOCKHOLM), event_id="EvBad"))
        signed = sign(SECRET, body)
        assert bot.post(body, secret="not-the-secret")[0] == 401
        tampered = body.replace("Stockholm", "Hanoi")
        assert bot.post(tampered, headers={**signed, "Content-Type": "application/json"})[0] == 401
        garbled = {"X-Slack-Signature": "v0=" + "0" * 64, "Content-Type": "application/json"}
        assert bot.post(body, headers=garbled)[0] == 401
        connection = http.client.HTTPConnection("127.0.0.1", bot.port, timeout=10)
        connection.request("POST", EVENTS_PATH, body=body, headers={"Content-Type": "application/json"})
        assert connection.getresponse().status == 401
        connection.close()
    assert [c.method for c in slack.calls] == ["auth.test"]


def test_stale_timestamp_is_rejected(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """401 and nothing posted for correctly signed requests stamped 5 min 10 s ago, 1 h ago, 10 min ahead."""
    with running(shared_engine, slack, feedback) as bot:
        body = json.dumps(event_body(mention(slack, STOCKHOLM), event_id="EvOld"))
        for skew in (-310, -3600, 600):
            assert bot.post(body, timestamp=int(time.time()) + skew)[0] == 401
    assert [c.method for c in slack.calls] == ["auth.test"]


def test_url_verification_echoes_the_challenge(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """Slack's url_verification handshake (signed) gets its challenge back; a badly signed one gets 401."""
    challenge = {
        "token": "verification-token",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9",
        "type": "url_verification",
    }
    with running(shared_engine, slack, feedback) as bot:
        status, body = bot.post(challenge)
        forged, _ = bot.post(challenge, headers={"X-Slack-Signature": "v0=nope"})
    assert status == 200
    assert json.loads(body) == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9"}
    assert forged == 401


def test_socket_mode_end_to_end(shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore) -> None:
    """Socket Mode: the app connects with the app token, acks a pushed mention, answers it in the thread."""
    with running(shared_engine, slack, feedback, http=False):
        event = mention(slack, STOCKHOLM)
        envelope_id = slack.push("events_api", event_body(event, event_id="EvSocket"))
        slack.wait_for_ack(envelope_id)
        slack.wait_for("reactions.remove")
    assert envelope_id in slack.acks
    (connect,) = slack.calls_to("apps.connections.open")
    assert connect.headers["Authorization"] == f"Bearer {APP_TOKEN}"
    (reply,) = posted(slack)
    assert (reply["channel"], reply["thread_ts"]) == ("C1", event["ts"])
    assert "[1]" in reply["text"] and "sanctions" in reply["text"]
