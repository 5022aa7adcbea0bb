"""The sender that drains the outbox: pings and reminders, delivered once.

Messages are written to the outbox in the transaction that causes them. A sender per
platform claims each due message (state `sending`), hands it to the adapter, and marks
it `sent`. A sender killed between the platform's answer and that mark leaves the
message `sending`; after `STALE_CLAIM` it is sent again by the next sender. Matrix
deduplicates that retry (the transaction id is the outbox id); on Telegram, which has
no idempotency key, such a crash at that exact moment can repeat one message.

Fan-out is paced below the platform's limits (Telegram: about 30 messages per second
overall) so that replies to commands keep their share; a 429 that still comes is
honoured exactly (`RetryAfter`), and the message is tried again after that time.
"""

from __future__ import annotations

import asyncio
import logging
import time as _time
from datetime import datetime, timedelta

from chatbot.adapters.base import Performer, RetryAfter, Unreachable
from chatbot.core.actions import Button, DirectMessage, SendText
from chatbot.core.bot import Bot
from chatbot.core.handlers import pings
from chatbot.core.model import OutboxMessage
from chatbot.runtime import OUTBOX_RETRY, sleep_or_stop

log = logging.getLogger(__name__)

STALE_CLAIM = timedelta(seconds=60)
BATCH = 100
MAX_ATTEMPTS = 5
# messages per second the sender uses of a platform's budget; replies get the rest
PACE = {"telegram": 29.0, "matrix": 10.0}


class OutboxSender:
    def __init__(self, bot: Bot, adapter: Performer, *, rate: float | None = None) -> None:
        self.bot = bot
        self.repo = bot.repo
        self.adapter = adapter
        self.platform = adapter.platform
        # the adapter's own pace (a setting, e.g. CHATBOT_MATRIX_PACE), else the table's
        pace = getattr(adapter, "pace", None)
        if rate is None:
            rate = pace if isinstance(pace, int | float) else PACE.get(adapter.platform)
        self.rate = rate
        self.wake = asyncio.Event()
        self._next_slot = 0.0

    def now(self) -> datetime:
        return self.bot.clock.now()

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until `stop`; a message that is being sent when stop comes is finished."""
        while not stop.is_set():
            try:
                sent = await self.drain(stop)
            except Exception:
                log.exception("outbox drain failed on %s", self.platform)
                sent = 0
            if sent:
                continue
            self.wake.clear()
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())}
            _, pending = await asyncio.wait(waiters, timeout=1.0, return_when="FIRST_COMPLETED")
            for task in pending:
                task.cancel()

    async def drain(self, stop: asyncio.Event | None = None) -> int:
        """Send what is due now; returns how many messages were handled."""
        handled = 0
        while stop is None or not stop.is_set():
            now = self.now()
            due = await self.repo.outbox.due_messages(
                self.platform, now, BATCH, stale_claim=now - STALE_CLAIM
            )
            if not due:
                break
            for message in due:
                if stop is not None and stop.is_set():
                    break
                if not await self._deliver(message, stop):
                    break  # the platform made us wait: start again at the oldest due
                handled += 1
        return handled

    async def _deliver(self, message: OutboxMessage, stop: asyncio.Event | None) -> bool:
        """Deliver one message; False when the platform asked to wait ("retry after"):
        the message keeps its place in line (a person's messages stay in order), the
        sender waits, and the batch is read again."""
        now = self.now()
        if message.expires_at is not None and message.expires_at <= now:
            async with self.repo.atomic():
                await self.repo.outbox.finish_message(message.id, "dropped", now)
            return True
        async with self.repo.atomic():
            if not await self.repo.outbox.claim_message(message.id, now):
                return True
        await self._pace()
        buttons = tuple(Button(*b) for b in message.buttons)
        action = (
            SendText(message.chat, message.text, buttons)
            if message.chat is not None
            else DirectMessage(message.person, message.text, buttons, key=f"outbox-{message.id}")
        )
        try:
            await self.adapter.perform(action)
        except RetryAfter as wait:
            async with self.repo.atomic():
                await self.repo.outbox.retry_message(message.id, message.due_at)
            await sleep_or_stop(min(wait.seconds, 60.0), stop)
            return False
        except Unreachable:
            async with self.repo.atomic():
                await self.repo.outbox.finish_message(message.id, "dropped", self.now())
                await self.repo.people.set_reachable(message.person, False)
            await self._tell_groups(message)
            return True
        except Exception as error:  # the network, a 5xx: the adapter could not deliver it
            log.warning("sending outbox message %s failed: %r", message.id, error)
            async with self.repo.atomic():
                if message.attempts + 1 >= MAX_ATTEMPTS:
                    await self.repo.outbox.finish_message(message.id, "failed", self.now())
                else:
                    backoff = OUTBOX_RETRY.delay(message.attempts + 1)
                    await self.repo.outbox.retry_message(
                        message.id, self.now() + timedelta(seconds=backoff)
                    )
            return True
        async with self.repo.atomic():
            await self.repo.outbox.finish_message(message.id, "sent", self.now())
        return True

    async def _pace(self) -> None:
        if not self.rate:
            return
        slot = max(self._next_slot, _time.monotonic())
        self._next_slot = slot + 1.0 / self.rate
        delay = slot - _time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _tell_groups(self, message: OutboxMessage) -> None:
        """Once per group: this person can't get pings until they start a chat with me
        (the core decides what is said, and where)."""
        link_for = getattr(self.adapter, "private_chat_link", None)

        def link(start: str) -> str | None:
            return link_for(start) if callable(link_for) else None

        await pings.tell_unreachable(self.repo, self.now(), message.person, link)
        self.wake.set()  # those notices are in the outbox now
