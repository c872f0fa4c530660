""" "Get help from a person": an answer's question, thread and sources brought to the scope's escalate_to.

A channel id (C..., G...) gets a message there with a link to the thread (chat.getPermalink); a user-group id
(S...) is mentioned in the thread itself. Either way the thread is told who was asked, and the hand-off is
kept beside the votes. A channel citebot is not in (or cannot see) is said so in the thread, never dropped.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.render import place
from bot.slack.blocks import GONE, escape
from bot.slack.client import SLACK_REFUSED
from bot.slack.tokens import slack_error
from retrieval.types import Answer

if TYPE_CHECKING:
    from bot.slack.app import SlackBot

log = logging.getLogger("citebot.slack")
ASKED_CHANNEL = "<@{user}> asked <#{target}> for help with this question; they have a link to this thread."
ASKED_GROUP = "<!subteam^{target}> <@{user}> asked for help with this question:\n{summary}"
ALREADY = "You already asked {who} for help with this answer."
NOT_SET_UP = "Asking a person for help is not set up in this channel."
NOT_IN = (
    "I couldn't ask <#{target}> for help: I'm not in that channel ({error}). Someone can `/invite @citebot` "
    "there (or fix `escalate_to` in the scopes file), then press the button again."
)
FAILED = "I couldn't ask {who} for help: {reason}."
UNREACHABLE = ("not_in_channel", "channel_not_found", "is_archived")


def who(target: str) -> str:
    """How a hand-off's target is written in a message: a user group's mention or a channel's link."""
    return f"<!subteam^{target}>" if target.startswith("S") else f"<#{target}>"


def summary(answer: Answer, link: str | None, channel: str) -> str:
    """The question, where it was asked and what citebot cited (or its closest matches), escaped."""
    lines = [f">{escape(' '.join(answer.question.split()))[:500]}"]
    lines.append(f"<{link}|Open the thread> in <#{channel}>" if link else f"Asked in <#{channel}>")
    if answer.abstained:
        lines.append("citebot found no answer in the documents. Closest matches:")
        lines += [f"• {escape(p.source)}, {escape(place(p, brief=True))}" for p in answer.passages[:3]]
    else:
        lines.append("citebot's answer cited:")
        lines += [f"[{c.n}] {escape(c.source)}, {escape(place(c, brief=True))}" for c in answer.citations]
    return "\n".join(lines)[:2900]


def permalink(client: WebClient, channel: str, ts: str) -> str | None:
    """A link to the thread's first message (None where Slack does not give one: the hand-off goes on)."""
    try:
        return str(client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
    except (SlackApiError, KeyError) as exc:
        log.warning("no permalink for %s/%s: %s", channel, ts, exc)
        return None


def on_handoff(bot: SlackBot, body: dict[str, Any], client: WebClient, respond: Any) -> None:
    """The button: refused for an answer outside the pressing channel's scope, as Sources is."""
    answer_id = str(body["actions"][0]["value"])
    user = str(body["user"]["id"])
    channel = str((body.get("channel") or {}).get("id") or "")
    answer = bot.feedback.answer(answer_id)
    if answer is None or not bot.in_scope(answer, channel):
        respond(response_type="ephemeral", replace_original=False, text=GONE)
        return
    target = bot.scopes.current().escalation_for(channel)
    if target is None:  # a forged press, or a scope whose escalate_to was removed since the answer
        respond(response_type="ephemeral", replace_original=False, text=NOT_SET_UP)
        return
    if bot.feedback.handed_off(answer_id, user) == target:
        respond(response_type="ephemeral", replace_original=False, text=ALREADY.format(who=who(target)))
        return
    message = body.get("message") or {}
    thread_ts = str(message.get("thread_ts") or message.get("ts") or "") or None
    text = summary(answer, permalink(client, channel, thread_ts) if thread_ts else None, channel)
    reply: str | None = None
    try:
        if target.startswith("S"):  # the group is mentioned in the thread: that message says who was asked
            group = ASKED_GROUP.format(target=target, user=user, summary=text)
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=group, unfurl_links=False)
        else:
            client.chat_postMessage(
                channel=target, text=f"<@{user}> needs a person's help:\n{text}", unfurl_links=False
            )
            reply = ASKED_CHANNEL.format(user=user, target=target)
        outcome = "asked"
    except SlackApiError as exc:
        outcome = slack_error(exc)
        log.warning("hand-off to %s failed: %s", target, outcome)
        if outcome in UNREACHABLE:
            reply = NOT_IN.format(target=target, error=outcome)
        else:
            reply = FAILED.format(who=who(target), reason=SLACK_REFUSED.format(error=outcome))
    bot.feedback.record_handoff(answer_id, user, channel, target, outcome)
    if reply is None:
        return
    try:
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=reply, unfurl_links=False)
    except SlackApiError as exc:  # the thread itself is gone: at least the presser hears of it
        log.warning("hand-off reply in %s failed: %s", channel, slack_error(exc))
        respond(response_type="ephemeral", replace_original=False, text=reply)
