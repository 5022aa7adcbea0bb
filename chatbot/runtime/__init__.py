"""What every platform adapter shares: one ledger rule, one router, a queue per chat
(`runtime.py`), one retry policy (`retry.py`), actions kept as JSON (`codec.py`)."""

from chatbot.runtime.retry import RetryPolicy, sleep_or_stop
from chatbot.runtime.runtime import Runtime, lane_of

__all__ = ["RetryPolicy", "Runtime", "lane_of", "sleep_or_stop"]
