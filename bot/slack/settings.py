"""Slack settings: the tokens under Slack's own variable names, the rest under CITEBOT_SLACK_*."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.settings import SettingsError

DEFAULT_API_URL = "https://slack.com/api/"


class SlackSettings(BaseSettings):
    """How citebot talks to Slack."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    bot_token: str = Field(
        "", validation_alias=AliasChoices("SLACK_BOT_TOKEN", "bot_token"), description="Bot token, xoxb-..."
    )
    app_token: str = Field(
        "",
        validation_alias=AliasChoices("SLACK_APP_TOKEN", "app_token"),
        description="App-level token for Socket Mode, xapp-...",
    )
    signing_secret: str = Field(
        "",
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "signing_secret"),
        description="Signing secret, for HTTP mode.",
    )
    api_url: str = Field(
        DEFAULT_API_URL,
        validation_alias=AliasChoices("CITEBOT_SLACK_API_URL", "api_url"),
        description="Slack Web API base URL (proxies, tests).",
    )
    rate_limit: int = Field(
        10,
        ge=1,
        validation_alias=AliasChoices("CITEBOT_SLACK_RATE_LIMIT", "rate_limit"),
        description="Questions per user per minute.",
    )
    # A person reading answers votes a few times a minute at most; past this it is a script or a stuck key,
    # and the ranking counts one person once per document anyway (retrieval/search/feedback_boost.py).
    vote_limit: int = Field(
        10,
        ge=1,
        validation_alias=AliasChoices("CITEBOT_SLACK_VOTE_LIMIT", "vote_limit"),
        description="Helpful / Not helpful votes taken per user per minute.",
    )
    channels: str = Field(
        "",
        validation_alias=AliasChoices("CITEBOT_SLACK_CHANNELS", "channels"),
        description="Comma-separated channel ids to answer in; empty means all.",
    )
    feedback_db: Path | None = Field(
        None,
        validation_alias=AliasChoices("CITEBOT_SLACK_FEEDBACK_DB", "feedback_db"),
        description="SQLite file for answers and votes (default: in the store).",
    )
    scopes: Path | None = Field(
        None,
        validation_alias=AliasChoices("CITEBOT_SLACK_SCOPES", "scopes"),
        description="TOML file mapping channel ids to the collections answered there.",
    )

    @property
    def allowlist(self) -> frozenset[str]:
        """The channel allowlist as a set."""
        return frozenset(c.strip() for c in self.channels.split(",") if c.strip())

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values never to show or log: the tokens and the signing secret."""
        return (self.bot_token, self.app_token, self.signing_secret)

    @property
    def base_url(self) -> str:
        """The API URL with the trailing slash slack_sdk expects."""
        return self.api_url if self.api_url.endswith("/") else self.api_url + "/"


def _require(value: str, variable: str, prefix: str) -> None:
    if not value:
        raise SettingsError(
            f"{variable} is not set: export {variable}={prefix}... (see the README's Slack section)"
        )
    if not value.startswith(prefix) or any(c.isspace() for c in value):
        raise SettingsError(f"{variable} is malformed: it should start with {prefix!r} and contain no spaces")


def read_slack_settings() -> SlackSettings:
    """Slack settings from the environment, or a SettingsError naming the invalid one."""
    try:
        return SlackSettings()
    except ValidationError as exc:
        raise SettingsError(
            f"Invalid Slack setting: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}"
        ) from exc


def load_slack_settings(http: bool) -> SlackSettings:
    """Slack settings for a transport, with the tokens it needs checked."""
    settings = read_slack_settings()
    _require(settings.bot_token, "SLACK_BOT_TOKEN", "xoxb-")
    if http:
        if not settings.signing_secret.strip():
            raise SettingsError("SLACK_SIGNING_SECRET is not set: HTTP mode needs the app's signing secret")
    else:
        _require(settings.app_token, "SLACK_APP_TOKEN", "xapp-")
    if not settings.base_url.startswith(("http://", "https://")):
        raise SettingsError(f"CITEBOT_SLACK_API_URL must be an http(s) URL, not {settings.api_url!r}")
    return settings
