"""Keeping secrets out of what people and logs see: URL credentials, API keys, Slack tokens (a leaf module).

Every function here is linear in its input: a hostile request body or log line of many megabytes costs
one pass, never one pass per character (no pattern here can backtrack over what an earlier try read).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# Each pattern below is one pass over the text, and reads each character a bounded number of times: runs
# are possessive (never given back), and a try begins only where a one-character look-behind allows it. A
# URL's parts end at white space, at a character that ends a URL in prose, markup, Slack links or JSON
# (_END), and at the next "://" (a URL inside a URL's query is read on its own, so its password is found).
_END = r"\s<>\"'`|\\"
# Letters and digits, 16 or more, holding both: the random part of keys (sk-proj-..., AIza..., hf_..., 32 hex
# digits, a JWT's parts). Model names ("Meta-Llama-3.1-70B-Instruct", "gpt-4o-2024-08-06") are made of
# shorter pieces and stay readable. Tried only where a run of letters and digits begins.
_KEY_PIECE = r"(?<![A-Za-z0-9])(?=[A-Za-z]*+[0-9])(?=[0-9]*+[A-Za-z])[A-Za-z0-9]{16,}+"
# scheme://user:password@ : the password runs to the netloc's last "@", as urllib.parse.urlsplit reads it.
_URL_PASSWORD = re.compile(rf"(?<=://)([^/?#{_END}:@]*+):[^/?#{_END}]*@")
# scheme://KEY@ : a key-shaped user name with no password.
_URL_KEY_USER = re.compile(rf"(?<=://)(?=[^/?#{_END}:@]{{0,256}}?{_KEY_PIECE})[^/?#{_END}:@]*+(?=@)")
# A query or fragment parameter named as a credential (api_key, api-key, key, access_token, client_secret,
# X-Amz-Signature, password, auth, code, ...): its value, whatever it looks like. The word is looked for in
# a name's first 64 characters, a key-shaped piece in a value's first 256, so that a try costs a bounded
# look ahead.
_SECRET_WORD = r"(?i:key|token|secret|passw|pwd|auth|sig|credential|session)"
_NAMED_SECRET = re.compile(
    rf"(?<=[?&;#])((?:(?=[^&;=#/{_END}]{{0,64}}?{_SECRET_WORD})[^&;=#/{_END}]*+|(?i:code|pass))=)[^&;#{_END}]++"
)
# A parameter's name or value (or a parameter without "=") holding a key-shaped piece, whole.
_KEY_PARAMETER = re.compile(rf"(?<=[?&;=#])(?=[^&;=#?/{_END}]{{0,256}}?{_KEY_PIECE})[^&;=#?/{_END}]*+")
# A URL's netloc and path (file paths outside URLs are left alone), and a path segment holding a key-shaped
# piece, whole.
_URL_PATH = re.compile(
    rf"(?<=://)(?P<netloc>[^/?#{_END}]*+)(?P<path>/[^?#{_END}:]*+(?::(?!//)[^?#{_END}:]*+)*+)"
)
_HAS_KEY = re.compile(_KEY_PIECE)
_KEY_SEGMENT = re.compile(rf"(?<=/)(?=[^/]*?{_KEY_PIECE})[^/]*+")
# Shapes of secrets worth hiding even when nobody told us the value: Slack bot/user/app/refresh tokens
# (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-, xapp-), OpenAI-style keys (sk-..., sk-proj-...) and any
# bearer credential an HTTP library writes into a message. \b keeps "task-list" or "desk-top" intact.
_TOKEN_SHAPES = re.compile(r"\b(?:xox[abeprs]|xapp|sk)-[A-Za-z0-9_-]+")
_BEARER = re.compile(r"(?i)\b(bearer\s++)[^\s\"',;]+")


def _path_masked(found: re.Match[str]) -> str:
    netloc, path = found.group("netloc", "path")
    return netloc + _KEY_SEGMENT.sub(MASK, path) if _HAS_KEY.search(path) else found.group()


def redact_url(url: str) -> str:
    """The text with each URL's credentials replaced by ***, wherever in the URL they sit.

    http://user:***@host:8000/v1 (a userinfo password), http://host/v1?api_key=*** (a credential-named
    parameter, or any key-shaped value), https://host/keys/***/v1 (a key-shaped path segment). Linear in
    the text's length, for a URL alone or for a log line or message holding any number of them.
    """
    if "://" not in url:
        return url
    text = _URL_PASSWORD.sub(rf"\g<1>:{MASK}@", url)
    text = _URL_KEY_USER.sub(MASK, text)
    if _HAS_KEY.search(text):
        text = _URL_PATH.sub(_path_masked, text)
    if "?" in text or "#" in text:
        text = _NAMED_SECRET.sub(rf"\g<1>{MASK}", text)
        text = _KEY_PARAMETER.sub(MASK, text)
    return text


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """The text with each non-empty secret, URL credential, Slack token and sk- key replaced by ***."""
    # Longest first, so a secret that contains another is hidden whole rather than in pieces.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = redact_url(text)
    text = _TOKEN_SHAPES.sub(MASK, text)
    return _BEARER.sub(rf"\g<1>{MASK}", text)
