"""One retry rule for everything the runtime sends, and waiting that a stop cuts short."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off (first, 2×first, … up to `cap` seconds) for failures the
    platform did not put a time on; the platform's own "retry after" is honoured as given
    (up to `cap`). An action still undelivered `give_up_after` after it was decided is
    dropped: a reply an hour late answers nothing any more."""

    first: float = 1.0
    cap: float = 60.0
    give_up_after: timedelta = timedelta(hours=1)

    def delay(self, failures: int) -> float:
        return float(min(self.cap, self.first * 2 ** max(0, failures - 1)))


# how a loop that fetches from a platform (getUpdates, /sync, a login, getMe at the
# start) waits after a failure: 1, 2, 4 ... 30 s
RECONNECT = RetryPolicy(cap=30.0)
# an outbox message that failed: tried again after 2, 4, 8, 16 s
OUTBOX_RETRY = RetryPolicy(first=2.0)


async def sleep_or_stop(seconds: float, stop: asyncio.Event | None) -> bool:
    """Wait `seconds`, or less if `stop` is set meanwhile; True when stopped."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    if stop.is_set():
        return True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
