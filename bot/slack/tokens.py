"""Asking Slack whether it takes the tokens, before citebot says it is listening."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.settings import SlackSettings
from retrieval.text.redaction import redact_url

BOT_REFUSED = "Slack refused the bot token ({error})"
APP_REFUSED = "Slack refused the app token ({error})"
UNREACHABLE = "Cannot reach Slack at {url}"
# Slack's error codes look like this (invalid_auth, token_revoked); anything else came from something that is
# not Slack (a proxy's page), so it is not shown.
_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


class SlackRefused(Exception):
    """Slack refused a token, or could not be reached to ask."""


def check_tokens(settings: SlackSettings, http: bool) -> None:
    """auth.test with the bot token and, for Socket Mode, apps.connections.open with the app token."""
    bot = WebClient(token=settings.bot_token, base_url=settings.base_url)
    _ask(bot.auth_test, BOT_REFUSED, settings)
    if not http:
        # The URL it returns is one-time and unused here: the Socket Mode handler asks for its own.
        app = WebClient(token=settings.app_token, base_url=settings.base_url)
        _ask(lambda: app.apps_connections_open(app_token=settings.app_token), APP_REFUSED, settings)


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code for a failed call (invalid_auth), or its HTTP status when the reply had none."""
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    error = str(data.get("error", ""))
    return error if _ERROR_CODE.fullmatch(error) else f"HTTP {exc.response.status_code}"


def refusal(exc: BaseException, template: str, settings: SlackSettings) -> str:
    """A failed Web API call (or what it caused) in one line: Slack's error code, or Slack unreachable."""
    seen: BaseException | None = exc
    for _ in range(10):  # bolt raises its BoltError while handling slack_sdk's SlackApiError
        if seen is None:
            break
        if isinstance(seen, SlackApiError):
            return template.format(error=slack_error(seen))
        if isinstance(seen, OSError):  # urllib's URLError and socket timeouts are OSErrors
            return UNREACHABLE.format(url=redact_url(settings.base_url))
        seen = seen.__cause__ or seen.__context__
    return template.format(error=type(exc).__name__)


def _ask(call: Callable[[], Any], template: str, settings: SlackSettings) -> None:
    try:
        call()
    except (SlackApiError, OSError) as exc:
        raise SlackRefused(refusal(exc, template, settings)) from exc
