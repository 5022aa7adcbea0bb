"""The flood limiter shares Telegram's overall budget fairly between chats."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from chatbot.adapters.telegram.ratelimit import FloodLimiter

BUSY = [1001 + n for n in range(30)]  # private chats: no group window in the way
CALM = 2001


class Recorder:
    """Sends through the limiter and notes the order in which they got through."""

    def __init__(self, limiter: FloodLimiter) -> None:
        self.limiter = limiter
        self.order: list[int] = []
        self.changed = asyncio.Event()

    async def send(self, chat_id: int) -> None:
        async def callback() -> bool:
            self.order.append(chat_id)
            self.changed.set()
            return True

        data: dict[str, Any] = {"chat_id": chat_id}
        await self.limiter.process_request(callback, (), {}, "sendMessage", data, None)

    async def until(self, done: Callable[[], bool]) -> None:
        while not done():
            self.changed.clear()
            await self.changed.wait()

    async def flood(self, chat_id: int, stop: asyncio.Event) -> None:
        """One send after the other, as a chat's queue does."""
        while not stop.is_set():
            await self.send(chat_id)


def limiter() -> FloodLimiter:
    # one overall slot every 5 ms; each chat's own window never in the way
    return FloodLimiter(per_chat=(1000, 1.0), per_group=(1000, 1.0), overall=(1, 0.005))


async def test_a_quiet_chat_gets_the_next_free_slot() -> None:
    recorder = Recorder(limiter())
    stop = asyncio.Event()
    floods = [asyncio.create_task(recorder.flood(chat, stop)) for chat in BUSY]
    try:
        await recorder.send(CALM)  # known now (a chat not seen lately queues as new)
        for _ in range(5):
            # quiet: every busy chat had a turn since this chat's last one
            since = len(recorder.order)
            await recorder.until(lambda: set(BUSY) <= set(recorder.order[since:]))  # noqa: B023
            before = len(recorder.order)
            await recorder.send(CALM)
            served_at = recorder.order.index(CALM, before)
            # at most the slot already handed out went to a busy chat first
            assert served_at - before <= 1, recorder.order[before : served_at + 1]
    finally:
        stop.set()
        await asyncio.gather(*floods)


async def test_a_fan_out_to_new_chats_does_not_hold_up_a_known_chat() -> None:
    recorder = Recorder(limiter())
    await recorder.send(CALM)
    stop = asyncio.Event()

    async def fan_out() -> None:  # one message to each of many chats, one after the other
        for chat_id in itertools.count(3001):
            if stop.is_set():
                return
            await recorder.send(chat_id)

    outbox = [asyncio.create_task(fan_out()) for _ in range(3)]
    try:
        await recorder.until(lambda: len(recorder.order) > 20)
        before = len(recorder.order)
        await asyncio.wait_for(recorder.send(CALM), 2.0)  # not starved
        assert recorder.order.index(CALM, before) - before <= 1
    finally:
        stop.set()
        await asyncio.gather(*outbox)


async def test_busy_chats_take_turns() -> None:
    recorder = Recorder(limiter())
    stop = asyncio.Event()
    floods = [asyncio.create_task(recorder.flood(chat, stop)) for chat in BUSY]
    try:
        await recorder.until(lambda: len(recorder.order) >= 10 * len(BUSY))
    finally:
        stop.set()
        await asyncio.gather(*floods)
    window = recorder.order[len(BUSY) : 10 * len(BUSY)]
    counts = [window.count(chat) for chat in BUSY]
    assert max(counts) - min(counts) <= 1, counts


async def test_the_chats_own_limits_still_hold() -> None:
    limits = FloodLimiter(per_chat=(2, 0.2), per_group=(3, 0.6), overall=(100, 0.01))
    recorder = Recorder(limits)
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def timed(chat_id: int) -> None:
        await recorder.send(chat_id)
        times.append(loop.time())

    start = loop.time()
    await asyncio.gather(*(timed(-1005) for _ in range(4)))
    times.sort()
    assert times[2] - start >= 0.19  # two per 0.2 s in the chat
    assert times[3] - start >= 0.59  # three per 0.6 s in the group
