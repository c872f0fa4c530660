"""Helpful / Not helpful: a vote stored with the cited documents it moves in the ranking, rate-limited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.slack.blocks import GONE

if TYPE_CHECKING:
    from bot.slack.app import SlackBot

THANKS = "Thanks, your feedback is recorded."
VOTING_TOO_FAST = "That's more than {limit} votes in a minute; this one was not recorded. Try again shortly."


def on_vote(bot: SlackBot, body: dict[str, Any], respond: Any, vote: str) -> None:
    """A feedback button: store the vote (and the cited documents it moves in the ranking of the
    collections the channel reads) and thank the voter privately."""
    channel, user = (body.get("channel") or {}).get("id"), str(body["user"]["id"])

    def tell(text: str) -> None:
        respond(response_type="ephemeral", replace_original=False, text=text)

    if not bot.vote_limiter.allow(user):
        return tell(VOTING_TOO_FAST.format(limit=bot.settings.vote_limit))
    answer = bot.feedback.answer(str(body["actions"][0]["value"]))
    if answer is None or not bot.in_scope(answer, channel):  # a vote on an answer given elsewhere
        return tell(GONE)
    readable = set(bot.scope(channel).collections)
    places = [(bot.collection_of(c), c.source) for c in answer.citations]
    targets = [(name, source) for name, source in places if name in readable]
    stored = bot.feedback.record_vote(str(body["actions"][0]["value"]), vote, user, channel, targets)
    tell(THANKS if stored else GONE)
