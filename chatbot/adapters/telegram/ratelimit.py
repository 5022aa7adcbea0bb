"""Telegram's flood limits, as a python-telegram-bot rate limiter.

Telegram documents (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this):
about one message per second in a chat (short bursts tolerated), at most 20 messages per
minute in a group, about 30 messages per second overall; beyond that a request gets
429 "Too Many Requests" with `retry_after`.

`FloodLimiter` is passed to `ApplicationBuilder.rate_limiter`, so every Bot API request
goes through it:

* proactively, only *sends* (messages, polls, venues, edits) are throttled, with sliding
  windows per chat (3 within 3 s: one per second with a burst of three), per group
  (20 within 60 s) and overall (30 within 1 s). Reads such as getChatMember are not
  (PTB's AIORateLimiter counts every request that names a chat against its group's
  20/min, so an admin check would use up a group's messages);
* reactively, a 429 on any request waits `retry_after` (+0.1 s) and retries, up to
  `max_retries` times; while it waits, other sends to that chat wait too (in-chat order
  is kept by the adapter anyway). Other chats go on.

`enabled=False` keeps the reactive part only (used by the benchmark, which compares
the adapter's own cost with a bare bot on a server without limits).
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
import time
import warnings
from collections import defaultdict, deque
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger(__name__)

SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendPoll",
        "sendVenue",
        "sendLocation",
        "editMessageText",
        "editMessageReplyMarkup",
        "stopPoll",
    }
)

Window = tuple[int, float]  # at most N requests within T seconds


def retry_seconds(error: RetryAfter) -> float:
    """`retry_after` in seconds, whichever type this PTB version hands out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = error.retry_after
    if isinstance(value, dtm.timedelta):
        return value.total_seconds()
    return float(value)


class SlidingWindows:
    """Sliding-window counters for several rules at once (single event loop)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._stamps: dict[tuple[str, object], deque[float]] = defaultdict(deque)

    def wait_time(self, rules: list[tuple[tuple[str, object], Window]]) -> float:
        """0 and record the request, or how long to wait before asking again."""
        now = self.clock()
        wait = 0.0
        for key, (limit, period) in rules:
            stamps = self._stamps[key]
            while stamps and stamps[0] <= now - period:
                stamps.popleft()
            if len(stamps) >= limit:
                wait = max(wait, stamps[-limit] + period - now)
        if wait > 0:
            return wait
        for key, _ in rules:
            self._stamps[key].append(now)
        return 0.0

    def forget_idle(self) -> None:
        now = self.clock()
        for key in [k for k, s in self._stamps.items() if not s or s[-1] < now - 120]:
            del self._stamps[key]


class FloodLimiter(BaseRateLimiter[int]):
    def __init__(
        self,
        *,
        enabled: bool = True,
        per_chat: Window = (3, 3.0),
        per_group: Window = (20, 60.0),
        # 30 per second, measured over 1.04 s: a request's time on the wire varies, and
        # Telegram counts arrivals, so a window of exactly 1 s can count 31 there
        overall: Window = (30, 1.04),
        max_retries: int = 3,
    ) -> None:
        self.enabled = enabled
        self.per_chat = per_chat
        self.per_group = per_group
        self.overall = overall
        self.max_retries = max_retries
        self.windows = SlidingWindows()
        self._paused_until: dict[object, float] = {}
        self._requests = 0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def _rules(self, chat_id: object) -> list[tuple[tuple[str, object], Window]]:
        rules: list[tuple[tuple[str, object], Window]] = [(("all", None), self.overall)]
        if chat_id is not None:
            rules.append((("chat", chat_id), self.per_chat))
            if isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0):
                rules.append((("group", chat_id), self.per_group))
        return rules

    async def _throttle(self, chat_id: object) -> None:
        rules = self._rules(chat_id)
        # a window frees up by time alone, so sleeping is the right wait
        while (wait := self.windows.wait_time(rules)) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        self._requests += 1
        if self._requests % 1000 == 0:
            self.windows.forget_idle()

    async def _wait_if_paused(self, chat_id: object) -> None:
        until = self._paused_until.get(chat_id)
        if until is None:
            return
        delay = until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif self._paused_until.get(chat_id) == until:
            del self._paused_until[chat_id]

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        try:
            chat_id = int(chat_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            pass
        retries = self.max_retries if rate_limit_args is None else rate_limit_args
        attempt = 0
        while True:
            await self._wait_if_paused(chat_id)
            if self.enabled and endpoint in SEND_METHODS:
                await self._throttle(chat_id)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                if attempt >= retries:
                    raise
                attempt += 1
                delay = retry_seconds(error) + 0.1
                log.info("%s hit a flood limit; retrying in %.1f s", endpoint, delay)
                self._paused_until[chat_id] = max(
                    self._paused_until.get(chat_id, 0.0), time.monotonic() + delay
                )
