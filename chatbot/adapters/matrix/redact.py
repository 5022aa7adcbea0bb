"""Keep the Matrix password and access tokens out of every log.

The adapter itself never logs them. Two guards catch what libraries might log:

- matrix-nio logs each parsed response at DEBUG ("Validating response schema ...",
  ``nio.responses``), which would include a login answer and every message's text; a
  filter on that logger keeps the message and drops the body.
- A log record factory replaces every registered secret by "***" in any record's
  message, whichever logger made it (it only sees records that pass the level check).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_INSTALLED = False
MIN_SECRET_LENGTH = 6  # shorter "secrets" would redact ordinary words


class _DropResponseBodies(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Validating response schema"):
            record.msg = "Validating response schema (body not logged)"
            record.args = ()
        return True


def remember_secret(secret: str | None) -> None:
    """Redact this value from all log messages from now on."""
    if secret and len(secret) >= MIN_SECRET_LENGTH:
        with _LOCK:
            _SECRETS.add(secret)


def install() -> None:
    """Install the guards (once per process)."""
    global _INSTALLED
    with _LOCK:
        if _INSTALLED:
            return
        _INSTALLED = True
        logging.getLogger("nio.responses").addFilter(_DropResponseBodies())
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if _SECRETS:
                _redact(record)
            return record

        logging.setLogRecordFactory(factory)


def _redact(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it itself
        return
    redacted = message
    for secret in tuple(_SECRETS):
        if secret in redacted:
            redacted = redacted.replace(secret, "***")
    if redacted != message:
        record.msg = redacted
        record.args = ()
