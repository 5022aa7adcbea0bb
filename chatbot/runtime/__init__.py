"""What every platform adapter shares: one ledger rule, one router, a queue per chat
(`runtime.py`), one retry policy (`retry.py`), actions kept as JSON (`codec.py`)."""

from chatbot.runtime.retry import OUTBOX_RETRY, RECONNECT, RetryPolicy, sleep_or_stop
from chatbot.runtime.runtime import Runtime

__all__ = ["OUTBOX_RETRY", "RECONNECT", "RetryPolicy", "Runtime", "sleep_or_stop"]
