"""Long polling: getUpdates, receiving exactly once.

1. getUpdates with long polling and `allowed_updates` listing chat_member,
   my_chat_member, poll_answer, callback_query, message and edited_message. Pending
   updates are never dropped (no drop_pending_updates; deleteWebhook without it).
2. The batch is handled: updates of one chat in order, different chats concurrently.
   Each update reaches the core through the runtime (`chatbot.runtime`): its effects,
   its replies and the mark `update:<id>` commit in one transaction, so an update is
   applied exactly once even across a crash; its replies wait in their chat's queue
   (`handlers.py`).
3. When every update of the batch is handled (not sent: a chat over Telegram's flood
   limits holds up only its own queue), the next getUpdates (offset = the batch's
   highest update_id + 1) confirms the batch to Telegram. At stop, one more getUpdates
   confirms the last batch.

A new run starts getUpdates *without* an offset: Telegram then sends what is not
confirmed yet, i.e. what came while the bot was down (kept for 24 hours), plus, after a
crash, the last batch again, which step 2 skips. No position is stored to ask from:
after a week without updates Telegram picks the next update_id at random, possibly
below an old one, and asking with an old offset would confirm (drop) those updates
unseen.

`run(stop)` ends the long poll when `stop` is set, finishes the batch in flight,
confirms it to Telegram, and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from telegram import Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError

from chatbot.adapters.telegram.handlers import ALLOWED_UPDATES
from chatbot.adapters.telegram.ratelimit import retry_seconds
from chatbot.adapters.telegram.state import PLATFORM
from chatbot.runtime import RECONNECT, sleep_or_stop

if TYPE_CHECKING:
    from chatbot.adapters.telegram.adapter import TelegramAdapter

log = logging.getLogger(__name__)


class Polling:
    """The getUpdates loop of one run (see the module docstring)."""

    def __init__(self, adapter: TelegramAdapter) -> None:
        self.adapter = adapter
        self._position: int | None = None  # the newest update_id handled in this run

    async def run(self, stop: asyncio.Event) -> None:
        bot = self.adapter.app.bot
        await self._no_webhook()
        failures = 0
        while not stop.is_set():
            offset = None if self._position is None else self._position + 1
            fetch = asyncio.create_task(
                bot.get_updates(
                    offset=offset,
                    timeout=self.adapter.poll_timeout,
                    allowed_updates=ALLOWED_UPDATES,
                )
            )
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not fetch.done():
                fetch.cancel()  # unconfirmed updates in it come again next time
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await fetch
                break
            try:
                updates = fetch.result()
            except (InvalidToken, asyncio.CancelledError):
                raise
            except TelegramError as error:
                failures += 1
                await self._pause_after(error, failures, stop)
                continue
            failures = 0
            await self.adapter.runtime.alive(PLATFORM)
            if updates:
                await self.handle_batch(updates)
        await self._confirm()

    async def _pause_after(self, error: TelegramError, failures: int, stop: asyncio.Event) -> None:
        if isinstance(error, RetryAfter):
            delay = retry_seconds(error)
        elif isinstance(error, Conflict):
            # right after a restart this is our own previous long poll, which the server
            # only now sees; if it goes on, another instance is polling with our token
            if failures > 2:
                log.warning("getUpdates: %s (is another instance running?)", error)
            delay = 0.5 if failures <= 2 else 5.0
        else:
            delay = RECONNECT.delay(failures)
            log.warning("getUpdates failed (%s); retrying in %.1f s", error, delay)
        await sleep_or_stop(delay, stop)

    async def _no_webhook(self) -> None:
        """getUpdates does not work while a webhook is set; remove it, keeping what is
        pending."""
        bot = self.adapter.app.bot
        try:
            info = await bot.get_webhook_info()
            if info.url:
                await bot.delete_webhook(drop_pending_updates=False)
        except TelegramError as error:
            log.warning("could not check for a webhook: %s", error)

    async def _confirm(self) -> None:
        """Tell Telegram the handled updates are done (getUpdates with the next offset)."""
        if self._position is None:
            return
        try:
            await self.adapter.app.bot.get_updates(
                offset=self._position + 1, timeout=0, allowed_updates=ALLOWED_UPDATES
            )
        except TelegramError as error:
            log.info("could not confirm the last updates (they are skipped next time): %s", error)

    async def handle_batch(self, updates: Sequence[Update]) -> None:
        adapter = self.adapter
        await asyncio.gather(*(adapter.handlers.handle_update(u) for u in updates))
        await adapter.runtime.deliver(adapter.core.late_notes())  # one note per chat, if any
        newest = max(u.update_id for u in updates)
        self._position = newest  # the next getUpdates confirms the batch
