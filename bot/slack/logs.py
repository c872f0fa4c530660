"""The Slack door's log: citebot's own records (libraries' only from WARNING up), secrets masked."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.request import BoltRequest

from retrieval.text.redaction import redact

# citebot's own loggers, each set apart from the root. Not "citebot" itself: that is bolt's logger for the app
# (named after it), whose level bolt sets to the root's at every request.
OWN_LOGGERS = ("citebot.slack", "citebot.watch")
# bolt's loggers whose records quote an incoming request's body: RequestVerification logs the whole body of
# every request whose signature fails (at INFO, shown from the moment the root logger's level allows it).
BODY_LOGGERS = ("slack_bolt.RequestVerification",)
log = logging.getLogger("citebot.slack")


class RedactSecrets(logging.Filter):
    """Masks secrets in a record's message, traceback and stack before any handler formats it."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place (so every later handler sees it masked); never drops one."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string: logging reports it, with nothing to mask
            return True
        record.msg, record.args = redact(message, self.secrets), None
        if record.exc_info:
            # The exception itself still holds the secret; only its masked text travels on.
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact(text, self.secrets), None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


def redact_logs(secrets: Iterable[str | None], logger: logging.Logger | None = None) -> RedactSecrets:
    """Put a RedactSecrets on every handler of the logger (the root by default)."""
    redactor = RedactSecrets(secrets)
    # On the handlers, not the logger: a logger's filters see only its own records, not its children's.
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(redactor)
    return redactor


def configure_logging(secrets: Iterable[str | None], debug: bool) -> None:
    """citebot's records from INFO, every library's from WARNING (all from DEBUG if debug); secrets masked."""
    # A user should read citebot's own lines and its one Error: line, not slack_bolt's, slack_sdk's, urllib3's
    # or uvicorn's chatter: those loggers inherit the root's level; citebot's own is set apart from it.
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.INFO)
    redact_logs(secrets)


class DropRecords(logging.Filter):
    """Drops every record of the logger it is put on."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Never let one through."""
        return False


def quiet_request_bodies() -> None:
    """bolt's request-body logging off: BODY_LOGGERS' records dropped at the logger, whatever its level."""
    # A filter, not a level: bolt sets each of its loggers' level to the root's when it makes them.
    for name in BODY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropRecords) for f in logger.filters):
            logger.addFilter(DropRecords())


def payload_kind(body: dict[str, Any]) -> str:
    """A payload's type (and its event's or command's), at most 40 characters each: never its content."""
    kind = [repr(str(body.get("type") or "untyped")[:40])]
    event = body.get("event")
    if isinstance(event, dict):
        kind.append(f"event {str(event.get('type'))[:40]!r}")
    if body.get("command"):
        kind.append(f"command {str(body['command'])[:40]!r}")
    return ", ".join(kind)


def log_bolt_error(error: Exception, request: BoltRequest) -> None:
    """bolt's error handler: a request no listener takes is one line (bad input, or a type citebot does not
    use); anything else is a bug, logged with its traceback."""
    if isinstance(error, BoltUnhandledRequestError):
        body = request.body if isinstance(request.body, dict) else {}
        log.warning("no listener for a Slack request (%s); answered 404", payload_kind(body))
    else:
        log.error("handling a Slack request failed: %s", type(error).__name__, exc_info=error)
