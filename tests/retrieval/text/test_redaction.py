"""redact_url, redact and the Slack door's log filter: what a secret looks like after passing through."""

from __future__ import annotations

import io
import logging

import pytest

from bot.slack.logs import redact_logs
from retrieval.text.redaction import redact, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:hunter2@host:8000", "http://user:***@host:8000"),
        (
            "https://admin:s3cr%40t@chroma.internal:8000/api?tenant=a",
            "https://admin:***@chroma.internal:8000/api?tenant=a",
        ),
        ("http://user:p@ss@host/v1", "http://user:***@host/v1"),
        ("http://:onlypassword@host", "http://:***@host"),
        ("http://user:@host", "http://user:***@host"),
    ],
)
def test_redact_url_hides_the_password(url: str, shown: str) -> None:
    """Bad input: passwords in userinfo, percent-encoded, with a raw '@', without a user name, empty."""
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://user@host:8000",
        "http://host:8000/path?next=a@b",
        "http://[::1]:8000/v1",
        "not a url at all: x@y",
        "",
    ],
)
def test_redact_url_leaves_urls_without_a_password_alone(url: str) -> None:
    """Bad input: a port that looks like a password, a user with no password, '@' in the query, IPv6, junk."""
    assert redact_url(url) == url


def test_redact_replaces_each_given_secret() -> None:
    """Bad input: an error text echoing a key twice, a signing secret, and an empty or missing secret."""
    text = "key=abc123XYZ rejected; abc123XYZ is not valid; secret 8f14e45fceea167a"
    assert (
        redact(text, ["abc123XYZ", "8f14e45fceea167a", "", None])
        == "key=*** rejected; *** is not valid; secret ***"
    )


def test_redact_hides_the_longer_of_two_overlapping_secrets_whole() -> None:
    """Bad input: one configured secret is a prefix of another."""
    assert redact("token abcdef-long here", ["abcdef", "abcdef-long"]) == "token *** here"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("bot xoxb-123-456-abcDEF failed", "bot *** failed"),
        ("app token xapp-1-A0123-456-abcdef", "app token ***"),
        ("user xoxp-1-2 and refresh xoxe-1-abc", "user *** and refresh ***"),
        ("Incorrect API key provided: sk-proj-AbC_123-xyz.", "Incorrect API key provided: ***."),
        ("Authorization: Bearer eyJhbGciOi.x.y", "Authorization: Bearer ***"),
        ("see http://u:pw@db:8000/x", "see http://u:***@db:8000/x"),
    ],
)
def test_redact_hides_secret_shapes_nobody_named(text: str, shown: str) -> None:
    """Bad input: Slack bot, app, user and refresh tokens, an sk- key, a bearer header, a URL password."""
    assert redact(text, []) == shown


@pytest.mark.parametrize("text", ["task-list on the desk-top", "xoxb is a prefix", "ask- me", "sk- alone"])
def test_redact_leaves_ordinary_words_alone(text: str) -> None:
    """Bad input: words that contain 'sk-' or a token prefix without being a secret."""
    assert redact(text, []) == text


def test_log_filter_masks_message_arguments_traceback_and_stack() -> None:
    """Bad input: a log call whose arguments, exception text and stack hold configured secrets of no known
    shape (a signing secret, an LLM key), plus a Slack token nobody configured; two handlers both see
    the masked record."""
    logger = logging.getLogger("tests.redaction")
    logger.propagate = False
    streams = [io.StringIO(), io.StringIO()]
    handlers = [logging.StreamHandler(stream) for stream in streams]
    for handler in handlers:
        logger.addHandler(handler)
    try:
        redact_logs(["8f14e45fceea167a", "local-key-42", "", None], logger)
        try:
            raise RuntimeError("the endpoint said: bad key local-key-42")
        except RuntimeError:
            logger.error("call signed with %s failed", "8f14e45fceea167a", exc_info=True, stack_info=True)
        logger.warning("posting with %s", "xoxb-1-2-abc")
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
    for stream in streams:
        out = stream.getvalue()
        assert "8f14e45fceea167a" not in out and "local-key-42" not in out and "xoxb-1-2-abc" not in out
        assert out.startswith("call signed with *** failed\nTraceback (most recent call last):\n")
        assert "RuntimeError: the endpoint said: bad key ***\nStack (most recent call last):" in out
        assert out.endswith("posting with ***\n")
