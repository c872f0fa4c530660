"""Keeping secrets out of what people and logs see: URL passwords, API keys, Slack tokens (a leaf module)."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# scheme://user:password@ ; the password runs to the netloc's last "@", as urllib.parse.urlsplit reads it.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*):[^/?#\s]*@")
# Shapes of secrets worth hiding even when nobody told us the value: Slack bot/user/app/refresh tokens
# (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-, xapp-), OpenAI-style keys (sk-..., sk-proj-...) and any
# bearer credential an HTTP library writes into a message. \b keeps "task-list" or "desk-top" intact.
_TOKEN_SHAPES = re.compile(r"\b(?:xox[abeprs]|xapp|sk)-[A-Za-z0-9_-]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")


def redact_url(url: str) -> str:
    """The URL with any password in its userinfo replaced by ***: http://user:***@host:8000/v1."""
    return _URL_PASSWORD.sub(rf"\g<head>:{MASK}@", url)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """The text with each non-empty secret, URL password, Slack token and sk- key replaced by ***."""
    # Longest first, so a secret that contains another is hidden whole rather than in pieces.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = redact_url(text)
    text = _TOKEN_SHAPES.sub(MASK, text)
    return _BEARER.sub(rf"\g<1>{MASK}", text)
