"""What the bot posts: pings escaped, Block Kit limits kept, apologies, Slack's 429 retried."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bot.slack.blocks import SORRY, escape
from bot.slack.feedback import FeedbackStore
from retrieval.engine import Engine
from retrieval.errors import StoreError
from retrieval.types import Answer
from tests.bot.slack.harness import (
    BOT_TOKEN,
    DRILL,
    PINGS,
    SECRET,
    SLACK_BLOCKS_BUDGET,
    SLACK_MAX_BLOCKS,
    SLACK_SECTION_CHARS,
    blocks_of,
    button_value,
    mention,
    posted,
    running,
    strings,
)
from tests.conftest import STOCKHOLM
from tests.helpers.slack_standin import SlackStandIn, action_body

# Each test stops every server, socket client and listener pool it started (conftest.py).
pytestmark = pytest.mark.usefixtures("no_leftover_threads")


def test_rate_limited_post_is_retried_after_retry_after(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """chat.postMessage answered 429 with Retry-After: 1 is retried after a second; one answer is posted."""
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    with running(shared_engine, slack, feedback) as bot:
        bot.send(mention(slack, STOCKHOLM))
        slack.wait_for("chat.postMessage", count=2)
    limited, retried = slack.calls_to("chat.postMessage")
    assert (limited.injected, retried.injected) == ("429", None)
    assert retried.at - limited.at >= 1.0
    assert limited.params == retried.params
    assert len([m for m in slack.messages if m.get("bot_id") == "BBOT"]) == 1


def test_document_pings_are_escaped(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """A passage quoting <!channel>, <!here>, <@U123> and & is shown escaped in the answer, sources and
    Sources message, so it can never ping anyone."""
    with running(shared_engine, slack, feedback) as bot:
        event = mention(slack, DRILL)
        bot.send(event)
        (reply,) = slack.wait_for("chat.postMessage")
        answer_id = button_value(reply.params, "citebot_sources")
        bot.post(action_body("citebot_sources", answer_id, "U1", "C1", slack.response_url("src")))
        (sources,) = slack.wait_for_response("src")
    texts = [reply.params["text"], *strings(reply.params["blocks"]), *strings(sources)]
    for ping in PINGS:
        assert not any(ping in text for text in texts), ping
        assert not any(ping in json.dumps(message) for message in (reply.params, sources))
    escaped = [escape(ping) for ping in PINGS]
    assert escaped == ["&lt;!channel&gt;", "&lt;!here&gt;", "&lt;@U123&gt;"]
    for where in (reply.params["text"], blocks_of(reply.params, "section")[0]["text"]["text"]):
        assert all(e in where for e in escaped) and "east stairs &amp; meet" in where
    assert all(e in json.dumps(sources["blocks"]) for e in escaped)
    assert all(e in json.dumps(blocks_of(reply.params, "context")) for e in escaped)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            RuntimeError("the index <is> gone at http://admin:hunter2@10.0.0.5:8000, token xoxb-live-1"),
            "an internal error (RuntimeError); the details are in citebot's log",
        ),
        (
            StoreError(f"Chroma at http://admin:hunter2@10.0.0.5:8000 <refused> {SECRET}"),
            "Chroma at http://admin:***@10.0.0.5:8000 &lt;refused&gt; ***",
        ),
    ],
)
def test_chain_failure_is_a_visible_apology(
    shared_engine: Engine,
    slack: SlackStandIn,
    feedback: FeedbackStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    reason: str,
) -> None:
    """Bad input: the chain raising a foreign RuntimeError whose text holds a URL password and a token, and
    citebot's own StoreError holding a URL password and the signing secret. The thread gets a short, safe
    apology (no foreign text; citebot's own text masked and escaped), :eyes: removed, the traceback logged."""

    def broken(question: str, history: Any = None) -> Answer:
        raise error

    monkeypatch.setattr(shared_engine, "ask", broken)
    with running(shared_engine, slack, feedback) as bot:
        event = mention(slack, STOCKHOLM)
        bot.send(event)
        slack.wait_for("reactions.remove")
    (reply,) = posted(slack)
    assert reply["thread_ts"] == event["ts"]
    assert reply["text"] == f"Sorry, I couldn't answer that: {reason}"
    assert reply["text"] == SORRY.format(reason=reason)
    failures = [r for r in caplog.records if r.name == "citebot.slack" and r.exc_info]
    assert len(failures) == 1 and failures[0].exc_info[1] is error  # type: ignore[index]


def test_failed_post_apologises_with_slacks_error_code(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """Bad input: Slack refuses the answer's chat.postMessage (invalid_blocks); the apology names only the
    code, and one whose error is not a Slack code (it echoes the token) is told by its HTTP status."""
    slack.error_next("chat.postMessage", error="invalid_blocks")
    with running(shared_engine, slack, feedback) as bot:
        bot.send(mention(slack, STOCKHOLM))
        slack.wait_for("chat.postMessage", count=2)
        slack.error_next("chat.postMessage", error=f"bad token {BOT_TOKEN}")
        bot.send(mention(slack, STOCKHOLM))
        slack.wait_for("chat.postMessage", count=4)
    assert [m["text"] for m in posted(slack)] == [
        "Sorry, I couldn't answer that: Slack refused the message (invalid_blocks)",
        "Sorry, I couldn't answer that: Slack refused the message (HTTP 200)",
    ]


def test_long_answer_stays_within_block_kit_limits(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input: a 10,000-character answer with 80 citations: sections <= 3,000 chars, <= 50 blocks, under
    12,000 chars in all, the trimmed text pointing to the full passage; the Sources message fits too.
    Answers of 10,000 '&' (each shifted by 0-4 characters) are never cut inside an escape like `&amp;`."""
    real = shared_engine.ask(STOCKHOLM)
    citations = [real.citations[i % len(real.citations)].model_copy(update={"n": i + 1}) for i in range(80)]
    long_text = ("The North wanted <relief> & guarantees. " * 300)[:10_000]
    answers = {"long": real.model_copy(update={"answer": long_text, "citations": citations})}
    answers |= {f"amp {k}": real.model_copy(update={"answer": "x" * k + "&" * 10_000}) for k in range(5)}
    monkeypatch.setattr(shared_engine, "ask", lambda question, history=None: answers[question])
    with running(shared_engine, slack, feedback) as bot:
        bot.send(mention(slack, "long"))
        (reply,) = slack.wait_for("chat.postMessage")
        answer_id = button_value(reply.params, "citebot_sources")
        bot.post(action_body("citebot_sources", answer_id, "U1", "C1", slack.response_url("src")))
        (sources,) = slack.wait_for_response("src")
        for question in answers:
            if question != "long":
                bot.send(mention(slack, question))
        ampersands = [call.params for call in slack.wait_for("chat.postMessage", count=len(answers))[1:]]
    for blocks in (reply.params["blocks"], sources["blocks"]):
        assert len(blocks) <= SLACK_MAX_BLOCKS
        assert len(json.dumps(blocks, ensure_ascii=False)) < SLACK_BLOCKS_BUDGET
        for block in blocks_of({"blocks": blocks}, "section"):
            assert len(block["text"]["text"]) <= SLACK_SECTION_CHARS
        for block in blocks_of({"blocks": blocks}, "context"):
            assert all(len(element["text"]) <= SLACK_SECTION_CHARS for element in block["elements"])
    pointer = f"… (full passage: Sources, or `citebot cite {citations[0].id}`)"
    section = blocks_of(reply.params, "section")[0]["text"]["text"]
    assert section.startswith("The North wanted &lt;relief&gt; &amp; guarantees.") and section.endswith(
        pointer
    )
    assert len(reply.params["text"]) <= SLACK_SECTION_CHARS
    pointer = f"… (full passage: Sources, or `citebot cite {real.citations[0].id}`)"
    for message in ampersands:
        section = blocks_of(message, "section")[0]["text"]["text"]
        assert len(section) <= SLACK_SECTION_CHARS and section.endswith(pointer)
        for text in (section.removesuffix(pointer), message["text"]):
            assert re.fullmatch(r"x*(&amp;)+…?", text), text[-12:]
