"""The Web API client citebot talks to Slack through, and a failure told in a few words safe to show."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.slack.blocks import escape
from bot.slack.settings import SlackSettings
from bot.slack.tokens import slack_error
from retrieval.errors import CitebotError
from retrieval.text.redaction import redact

INTERNAL = "an internal error ({kind}); the details are in citebot's log"
SLACK_REFUSED = "Slack refused the message ({error})"


def web_client(settings: SlackSettings) -> WebClient:
    """A Web API client on the configured base URL that waits out HTTP 429 (Retry-After) and retries drops."""
    client = WebClient(token=settings.bot_token, base_url=settings.base_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    client.retry_handlers.append(ConnectionErrorRetryHandler(max_retry_count=2))
    return client


def short_reason(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """A failure in a few words, safe to show: the engine's own message, Slack's error code, or the kind."""
    if isinstance(exc, CitebotError):  # written for people; masked in case a value in it was a secret
        text = redact(" ".join(str(exc).split()), secrets)[:200]
    elif isinstance(exc, SlackApiError):
        text = SLACK_REFUSED.format(error=slack_error(exc))
    else:  # foreign code's text can hold anything (a URL with a password, a peer's reply): not shown
        text = INTERNAL.format(kind=type(exc).__name__)
    return escape(text or type(exc).__name__)


@contextmanager
def bolt_reads_no_token() -> Iterator[None]:
    """SLACK_BOT_TOKEN out of the environment while bolt's App is made, and put back after."""
    # Given no token, bolt reads the variable itself and, the client beside it (which carries that token and
    # the base URL), warns "As you gave 'client' as well, 'token' will be unused" at every start.
    token = os.environ.pop("SLACK_BOT_TOKEN", None)
    try:
        yield
    finally:
        if token is not None:
            os.environ["SLACK_BOT_TOKEN"] = token
