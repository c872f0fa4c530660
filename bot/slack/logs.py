"""The Slack door's log: every record, traceback included, with the configured secrets masked."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from retrieval.text.redaction import redact


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
