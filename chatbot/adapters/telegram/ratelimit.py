"""Telegram's flood limits, as a python-telegram-bot rate limiter.

Telegram documents (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this):
about one message per second in a chat (short bursts tolerated), at most 20 messages per
minute in a group, about 30 messages per second overall; beyond that a request gets
429 "Too Many Requests" with `retry_after`.

`FloodLimiter` is passed to `ApplicationBuilder.rate_limiter`, so every Bot API request
goes through it:

* proactively, only *sends* (messages, polls, venues, edits) are throttled, with sliding
  windows per chat (3 within 3 s: one per second with a burst of three), per group
  (20 within 61 s) and overall (30 within 1.04 s); the margins because Telegram counts
  arrivals and a request's time on the wire varies. Reads such as getChatMember are not
  (PTB's AIORateLimiter counts every request that names a chat against its group's
  20/min, so an admin check would use up a group's messages);
* the overall budget is shared fairly: a send that its own chat's windows allow waits
  for an overall slot in a queue ordered by when its chat last got one, so a chat that
  sends rarely gets the next free slot, and busy chats take turns (round robin), instead
  of a quiet group's answer waiting behind a hundred groups' floods. A chat not seen
  lately queues as if it had just been served (else a fan-out, one message to each of
  many new chats, would go before everyone else's replies). While sends queue,
  the slots are handed out evenly spaced (one per 1.04 s / 30), so the next free slot
  is never far off; with no queue a burst goes out at once;
* reactively, a 429 on any request waits `retry_after` (+0.1 s) and retries, up to
  `max_retries` times; while it waits, other sends to that chat wait too (in-chat order
  is kept by the adapter anyway). Other chats go on.

`enabled=False` keeps the reactive part only (used by the benchmark, which compares
the adapter's own cost with a bare bot on a server without limits).
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import heapq
import itertools
import logging
import time
import warnings
from collections import OrderedDict, defaultdict, deque
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
Rules = list[tuple[tuple[str, object], Window]]


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

    def peek(self, rules: Rules, now: float | None = None) -> float:
        """How long until these rules allow a request (0: now); records nothing."""
        now = self.clock() if now is None else now
        wait = 0.0
        for key, (limit, period) in rules:
            stamps = self._stamps[key]
            while stamps and stamps[0] <= now - period:
                stamps.popleft()
            if len(stamps) >= limit:
                wait = max(wait, stamps[-limit] + period - now)
        return wait

    def wait_time(self, rules: Rules, now: float | None = None) -> float:
        """0 and record the request, or how long to wait before asking again."""
        now = self.clock() if now is None else now
        wait = self.peek(rules, now)
        if wait > 0:
            return wait
        for key, _ in rules:
            self._stamps[key].append(now)
        return 0.0

    def restamp(self, rules: Rules, stamp: float) -> None:
        """A request recorded at `stamp` goes out only now: count it from now (Telegram
        counts it when it arrives)."""
        now = self.clock()
        for key, _ in rules:
            stamps = self._stamps[key]
            if stamp in stamps:
                stamps.remove(stamp)
                stamps.append(now)  # every stamp is <= now: still in order

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
        # a request's time on the wire varies, and Telegram counts arrivals, so a window
        # of exactly 1 s (60 s) can count 31 (21) there: 30 per 1.04 s, 20 per 61 s
        per_group: Window = (20, 61.0),
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
        # the overall budget's queue: (its chat's last turn, arrival, grant, rules, chat)
        self._waiting: list[tuple[int, int, asyncio.Future[float | None], Rules, object]] = []
        self._arrivals = itertools.count()
        self._turns = 0
        self._last_turn: OrderedDict[object, int] = OrderedDict()  # chat -> its last turn
        self._dispatcher: asyncio.Task[None] | None = None
        self._next_slot = 0.0  # while sends queue: when the next overall slot is due

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def _rules(self, chat_id: object) -> Rules:
        rules: Rules = [(("all", None), self.overall)]
        if chat_id is not None:
            rules.append((("chat", chat_id), self.per_chat))
            if isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0):
                rules.append((("group", chat_id), self.per_group))
        return rules

    async def _throttle(self, chat_id: object) -> None:
        rules = self._rules(chat_id)
        own = rules[1:]
        while True:
            # the chat's own windows fill with its own sends only, and free up by time
            # alone, so sleeping is the right wait for them
            if (wait := self.windows.peek(own)) > 0:
                await asyncio.sleep(wait)
                continue
            if not self._waiting and self.windows.wait_time(rules) == 0:
                self._took_turn(chat_id)
                break
            stamp = await self._wait_for_turn(chat_id, rules)
            if stamp is not None:
                # the event loop may have been busy since the slot was handed out
                self.windows.restamp(rules, stamp)
                break
            # another send to this chat took its window meanwhile: wait for that again
        self._requests += 1
        if self._requests % 1000 == 0:
            self.windows.forget_idle()

    def _took_turn(self, chat_id: object) -> None:
        self._turns += 1
        self._last_turn[chat_id] = self._turns
        self._last_turn.move_to_end(chat_id)
        if len(self._last_turn) > 10_000:  # the longest idle counts as new again
            self._last_turn.popitem(last=False)

    async def _wait_for_turn(self, chat_id: object, rules: Rules) -> float | None:
        """Queue for an overall slot, behind chats served less recently than this one;
        when the slot was taken (every window recorded then), or None when the chat's
        own windows were full by then."""
        granted: asyncio.Future[float | None] = asyncio.get_running_loop().create_future()
        # a chat not seen lately counts as served just now: many new chats at once (a
        # fan-out, one message to each) queue behind the chats that waited longer
        last = self._last_turn.get(chat_id, self._turns)
        entry = (last, next(self._arrivals), granted, rules, chat_id)
        heapq.heappush(self._waiting, entry)
        if self._dispatcher is None:
            self._dispatcher = asyncio.create_task(self._dispatch(), name="flood-limiter")
        return await granted  # cancelled: the dispatcher skips it

    async def _dispatch(self) -> None:
        """Hand out the overall slots as they free up, to the head of the queue."""
        overall = self._rules(None)
        limit, period = self.overall
        spacing = period / limit
        try:
            while self._waiting:
                # evenly spaced, not 30 at once whenever the window frees up: a chat that
                # comes between two bursts would wait for the next one (up to a second),
                # and a burst reaches Telegram spread out, straddling its window
                now = self.windows.clock()
                if (wait := max(self._next_slot - now, self.windows.peek(overall))) > 0:
                    await asyncio.sleep(wait)
                    continue
                _, _, granted, rules, chat_id = heapq.heappop(self._waiting)
                if granted.done():
                    continue
                stamp = self.windows.clock()
                if self.windows.wait_time(rules, stamp) == 0:
                    self._took_turn(chat_id)
                    # on a schedule: a sleep's overshoot is caught up, not added up
                    self._next_slot = max(self._next_slot, now - spacing) + spacing
                    granted.set_result(stamp)
                else:
                    granted.set_result(None)
        finally:
            self._dispatcher = None

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
