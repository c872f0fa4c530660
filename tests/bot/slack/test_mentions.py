"""Mentions and direct messages: answered in the thread or the DM, follow-ups, what is ignored."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.blocks import ABSTAINED_TEXT, escape
from bot.slack.feedback import FeedbackStore
from retrieval.engine import Engine
from tests.bot.slack.harness import (
    CHAIN,
    FOLLOW_UP,
    blocks_of,
    button_value,
    mention,
    posted,
    running,
)
from tests.conftest import STOCKHOLM
from tests.helpers.slack_standin import SlackStandIn

# Each test stops every server, socket client and listener pool it started (conftest.py).
pytestmark = pytest.mark.usefixtures("no_leftover_threads")


def test_http_mention_answers_once_in_thread_with_sources(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """A signed app_mention: :eyes: on, one threaded reply with [1], the sources and buttons, :eyes: off."""
    expected = shared_engine.ask(STOCKHOLM)
    with running(shared_engine, slack, feedback) as bot:
        event = mention(slack, STOCKHOLM)
        bot.send(event)
        slack.wait_for("reactions.remove")
    (reply,) = posted(slack)
    assert (reply["channel"], reply["thread_ts"]) == ("C1", event["ts"])
    section, context = blocks_of(reply, "section"), blocks_of(reply, "context")
    assert [s["text"]["text"] for s in section] == [escape(expected.answer)]
    assert "[1]" in reply["text"] and "[1]" in section[0]["text"]["text"]
    # The scorer is unsure of the editorial's answer: a warning under the answer, then the sources.
    assert expected.low_confidence and expected.confidence is not None
    warning, listed = context
    (warned,) = [element["text"] for element in warning["elements"]]
    assert warned.startswith(f":warning: _Low confidence ({expected.confidence:.0%}):")
    (sources,) = [element["text"] for element in listed["elements"]]
    assert expected.citations
    for citation in expected.citations:
        assert f"[{citation.n}] {citation.source}, line {citation.line} - " in sources
    (actions,) = blocks_of(reply, "actions")
    assert [b["action_id"] for b in actions["elements"]] == [
        "citebot_sources",
        "citebot_helpful",
        "citebot_not_helpful",
    ]
    assert reply["metadata"]["event_payload"]["question"] == STOCKHOLM
    order = [c.method for c in slack.calls if c.method.startswith(("reactions.", "chat."))]
    assert order == ["reactions.add", "chat.postMessage", "reactions.remove"]
    for call in slack.calls_to("reactions.add") + slack.calls_to("reactions.remove"):
        assert call.params | {"name": "eyes", "channel": "C1", "timestamp": event["ts"]} == call.params


def test_direct_message_is_answered_in_the_dm(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """A message.im event is answered in the DM itself, not in a thread."""
    with running(shared_engine, slack, feedback) as bot:
        ts = slack.new_ts()
        bot.send(
            {
                "type": "message",
                "channel": "D1",
                "channel_type": "im",
                "user": "U1",
                "text": STOCKHOLM,
                "ts": ts,
            }
        )
        slack.wait_for("reactions.remove")
    (reply,) = posted(slack)
    assert reply["channel"] == "D1" and reply.get("thread_ts") is None
    assert "[1]" in reply["text"]


def test_thread_follow_up_uses_the_earlier_question(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """A second mention in a thread is answered with the first question (from the thread's metadata) as
    context; a third keeps the thread's topic, by the REPL's rule (the previous turn's search)."""
    with running(shared_engine, slack, feedback) as bot:
        first = mention(slack, STOCKHOLM)
        bot.send(first)
        slack.wait_for("chat.postMessage")
        bot.send(mention(slack, FOLLOW_UP, thread_ts=first["ts"]))
        slack.wait_for("chat.postMessage", count=2)
        bot.send(mention(slack, CHAIN, thread_ts=first["ts"]))
        slack.wait_for("chat.postMessage", count=3)
    reads = slack.calls_to("conversations.replies")
    assert len(reads) == 2
    for read in reads:
        assert read.params | {"channel": "C1", "ts": first["ts"], "include_all_metadata": "1"} == read.params
    earlier, follow_up, chained = posted(slack)
    assert follow_up["thread_ts"] == chained["thread_ts"] == first["ts"]
    # It goes on from the first answer (the scorer quotes the sentence right after it), never repeating it.
    assert follow_up["text"] != earlier["text"] and "[1]" in follow_up["text"]
    earlier_answer = feedback.answer(button_value(earlier, "citebot_sources"))
    follow_answer = feedback.answer(button_value(follow_up, "citebot_sources"))
    assert earlier_answer is not None and follow_answer is not None
    assert follow_answer.citations[0].start >= earlier_answer.citations[0].end
    assert follow_answer.citations[0].quote not in earlier_answer.answer
    searched = follow_up["metadata"]["event_payload"]["query"]
    assert searched == f"{STOCKHOLM} {FOLLOW_UP}"
    third = feedback.answer(button_value(chained, "citebot_sources"))
    assert third is not None and third.retrieval_query == f"{searched} {CHAIN}"


def test_bots_and_edits_are_ignored(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """No answer to: a mention by another bot (bot_id B999), the bot's own DM (UBOT/BBOT), a bot_message
    subtype, an edit (message_changed), a plain channel message (not im); then a person's DM is answered."""
    with running(shared_engine, slack, feedback) as bot:
        other_bot = mention(slack, STOCKHOLM) | {"bot_id": "B999", "user": "U999"}
        own = {"type": "message", "channel": "D1", "channel_type": "im", "user": "UBOT", "bot_id": "BBOT"}
        own |= {"text": STOCKHOLM, "ts": slack.new_ts()}
        bot_message = own | {"subtype": "bot_message", "user": "U2", "bot_id": "B2", "ts": slack.new_ts()}
        edited: dict[str, Any] = {"type": "message", "channel": "D1", "channel_type": "im"}
        edited |= {"subtype": "message_changed"}
        edited |= {"ts": slack.new_ts(), "message": {"text": STOCKHOLM, "user": "U1"}}
        in_channel = {"type": "message", "channel": "C1", "channel_type": "channel", "user": "U1"}
        in_channel |= {"text": STOCKHOLM, "ts": slack.new_ts()}
        for event in (other_bot, own, bot_message, edited, in_channel):
            bot.send(event)
    assert posted(slack) == [] and slack.calls_to("reactions.add") == []
    with running(shared_engine, slack, feedback) as bot:
        person = {"type": "message", "channel": "D1", "channel_type": "im", "user": "U1", "text": STOCKHOLM}
        bot.send(person | {"ts": slack.new_ts()})
        slack.wait_for("chat.postMessage")
    assert [m["channel"] for m in posted(slack)] == ["D1"]


def test_empty_mention_gets_a_usage_hint(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """Bad input: a bare mention with no question, and one with only whitespace, get the usage hint."""
    with running(shared_engine, slack, feedback) as bot:
        for text in ("", "   "):
            bot.send(mention(slack, text))
        slack.wait_for("chat.postMessage", count=2)
    assert [m["text"] for m in posted(slack)] == [
        "Ask me a question after the mention, e.g. `@citebot What did the US offer in Stockholm?`"
    ] * 2


def test_abstained_answer_says_so_and_offers_matches(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore
) -> None:
    """A question the documents do not cover: the plain abstention and the closest matches."""
    with running(shared_engine, slack, feedback) as bot:
        bot.send(mention(slack, "What is the boiling point of liquid nitrogen in kelvin?"))
        (reply,) = slack.wait_for("chat.postMessage")
    assert reply.params["text"] == ABSTAINED_TEXT
    section, context = blocks_of(reply.params, "section"), blocks_of(reply.params, "context")
    assert section[0]["text"]["text"] == f"_{ABSTAINED_TEXT}_"
    assert context[0]["elements"][0]["text"].startswith("*Closest matches (not an answer):*\n• ")
