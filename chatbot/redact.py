"""Keep secrets (the Telegram bot token, the webhook secret, the Matrix password, access
token and crypto key) out of every log record, one way for every platform.

A Bot API URL contains the token (`https://api.telegram.org/bot<TOKEN>/sendMessage`),
and httpx logs every request URL at INFO; python-telegram-bot puts the token into the
text of `InvalidToken`; a library may log a login answer. A `logging.Filter` only sees
the records of the logger it is attached to (not those of its children, e.g.
`httpcore.http11`) or of one handler (not handlers added later, e.g. pytest's caplog),
so this module wraps the log record factory instead: every record, of any logger, is
scrubbed when it is created, before any filter or handler sees it. The message is
formatted once (only for records whose level is enabled) and replaced by the redacted
text if it contained a secret; a traceback that contains one is formatted, redacted and
kept as `exc_text` (`exc_info` dropped), which is what formatters print.
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any

MASK = "<redacted>"

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


def protect(secret: str | None) -> None:
    """Never let `secret` appear in a log record from now on (this process). Any
    length: a short secret that is also an ordinary word blanks that word in the logs,
    which is better than showing the secret."""
    global _installed
    if not secret:
        return
    with _lock:
        _secrets.add(secret)
        head, sep, tail = secret.partition(":")
        if sep and len(tail) >= 8:
            _secrets.add(tail)  # the secret part of a bot token on its own
        if not _installed:
            previous = logging.getLogRecordFactory()
            logging.setLogRecordFactory(_RedactingFactory(previous))
            _installed = True


def redact(text: str) -> str:
    """The text with every protected secret replaced by a mask."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def contains_secret(text: str) -> bool:
    return any(secret in text for secret in _secrets)


class _RedactingFactory:
    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.previous(*args, **kwargs)
        if _secrets:
            _scrub(record)
        return record


def _scrub(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports that itself
        message = str(record.msg)
    if contains_secret(message):
        record.msg = redact(message)
        record.args = None
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if contains_secret(text):
            record.exc_text = redact(text)
            record.exc_info = None
    if record.stack_info and contains_secret(record.stack_info):
        record.stack_info = redact(record.stack_info)
