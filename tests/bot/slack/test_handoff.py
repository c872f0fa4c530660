""" "Get help from a person": real bolt over HTTP against the stand-in, on a store of two collections.

C0HELP hands off to the channel C0PEOPLE, C0GROUP to the user group S0OWNERS, C0LOST to C0NOBOT (a channel
citebot is not in), C0HR (the hr collection) to C0PEOPLE; C0PLAIN (today's list form) has no hand-off.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.slack.blocks import GONE
from bot.slack.feedback import FeedbackStore
from bot.slack.handoff import ASKED_CHANNEL, NOT_SET_UP
from bot.slack.scopes import LiveScopes
from retrieval.engine import Engine
from tests.bot.slack.harness import (
    DRILL,
    Running,
    blocks_of,
    button_value,
    mention,
    posted,
    running,
)
from tests.helpers.slack_standin import SlackStandIn, action_body

pytestmark = pytest.mark.usefixtures("no_leftover_threads")
SALARY = "What is the salary band for a senior engineer?"
UNKNOWN = "What is the airspeed velocity of an unladen swallow?"
SCOPES = """\
default = ["citebot"]
[channels]
C0PLAIN = ["citebot"]
C0HELP = { collections = ["citebot"], escalate_to = "C0PEOPLE" }
C0GROUP = { collections = ["citebot"], escalate_to = "S0OWNERS" }
C0LOST = { collections = ["citebot"], escalate_to = "C0NOBOT" }
C0HR = { collections = ["hr"], escalate_to = "C0PEOPLE" }
"""


@pytest.fixture
def live(tmp_path: Path, two_collections: Engine) -> LiveScopes:
    path = tmp_path / "scopes.toml"
    path.write_text(SCOPES, encoding="utf-8")
    return LiveScopes(path, "citebot", two_collections.store.collections)


def ask(bot: Running, channel: str, question: str = DRILL) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mention citebot in a channel; (the mention event, citebot's answer as posted)."""
    slack = bot.slack
    before = len(posted(slack))
    event = mention(slack, question, channel=channel)
    bot.send(event)
    slack.wait_for("chat.postMessage", before + 1, timeout=30)
    (answer,) = [m for m in posted(slack) if m.get("thread_ts") == event["ts"] and m.get("metadata")]
    return event, answer


def press_help(
    bot: Running, answer_id: str, channel: str, thread_ts: str, name: str, user: str = "U2"
) -> None:
    """Press "Get help from a person" on an answer message in a thread."""
    slack = bot.slack
    body = action_body(
        "citebot_handoff", answer_id, user, channel, slack.response_url(name), slack.new_ts(), thread_ts
    )
    assert bot.post(body)[0] == 200


def buttons(message: dict[str, Any]) -> list[str]:
    (actions,) = blocks_of(message, "actions")
    return [b["action_id"] for b in actions["elements"]]


def in_thread(slack: SlackStandIn, channel: str, thread_ts: str) -> list[str]:
    """The texts of citebot's plain replies (not answers) in a thread."""
    return [
        str(m["text"])
        for m in posted(slack)
        if m["channel"] == channel and m.get("thread_ts") == thread_ts and not m.get("metadata")
    ]


def test_the_button_is_on_answers_and_abstentions_only_where_escalate_to_is_set(
    two_collections: Engine, slack: SlackStandIn, feedback: FeedbackStore, live: LiveScopes
) -> None:
    """Bad input tried: a question the documents do not cover (an abstention still offers the button), and
    the same questions in a channel whose scope has no escalate_to (no button there)."""
    with running(two_collections, slack, feedback, scopes=live) as bot:
        _, answered = ask(bot, "C0HELP")
        _, abstained = ask(bot, "C0HELP", UNKNOWN)
        _, plain = ask(bot, "C0PLAIN")
        _, plain_abstained = ask(bot, "C0PLAIN", UNKNOWN)
    assert feedback.answer(button_value(abstained, "citebot_sources")).abstained  # type: ignore[union-attr]
    assert "citebot_handoff" in buttons(answered) and "citebot_handoff" in buttons(abstained)
    assert "citebot_handoff" not in buttons(plain) + buttons(plain_abstained)


def test_a_hand_off_to_a_channel_posts_question_link_and_sources_there_and_says_so_in_the_thread(
    two_collections: Engine, slack: SlackStandIn, feedback: FeedbackStore, live: LiveScopes
) -> None:
    """Bad input tried: the same person pressing twice (asked once; the second press is told so)."""
    with running(two_collections, slack, feedback, scopes=live) as bot:
        event, answer = ask(bot, "C0HELP")
        answer_id = button_value(answer, "citebot_handoff")
        press_help(bot, answer_id, "C0HELP", event["ts"], "first")
        slack.wait_for("chat.postMessage", 3)
        press_help(bot, answer_id, "C0HELP", event["ts"], "again")
        (again,) = slack.wait_for_response("again")
    (there,) = [m for m in posted(slack) if m["channel"] == "C0PEOPLE"]
    link = f"https://standin.slack.com/archives/C0HELP/p{event['ts'].replace('.', '')}"
    assert DRILL in there["text"] and link in there["text"] and "<@U2>" in there["text"]
    assert "drill.md" in there["text"]  # the cited source
    (link_call,) = slack.calls_to("chat.getPermalink")
    assert link_call.params["channel"] == "C0HELP" and link_call.params["message_ts"] == event["ts"]
    assert in_thread(slack, "C0HELP", event["ts"]) == [ASKED_CHANNEL.format(user="U2", target="C0PEOPLE")]
    assert "already asked <#C0PEOPLE>" in again["text"]
    (kept,) = feedback.handoffs()
    assert (kept["user"], kept["channel"], kept["target"], kept["outcome"]) == (
        "U2",
        "C0HELP",
        "C0PEOPLE",
        "asked",
    )
    assert kept["question"] == DRILL


def test_a_hand_off_to_a_user_group_mentions_it_in_the_thread(
    two_collections: Engine, slack: SlackStandIn, feedback: FeedbackStore, live: LiveScopes
) -> None:
    """Bad input tried: an abstention handed off (its closest matches go along instead of citations)."""
    with running(two_collections, slack, feedback, scopes=live) as bot:
        event, answer = ask(bot, "C0GROUP", UNKNOWN)
        press_help(bot, button_value(answer, "citebot_handoff"), "C0GROUP", event["ts"], "group")
    (said,) = in_thread(slack, "C0GROUP", event["ts"])
    assert said.startswith("<!subteam^S0OWNERS> <@U2> asked for help") and UNKNOWN in said
    assert "no answer" in said
    assert [m["channel"] for m in posted(slack)] == ["C0GROUP", "C0GROUP"]  # nothing elsewhere
    assert feedback.handoffs()[0]["target"] == "S0OWNERS"


def test_a_hand_off_to_a_channel_citebot_is_not_in_says_so_in_the_thread(
    two_collections: Engine, slack: SlackStandIn, feedback: FeedbackStore, live: LiveScopes
) -> None:
    """Bad input tried: escalate_to a channel citebot is not a member of (not_in_channel), then one Slack
    does not know (channel_not_found); each is a clear reply in the thread and kept as that outcome; a
    press after the bot is invited goes through."""
    slack.members["C0NOBOT"] = {"U7"}
    with running(two_collections, slack, feedback, scopes=live) as bot:
        event, answer = ask(bot, "C0LOST")
        answer_id = button_value(answer, "citebot_handoff")
        press_help(bot, answer_id, "C0LOST", event["ts"], "one")
        slack.wait_for("chat.postMessage", 3)
        assert feedback.handoffs()[0]["outcome"] == "not_in_channel"
        slack.error_next("chat.postMessage", "channel_not_found")
        press_help(bot, answer_id, "C0LOST", event["ts"], "two", user="U3")
        slack.wait_for("chat.postMessage", 5)
        slack.members["C0NOBOT"].add("UBOT")
        press_help(bot, answer_id, "C0LOST", event["ts"], "three")
        slack.wait_for("chat.postMessage", 7)
    replies = in_thread(slack, "C0LOST", event["ts"])
    assert len(replies) == 3
    assert "couldn't ask <#C0NOBOT>" in replies[0] and "not_in_channel" in replies[0]
    assert "/invite @citebot" in replies[0]
    assert "couldn't ask <#C0NOBOT>" in replies[1] and "channel_not_found" in replies[1]
    assert replies[2].startswith("<@U2> asked <#C0NOBOT> for help")
    outcomes = sorted((h["user"], h["outcome"]) for h in feedback.handoffs())
    assert outcomes == [("U2", "asked"), ("U3", "channel_not_found")]


def test_a_forged_hand_off_is_refused_as_sources_is(
    two_collections: Engine, slack: SlackStandIn, feedback: FeedbackStore, live: LiveScopes
) -> None:
    """Bad input tried: an hr answer's id pressed in C0HELP (whose scope is citebot only: refused, nothing
    of it leaves), an unknown answer id, and a citebot answer pressed in C0PLAIN (no escalate_to there)."""
    with running(two_collections, slack, feedback, scopes=live) as bot:
        hr_event, hr_answer = ask(bot, "C0HR", SALARY)
        assert "zorkmids" in hr_answer["text"]
        _, answer = ask(bot, "C0HELP")
        press_help(bot, button_value(hr_answer, "citebot_handoff"), "C0HELP", hr_event["ts"], "forged")
        press_help(bot, "0123456789abcdef", "C0HELP", hr_event["ts"], "unknown")
        press_help(bot, button_value(answer, "citebot_handoff"), "C0PLAIN", hr_event["ts"], "plain")
        refusals = [slack.wait_for_response(name)[0]["text"] for name in ("forged", "unknown", "plain")]
    assert refusals == [GONE, GONE, NOT_SET_UP]
    assert len(posted(slack)) == 2 and not feedback.handoffs()
    assert not slack.calls_to("chat.getPermalink")


def test_a_feedback_file_from_before_hand_offs_gains_their_table_and_keeps_its_votes(tmp_path: Path) -> None:
    """Bad input tried: a database made by the previous schema (answers and votes only), with a vote in it."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE answers (id TEXT PRIMARY KEY, question TEXT NOT NULL, answer_json TEXT NOT NULL,"
            " user TEXT, channel TEXT, created TEXT NOT NULL);"
            "CREATE TABLE votes (answer_id TEXT NOT NULL REFERENCES answers(id), user TEXT NOT NULL,"
            " vote TEXT NOT NULL, channel TEXT, created TEXT NOT NULL, PRIMARY KEY (answer_id, user));"
        )
        answer = '{"question": "q?", "answer": "a", "abstained": true}'
        db.execute(
            "INSERT INTO answers VALUES ('a1', 'q?', ?, 'U1', 'C1', '2026-01-01T00:00:00+00:00')", (answer,)
        )
        db.execute("INSERT INTO votes VALUES ('a1', 'U1', 'helpful', 'C1', '2026-01-01T00:00:00+00:00')")
    store = FeedbackStore(path)
    try:
        assert [v["vote"] for v in store.votes()] == ["helpful"]
        store.record_handoff("a1", "U2", "C1", "C0PEOPLE", "asked")
        assert store.handed_off("a1", "U2") == "C0PEOPLE"
    finally:
        store.close()
    reopened = FeedbackStore(path)
    assert reopened.handoffs()[0]["target"] == "C0PEOPLE"
    reopened.close()
