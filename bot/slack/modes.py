"""Channels that answer more than mentions (the scopes file's mode): which of their messages get an answer.

"questions" answers a message that asks something (conversation.is_question), "all" every message; both
answer in the message's thread, never in the channel itself. Neither answers a bot (citebot included), an
edit or any other message subtype, a message that mentions citebot (its app_mention answers it, once), nor a
reply in a thread citebot has not answered in.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.conversation import is_question, question_text
from bot.slack.guards import channel_allowed

if TYPE_CHECKING:
    from bot.slack.app import SlackBot

log = logging.getLogger("citebot.slack")


def addressed_elsewhere(event: dict[str, Any], bot_user: str | None) -> bool:
    """A message no mode answers: a bot's (citebot's own too), an edit or other subtype, a mention of
    citebot (app_mention answers that one), or one without a person behind it."""
    user = event.get("user")
    if event.get("bot_id") or event.get("subtype") or not user or user == bot_user:
        return True
    return bool(bot_user) and f"<@{bot_user}" in str(event.get("text", ""))


def in_citebots_thread(client: WebClient, event: dict[str, Any], bot_user: str | None) -> bool:
    """Whether a reply's thread holds an answer by citebot (a top-level message: True, it starts one)."""
    thread_ts, ts = event.get("thread_ts"), event.get("ts")
    if not thread_ts or thread_ts == ts:
        return True
    try:
        replies = client.conversations_replies(channel=str(event["channel"]), ts=str(thread_ts), limit=200)
    except SlackApiError as exc:
        log.warning(
            "could not read the thread %s (%s); not answering in it", thread_ts, exc.response.get("error")
        )
        return False
    return any(message.get("user") == bot_user for message in replies.get("messages") or [])


def on_channel_message(bot: SlackBot, event: dict[str, Any], client: WebClient, bot_user: str | None) -> None:
    """A message in a channel (not a mention): answered in its thread where the channel's mode says so."""
    channel = str(event.get("channel", ""))
    mode = bot.scopes.current().mode_for(channel)
    if mode == "mention" or addressed_elsewhere(event, bot_user):
        return
    if not channel_allowed(channel, bot.settings.allowlist):
        return  # nobody addressed citebot: no "not enabled here" notice either
    question = question_text(str(event.get("text", "")))
    if not question or (mode == "questions" and not is_question(question)):
        return
    if not in_citebots_thread(client, event, bot_user):
        return
    bot.reply(event, client, bot_user, question, str(event.get("thread_ts") or event["ts"]))
