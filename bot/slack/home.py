"""The App Home tab: for the person looking, what citebot knows in the channels they share with it.

Their channels come from users.conversations (with the user's id: the public and private channels they are
in that citebot is in too, so ones it can answer in); each allowed channel reads its scope's collections. Per
collection: its document count, last ingest and failed files with their reasons (those its ingests reported,
which the store keeps until the file is ingested again or forgotten, then unreadable index records), at most
MAX_ROWS failed rows in all ("and N more"). Nothing is shown of a collection none of those channels
reads; direct messages' scope is not listed (a DM answers from `default`). Published again each time the
tab is opened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.blocks import SECTION_LIMIT, escape
from bot.slack.client import short_reason
from bot.slack.guards import channel_allowed
from bot.slack.tokens import slack_error

if TYPE_CHECKING:
    from bot.slack.app import SlackBot

log = logging.getLogger("citebot.slack")
MAX_ROWS = 50
MAX_COLLECTIONS = 20
MAX_CHANNEL_PAGES = 10
NO_CHANNELS = (
    "You're not in any channel citebot answers in, so there is nothing to show here yet: "
    "invite @citebot to one of your channels, or ask it in a direct message."
)
NO_LIST = "I couldn't read which channels you're in ({error}), so there is nothing to show."
DAMAGED = "{record}: its index record is damaged (`citebot ingest --rebuild` rebuilds it)"


@dataclass
class Facts:
    """What the Home tab says of one collection."""

    name: str
    channels: list[str]
    documents: int | None = None
    last_ingested: str | None = None
    failed: list[str] = field(default_factory=list)
    trouble: str | None = None  # the collection could not be read: why


def user_channels(client: WebClient, user: str) -> list[str]:
    """The channels a user shares with citebot (users.conversations, followed through its pages)."""
    found: list[str] = []
    cursor = None
    for _ in range(MAX_CHANNEL_PAGES):
        page = client.users_conversations(
            user=user, types="public_channel,private_channel", exclude_archived=True, limit=200, cursor=cursor
        )
        found += [str(c["id"]) for c in page.get("channels") or []]
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    return list(dict.fromkeys(found))


def readable(bot: SlackBot, channels: list[str]) -> dict[str, list[str]]:
    """Collection -> the user's channels that read it, in the scopes file's order (allowed channels only)."""
    scopes = bot.scopes.current()
    read: dict[str, list[str]] = {}
    for channel in channels:
        if channel_allowed(channel, bot.settings.allowlist):
            for name in scopes.for_channel(channel):
                read.setdefault(name, []).append(channel)
    return read


def facts_of(bot: SlackBot, name: str, channels: list[str]) -> Facts:
    """A collection's counts, last ingest and failed files (a store that cannot be read: why)."""
    facts = Facts(name, channels)
    try:
        engine = bot.collections.engine(name)
        status = engine.status()
        facts.documents, facts.last_ingested = int(status["documents"]), status.get("last_ingested")
        facts.failed = bot.failed_files(name)
    except Exception as exc:  # one unreadable collection must not blank the others
        log.warning("home: collection %s could not be read: %s", name, type(exc).__name__)
        facts.trouble = short_reason(exc, bot.settings.secrets)
    return facts


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_LIMIT]}}


def _lines_in_sections(lines: list[str]) -> list[dict[str, Any]]:
    """Lines packed into as few sections as Slack's 3,000 characters a section allow."""
    blocks: list[dict[str, Any]] = []
    chunk = ""
    for line in lines:
        line = line[: SECTION_LIMIT - 1]
        if chunk and len(chunk) + len(line) + 1 > SECTION_LIMIT:
            blocks.append(_section(chunk))
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    return [*blocks, _section(chunk)] if chunk else blocks


def home_view(collections: list[Facts], note: str | None = None) -> dict[str, Any]:
    """The Home tab: one block per collection, then its failed files (MAX_ROWS rows in all, the rest
    counted); note alone where there is nothing to list."""
    header = {"type": "header", "text": {"type": "plain_text", "text": "What citebot knows for you"}}
    if note is not None or not collections:
        return {"type": "home", "blocks": [header, _section(escape(note or NO_CHANNELS))]}
    blocks: list[dict[str, Any]] = [header]
    rows = 0
    for facts in collections[:MAX_COLLECTIONS]:
        where = ", ".join(f"<#{c}>" for c in facts.channels[:10])
        if facts.trouble:
            summary = f"*{escape(facts.name)}*: could not be read ({facts.trouble})"
        else:
            when = escape(facts.last_ingested or "never")
            summary = f"*{escape(facts.name)}*: {facts.documents} documents, last ingested {when}"
        blocks.append(_section(f"{summary}\nRead in {where}"))
        if facts.failed:
            shown = facts.failed[: max(0, MAX_ROWS - rows)]
            rows += len(shown)
            lines = [f"• {escape(row[:300])}" for row in shown]
            if len(shown) < len(facts.failed):
                lines.append(f"_…and {len(facts.failed) - len(shown)} more failed files_")
            blocks += _lines_in_sections([f"Failed files ({len(facts.failed)}):", *lines])
        blocks.append({"type": "divider"})
    if len(collections) > MAX_COLLECTIONS:
        blocks.append(_section(f"_…and {len(collections) - MAX_COLLECTIONS} more collections_"))
    return {"type": "home", "blocks": blocks[:100]}


def on_home_opened(bot: SlackBot, event: dict[str, Any], client: WebClient) -> None:
    """app_home_opened on the Home tab: publish the view for the person looking."""
    if event.get("tab", "home") != "home":
        return
    user = str(event.get("user", ""))
    try:
        channels = user_channels(client, user)
    except SlackApiError as exc:
        log.warning("home: users.conversations failed for %s: %s", user, slack_error(exc))
        client.views_publish(user_id=user, view=home_view([], NO_LIST.format(error=slack_error(exc))))
        return
    read = readable(bot, channels)
    view = home_view([facts_of(bot, name, where) for name, where in read.items()])
    client.views_publish(user_id=user, view=view)
