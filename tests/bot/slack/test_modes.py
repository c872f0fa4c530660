"""Answer modes per channel (the scopes file's `mode`), through real bolt over HTTP against the stand-in.

C0ASK answers questions, C0ALL every message, C0MENT (today's list form) mentions only; "questions" and
"all" answer in the message's thread, never in the channel. Every test sends its messages as Slack would
(message.channels events, app_mention events) and reads back what the stand-in received.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.slack.conversation import is_question
from bot.slack.feedback import FeedbackStore
from bot.slack.scopes import LiveScopes
from retrieval.engine import Engine
from tests.bot.slack.harness import DRILL, Running, mention, posted, running
from tests.helpers.slack_standin import SlackStandIn

pytestmark = pytest.mark.usefixtures("no_leftover_threads")
ASK, ALL, MENT = "C0ASK", "C0ALL", "C0MENT"
SCOPES = f"""\
default = ["citebot"]
[channels]
{MENT} = ["citebot"]
{ASK} = {{ collections = ["citebot"], mode = "questions" }}
{ALL} = {{ collections = ["citebot"], mode = "all" }}
G0PRIV = {{ collections = ["citebot"], mode = "questions" }}
"""
STATEMENT = "The fire drill is on Thursday, I think."


@pytest.fixture
def live(tmp_path: Path, shared_engine: Engine) -> LiveScopes:
    path = tmp_path / "scopes.toml"
    path.write_text(SCOPES, encoding="utf-8")
    return LiveScopes(path, "citebot", shared_engine.store.collections)


def said(
    slack: SlackStandIn,
    channel: str,
    text: str,
    user: str = "U1",
    thread_ts: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A message.channels event (seeded in the stand-in as Slack would hold it)."""
    ts = slack.new_ts()
    slack.add_message(channel, ts, text, user, thread_ts=thread_ts, bot_id=extra.get("bot_id"))
    event = {"type": "message", "channel": channel, "channel_type": "channel", "user": user, "text": text}
    return event | {"ts": ts, "event_ts": ts} | ({"thread_ts": thread_ts} if thread_ts else {}) | extra


def message_of(app_mention: dict[str, Any]) -> dict[str, Any]:
    """The message event Slack also sends for a mention in a channel citebot reads messages of."""
    return app_mention | {"type": "message", "channel_type": "channel"}


def answers(slack: SlackStandIn) -> list[dict[str, Any]]:
    """citebot's posted answers (those carrying its metadata)."""
    return [m for m in posted(slack) if m.get("metadata")]


def answered(slack: SlackStandIn, event: dict[str, Any]) -> int:
    """How many answers were posted in the thread of this message."""
    return sum(1 for m in answers(slack) if m.get("thread_ts") == event.get("thread_ts", event["ts"]))


def edit_of(event: dict[str, Any], text: str) -> dict[str, Any]:
    """The message_changed event Slack sends when a message is edited."""
    channel, ts = event["channel"], event["ts"]
    changed = {"type": "message", "user": event["user"], "text": text, "ts": ts, "edited": {"ts": "1.0"}}
    return {
        "type": "message",
        "subtype": "message_changed",
        "channel": channel,
        "channel_type": "channel",
    } | {
        "message": changed,
        "previous_message": {"type": "message", "user": event["user"], "text": event["text"], "ts": ts},
        "ts": f"{ts}9",
        "event_ts": f"{ts}9",
    }


def send_all(bot: Running, *events: dict[str, Any]) -> None:
    for event in events:
        bot.send(event)


def test_the_question_rule_is_one_rule() -> None:
    """Bad input tried: statements, an imperative "Do not ...", "Don't ...", an empty message, a question
    mark inside formatting; questions with and without "?"."""
    asks = ["When is the fire drill?", "when is the fire drill", "Is it on Thursday", "ok?", "*really?*"]
    states = [STATEMENT, "Do not push on Fridays.", "Don't push on Fridays", "", "Thanks!", "Whatever."]
    assert all(is_question(text) for text in asks)
    assert not any(is_question(text) for text in states)


def test_questions_mode_answers_questions_in_their_thread_and_nothing_else(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, live: LiveScopes
) -> None:
    """Bad input tried: a statement, a bot's question, a question edited in (message_changed), a
    bot_message subtype, a question in a thread citebot is not part of, and a mention delivered both as
    app_mention and as a message event. A question with "?" and one without are answered, each in its own
    thread; a follow-up in citebot's thread is answered there."""
    with running(shared_engine, slack, feedback, scopes=live) as bot:
        asked = said(slack, ASK, DRILL)
        bare = said(slack, ASK, "when is the fire drill")
        statement = said(slack, ASK, STATEMENT)
        by_bot = said(slack, ASK, DRILL, user="U9", bot_id="B9")
        subtype = said(slack, ASK, DRILL, subtype="bot_message")
        edited = edit_of(statement, DRILL)
        parent = said(slack, ASK, "Lunch plans, anyone", user="U2")
        reply = said(slack, ASK, DRILL, thread_ts=parent["ts"])
        both = mention(slack, DRILL, channel=ASK)
        as_message = message_of(both)
        send_all(bot, asked, bare, statement, by_bot, subtype, edited, reply, both)
        bot.send(as_message, event_id="EvAsMessage")
        slack.wait_for("chat.postMessage", 3)
        follow = said(slack, ASK, "and where do we meet?", thread_ts=asked["ts"])
        bot.send(follow)
    assert answered(slack, asked) == 2  # the question, then its follow-up in the same thread
    assert (answered(slack, bare), answered(slack, both)) == (1, 1)
    assert [answered(slack, e) for e in (statement, by_bot, subtype, reply)] == [0, 0, 0, 0]
    assert all(m.get("thread_ts") for m in posted(slack)), "an answer went to the channel itself"
    assert len(answers(slack)) == 4


def test_all_mode_answers_statements_but_never_bots_edits_or_foreign_threads(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, live: LiveScopes
) -> None:
    """Bad input tried: citebot's own message seen as an event, another bot's, an edit, a reply in a thread
    citebot is not in, a mention whose message event arrives before its app_mention. A statement and a
    question are each answered once, in their thread."""
    with running(shared_engine, slack, feedback, scopes=live) as bot:
        statement = said(slack, ALL, STATEMENT)
        own = said(slack, ALL, "The documents don't cover this", user="UBOT", bot_id="BBOT")
        other_bot = said(slack, ALL, STATEMENT, user="U9", bot_id="B9")
        edited = edit_of(said(slack, ALL, "hello"), DRILL)
        parent = said(slack, ALL, "Lunch plans", user="U2")
        reply = said(slack, ALL, STATEMENT, thread_ts=parent["ts"])
        both = mention(slack, "the fire drill", channel=ALL)
        as_message = message_of(both)
        send_all(bot, statement, own, other_bot, edited, reply)
        bot.send(as_message, event_id="EvAsMessage")
        bot.send(both)
    assert (answered(slack, statement), answered(slack, both)) == (1, 1)
    assert [answered(slack, e) for e in (own, other_bot, parent, reply)] == [0, 0, 0, 0]
    assert len(answers(slack)) == 2
    assert all(m.get("thread_ts") for m in posted(slack))


def test_mention_mode_answers_only_mentions(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, live: LiveScopes
) -> None:
    """Bad input tried: a question without a mention in a mention-only channel (today's list form) and in an
    unlisted channel; a mention there is answered once though its message event arrives too."""
    with running(shared_engine, slack, feedback, scopes=live) as bot:
        question = said(slack, MENT, DRILL)
        unlisted = said(slack, "C0OTHER", DRILL)
        both = mention(slack, DRILL, channel=MENT)
        as_message = message_of(both)
        send_all(bot, question, unlisted, both)
        bot.send(as_message, event_id="EvAsMessage")
    assert (answered(slack, question), answered(slack, unlisted), answered(slack, both)) == (0, 0, 1)
    assert len(answers(slack)) == 1


def test_a_private_channel_in_questions_mode_answers_within_the_allowlist(
    shared_engine: Engine, slack: SlackStandIn, feedback: FeedbackStore, live: LiveScopes
) -> None:
    """Bad input tried: a question in a questions-mode channel that CITEBOT_SLACK_CHANNELS leaves out (no
    answer and no "not enabled here" notice: nobody addressed citebot). The private channel (message.groups,
    channel_type "group") on the allowlist is answered in the thread."""
    with running(shared_engine, slack, feedback, scopes=live, channels="G0PRIV") as bot:
        private = said(slack, "G0PRIV", DRILL) | {"channel_type": "group"}
        left_out = said(slack, ASK, DRILL)
        send_all(bot, private, left_out)
    assert (answered(slack, private), answered(slack, left_out)) == (1, 0)
    assert len(posted(slack)) == 1 and not slack.calls_to("chat.postEphemeral")
