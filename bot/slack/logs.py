"""The Slack door's log: citebot's own records (libraries' only from WARNING up), secrets masked."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from retrieval.text.redaction import redact

# citebot's own loggers, each set apart from the root. Not "citebot" itself: that is bolt's logger for the app
# (named after it), whose level bolt sets to the root's at every request.
OWN_LOGGERS = ("citebot.slack", "citebot.watch")


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
