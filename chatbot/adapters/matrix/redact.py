"""What matrix-nio logs: each parsed response at DEBUG ("Validating response schema ...",
``nio.responses``), which would include a login answer and every message's text. A
filter on that logger keeps the message and drops the body. (Secrets are kept out of
every log record by `chatbot.redact`.)"""

from __future__ import annotations

import logging
import threading

_LOCK = threading.Lock()
_INSTALLED = False


class _DropResponseBodies(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Validating response schema"):
            record.msg = "Validating response schema (body not logged)"
            record.args = ()
        return True


def install() -> None:
    """Install the filter (once per process)."""
    global _INSTALLED
    with _LOCK:
        if _INSTALLED:
            return
        _INSTALLED = True
        logging.getLogger("nio.responses").addFilter(_DropResponseBodies())
