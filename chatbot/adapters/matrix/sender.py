"""One send queue per room: messages to a room go out in order, one at a time, and a
room that is rate limited (or briefly unreachable) waits on its own without holding up
the sync loop or the other rooms.

Each message gets a transaction id when it is queued and keeps it through every retry,
so a retry after a lost answer cannot post the message twice (the homeserver
deduplicates by transaction id).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chatbot.adapters.matrix.http import MatrixApi, MatrixError, TransportError

log = logging.getLogger(__name__)

MAX_RATE_LIMIT_WAIT = 60.0  # seconds; a longer retry_after is waited in several steps
MAX_BACKOFF = 30.0
SERVER_ERROR_ATTEMPTS = 5


Prepare = Callable[[], Awaitable[Mapping[str, Any] | None]]


@dataclass
class Outgoing:
    event_type: str
    content: Mapping[str, Any] | Prepare
    future: asyncio.Future[str | None]
    txn_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class RoomSender:
    """Sends the queued messages of one room; ``submit`` returns a future that resolves
    to the new event's id, or None when the message was given up (e.g. M_FORBIDDEN)."""

    def __init__(
        self,
        api: MatrixApi,
        room_id: str,
        *,
        may_send: Callable[[str], Awaitable[bool]] | None = None,
        max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT,
    ) -> None:
        self.api = api
        self.room_id = room_id
        self.may_send = may_send  # asked before each message: False drops it
        self.max_rate_limit_wait = max_rate_limit_wait
        self._queue: asyncio.Queue[Outgoing] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.rate_limited = 0  # how many 429 answers this room got (for tests and logs)

    def submit(
        self, event_type: str, content: Mapping[str, Any] | Prepare, txn_id: str | None = None
    ) -> asyncio.Future[str | None]:
        """Queue a message (synchronously, so the order of calls is the sending order).
        ``content``: the event content, or an async function that gives it when its turn
        comes (None: nothing to send), for content that needs a lookup first.
        ``txn_id``: a stable idempotency key (e.g. the outbox id); default: a new one."""
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        item = Outgoing(event_type, content, future)
        if txn_id:
            item.txn_id = txn_id
        self._queue.put_nowait(item)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._work(), name=f"matrix-send-{self.room_id}")
        return future

    @property
    def idle(self) -> bool:
        return self._queue.empty() and (self._task is None or self._task.done())

    async def close(self) -> None:
        """Stop sending; what is still queued is cancelled (its events stay unhandled and
        come again after a restart)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        while not self._queue.empty():
            self._queue.get_nowait().future.cancel()

    async def _work(self) -> None:
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item.future.done():
                continue
            try:
                allowed = self.may_send is None or await self.may_send(self.room_id)
                if allowed and callable(item.content):
                    prepared = await item.content()
                    allowed = prepared is not None
                    if prepared is not None:
                        item.content = prepared
                event_id = await self._send(item) if allowed else None
            except asyncio.CancelledError:
                item.future.cancel()
                raise
            except Exception:
                log.exception("sending to %s failed", self.room_id)
                event_id = None
            if not item.future.done():
                item.future.set_result(event_id)

    async def _send(self, item: Outgoing) -> str | None:
        failures = 0
        while True:
            try:
                assert not callable(item.content)
                return await self.api.send_event(
                    self.room_id, item.event_type, item.content, item.txn_id
                )
            except MatrixError as error:
                if error.rate_limited:
                    self.rate_limited += 1
                    wait = min((error.retry_after_ms or 1000) / 1000, self.max_rate_limit_wait)
                    log.info("rate limited in %s: retrying in %.1f s", self.room_id, wait)
                    await asyncio.sleep(wait)
                    continue
                failures += 1
                if error.unknown_token or (
                    error.status >= 500 and failures < SERVER_ERROR_ATTEMPTS
                ):
                    # a new login (by the sync loop) or a recovering server: wait and retry
                    await asyncio.sleep(backoff(failures))
                    continue
                log.warning(
                    "could not send to %s: %s %s", self.room_id, error.status, error.errcode
                )
                return None
            except TransportError as error:
                failures += 1
                wait = backoff(failures)
                log.warning("sending to %s: %s; retrying in %.0f s", self.room_id, error, wait)
                await asyncio.sleep(wait)


def backoff(failures: int, cap: float = MAX_BACKOFF) -> float:
    """1, 2, 4, 8 ... seconds, at most ``cap``."""
    return float(min(cap, 2 ** max(0, failures - 1)))
