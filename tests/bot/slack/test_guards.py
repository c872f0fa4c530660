"""Guards and load: each event answered once, the per-user rate limit, the channel allowlist, quick acks."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

import pytest

from bot.slack.blocks import NOT_HERE, RATE_LIMITED
from bot.slack.feedback import FeedbackStore
from retrieval.engine import Engine
from retrieval.types import Answer
from tests.bot.slack.harness import (
    ACK_BUDGET_S,
    DRILL,
    mention,
    posted,
    running,
)
from tests.conftest import STOCKHOLM
from tests.helpers.slack_standin import SlackStandIn, action_body, slash_body

# Each test stops every server, socket client and listener pool it started (conftest.py).
pytestmark = pytest.mark.usefixtures("no_leftover_threads")


def test_retried_event_is_answered_once(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """The same event_id delivered three times (retries 1 and 2 after a timeout) gives one answer."""
    with running(shared_engine, slack, feedback) as bot:
        event = mention(slack, STOCKHOLM)
        bot.send(event)
        for retry in ("1", "2"):
            bot.send(event, {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"})
        slack.wait_for("chat.postMessage")
    assert len(posted(slack)) == 1
    assert len(slack.calls_to("reactions.add")) == 1


def test_burst_of_50_mentions_from_10_users(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """50 mentions from 10 users at 3 questions a minute each: within the limit answered once, the rest told
    politely, none lost; reports the p95 answer latency."""
    per_user = {f"U{n:02d}": 2 if n < 5 else 8 for n in range(10)}
    senders = [user for user, count in per_user.items() for _ in range(count)]
    random.Random(4).shuffle(senders)
    questions = [
        STOCKHOLM,
        DRILL,
        "Who is the North's top nuclear envoy?",
        "Where did the second summit end?",
    ]
    sent: dict[str, tuple[str, float]] = {}
    with running(shared_engine, slack, feedback, rate_limit=3) as bot:
        for n, user in enumerate(senders):
            event = mention(slack, questions[n % len(questions)], user=user)
            sent[event["ts"]] = (user, bot.send(event))
        slack.wait_for("chat.postMessage", count=len(senders), timeout=60)
    replies = slack.calls_to("chat.postMessage")
    assert len(replies) == 50
    by_thread = Counter(call.params["thread_ts"] for call in replies)
    assert set(by_thread) == set(sent) and set(by_thread.values()) == {1}
    polite = RATE_LIMITED.format(limit=3)
    told = Counter(sent[c.params["thread_ts"]][0] for c in replies if c.params["text"] == polite)
    answered = [c for c in replies if c.params["text"] != polite]
    assert all("[1]" in c.params["text"] for c in answered)
    assert Counter(sent[c.params["thread_ts"]][0] for c in answered) == {
        u: min(n, 3) for u, n in per_user.items()
    }
    assert told == {u: n - 3 for u, n in per_user.items() if n > 3}
    latencies = sorted(c.at - sent[c.params["thread_ts"]][1] for c in answered)
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    print(
        f"\nburst: {len(answered)} answered, {sum(told.values())} rate-limited;"
        f" p95 answer latency {p95 * 1000:.0f} ms"
    )


def test_acks_stay_quick_while_answers_queue(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 8 answers stuck in a slow chain, /ask and a Sources press are still acked in time."""
    real = shared_engine.ask(STOCKHOLM)
    gate = threading.Event()

    def slow(question: str, history: Any = None) -> Answer:
        gate.wait(timeout=20)
        return real

    monkeypatch.setattr(shared_engine, "ask", slow)
    with running(shared_engine, slack, feedback) as bot:
        for n in range(8):
            bot.send(mention(slack, STOCKHOLM, user=f"U{n}"))
        began = time.monotonic()
        asked = bot.post(slash_body("/ask", STOCKHOLM, "U1", "C1", slack.response_url("ask")))
        pressed = bot.post(action_body("citebot_sources", "gone", "U1", "C1", slack.response_url("src")))
        acked_in = time.monotonic() - began
        gate.set()
        slack.wait_for("chat.postMessage", count=8)
        (answer,) = slack.wait_for_response("ask")
    assert (asked[0], pressed[0]) == (200, 200) and acked_in < ACK_BUDGET_S
    assert "[1]" in answer["text"] and len(posted(slack)) == 8


def test_channel_allowlist(shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore) -> None:
    """Bad input: a mention and an /ask in a channel not on the allowlist get only the private NOT_HERE note;
    the listed channel and a DM are answered."""
    with running(shared_engine, slack, feedback, channels="CALLOWED, CTOO") as bot:
        bot.send(mention(slack, STOCKHOLM, channel="COTHER"))
        slack.wait_for("chat.postEphemeral")
        bot.post(slash_body("/ask", STOCKHOLM, "U1", "COTHER", slack.response_url("ask")))
        (refused,) = slack.wait_for_response("ask")
        bot.send(mention(slack, STOCKHOLM, channel="CALLOWED"))
        dm = {"type": "message", "channel": "D7", "channel_type": "im", "user": "U1", "text": STOCKHOLM}
        bot.send(dm | {"ts": slack.new_ts()})
        slack.wait_for("chat.postMessage", count=2)
    (note,) = slack.calls_to("chat.postEphemeral")
    assert note.params | {"channel": "COTHER", "user": "U1", "text": NOT_HERE} == note.params
    assert refused == {"text": NOT_HERE, "response_type": "ephemeral"}
    assert sorted(m["channel"] for m in posted(slack)) == ["CALLOWED", "D7"]
    assert "COTHER" not in [c.params["channel"] for c in slack.calls_to("reactions.add")]
