"""The runtime every platform adapter shares: the inbound ledger, the action router, and
a queue per chat.

One rule for every platform (see ARCHITECTURE.md, "Delivery"):

1. An update is handled inside one unit of work (`repo.unit()`): the core's effects, the
   mark "handled" (`handled_events`, by the platform's update key) and the actions it
   decided (`pending_actions`) commit together, or not at all. A crash before that
   commit leaves no trace, and the platform brings the update again (Telegram keeps it
   unconfirmed, Matrix's sync token is saved only after); a crash after it finds the
   update marked and skips it. So every update is applied exactly once.
2. Only then is the update confirmed to its platform (getUpdates offset, sync token):
   adapters confirm once `handle` returned, never after sending, so a slow chat never
   holds up the next fetch.
3. Each action goes to the platform of its chat (the router), whichever platform's
   update caused it, into that chat's queue: one worker per chat sends in order; other
   chats, and other platforms, never wait for it. Sent actions' rows are deleted in
   batches (`FINISH_EVERY`); at the next start the rows left are sent (at least once:
   at a crash, the action in flight and those sent in the last `FINISH_EVERY` can
   repeat; Matrix deduplicates them by their transaction id, which is the row id).
4. Failures: the platform's "retry after" is waited as asked; other failures back off
   (`RetryPolicy`); an action is given up an hour after it was decided, and at once
   when the platform says it never will deliver (`Unreachable`). A platform that is
   down delays only its own queues.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from chatbot.adapters.base import Performer, RetryAfter, Unreachable, platform_of
from chatbot.core.actions import Action, DirectMessage
from chatbot.core.clock import Clock
from chatbot.core.events import Event
from chatbot.core.ports import AdminCheck, Ledger
from chatbot.runtime import codec
from chatbot.runtime.retry import RetryPolicy, sleep_or_stop
from chatbot.storage.ledger import PendingRow

log = logging.getLogger(__name__)

CONTACT = "contact"  # platform_state key: when the platform last answered (chatbot health)
CONTACT_EVERY = timedelta(seconds=20)
# sent actions' rows are deleted together, this long after the first of them was sent
# (one write for many sends; a crash in that window sends those again: at least once)
FINISH_EVERY = 0.05

Work = Callable[[], Awaitable[list[Action]]]


class PendingLedger(Ledger, Protocol):
    """The ledger with the actions decided and not delivered yet (`pending_actions`)."""

    async def commit_actions(
        self,
        items: Iterable[tuple[str, str, str]],
        at: datetime,
        *,
        handled: tuple[str, str] | None = None,
    ) -> list[int]: ...
    async def pending_of(self, platform: str) -> list[PendingRow]: ...
    async def highest_handled(self, platform: str, prefix: str) -> int: ...
    async def finish_pending(self, pending_ids: Sequence[int]) -> None: ...


class RuntimeStore(Protocol):
    def unit(self) -> Any: ...
    def atomic(self) -> Any: ...
    @property
    def ledger(self) -> PendingLedger: ...


class Core(Protocol):
    clock: Clock

    async def handle(self, event: Event, is_admin: AdminCheck) -> list[Action]: ...


@dataclass
class Pending:
    id: int
    action: Action
    created_at: datetime


def lane_of(action: Action) -> str:
    """The queue an action waits in: its chat's, or (a direct message) its person's."""
    if isinstance(action, DirectMessage):
        return "person:" + action.person.id
    return "chat:" + action.chat.id


class Runtime:
    def __init__(
        self, core: Core, repo: RuntimeStore, *, policy: RetryPolicy | None = None
    ) -> None:
        self.core = core
        self.repo = repo
        self.policy = policy or RetryPolicy()
        self.performers: dict[str, Performer] = {}
        self._queues: dict[tuple[str, str], deque[Pending]] = {}
        self._workers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._queued: set[int] = set()
        self._inflight: set[tuple[str, str]] = set()
        self._stop = asyncio.Event()
        self._contact: dict[str, datetime] = {}
        self._finished: list[int] = []
        self._finishing: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        return self.core.clock.now()

    # --- the router -------------------------------------------------------------------

    def register(self, performer: Performer) -> None:
        """The adapter that carries out actions for chats of its platform."""
        self.performers[performer.platform] = performer

    async def resume(self, platform: str) -> int:
        """Queue what an earlier run decided for this platform and did not send."""
        in_hand = self._queued | set(self._finished)  # queued, or sent and not yet deleted
        rows = [row for row in await self.repo.ledger.pending_of(platform) if row.id not in in_hand]
        for row in rows:
            try:
                action = codec.decode(row.payload)
            except Exception:
                log.exception("pending action %s cannot be read; dropped", row.id)
                await self.repo.ledger.finish_pending([row.id])
                continue
            self._enqueue(platform, Pending(row.id, action, row.created_at))
        if rows:
            log.info("%s: %d action(s) of the last run queued again", platform, len(rows))
        return len(rows)

    # --- the ledger -------------------------------------------------------------------

    async def handle(
        self, platform: str, key: str, event: Event, is_admin: AdminCheck, *, fresh: bool = False
    ) -> bool:
        """Hand one update to the core, exactly once (see the module docstring); False when
        it was handled before. Returns once its actions are recorded, not sent. `fresh`:
        the adapter knows the update cannot have been handled before (Telegram: its id is
        above every one handled), so the ledger is not read."""
        return await self.handle_with(
            platform, key, lambda: self.core.handle(event, is_admin), fresh=fresh
        )

    async def handle_with(
        self, platform: str, key: str, work: Work, *, fresh: bool = False
    ) -> bool:
        """As `handle`, for an adapter that reaches the core through its own dispatch
        (`work` returns the actions to send)."""
        ident = (platform, key)
        # read first (not: write the mark first and roll back a replay): a replay must
        # not reach the core at all, whose memory (e.g. which days' series are
        # materialized) a rollback would not undo
        if ident in self._inflight or (
            not fresh and await self.repo.ledger.is_handled(platform, key)
        ):
            log.info("%s update %s was handled before; skipped", platform, key)
            return False
        self._inflight.add(ident)
        try:
            async with self.repo.unit():
                actions = await work()
                pending = await self._record(actions, handled=ident)
        finally:
            self._inflight.discard(ident)
        for item in pending:
            self._enqueue(platform_of(item.action), item)
        return True

    async def deliver(self, actions: list[Action]) -> None:
        """Record and queue actions that no update caused (the scheduler's)."""
        if not actions:
            return
        async with self.repo.unit():
            pending = await self._record(actions)
        for item in pending:
            self._enqueue(platform_of(item.action), item)

    async def _record(
        self, actions: list[Action], *, handled: tuple[str, str] | None = None
    ) -> list[Pending]:
        """End the unit of work: its actions recorded (those for a platform served
        here), the update marked, committed, in one trip to the database."""
        routed = []
        for action in actions:
            platform = platform_of(action)
            if platform not in self.performers:
                log.warning("no adapter for %s here; %s dropped", platform, type(action).__name__)
                continue
            routed.append(action)
        now = self.now()
        ids = await self.repo.ledger.commit_actions(
            ((platform_of(a), lane_of(a), codec.encode(a)) for a in routed), now, handled=handled
        )
        return [Pending(i, a, now) for i, a in zip(ids, routed, strict=True)]

    # --- the queues -------------------------------------------------------------------

    def _enqueue(self, platform: str, item: Pending) -> None:
        lane = (platform, lane_of(item.action))
        self._queued.add(item.id)
        self._queues.setdefault(lane, deque()).append(item)
        if lane not in self._workers and not self._stop.is_set():
            self._workers[lane] = asyncio.create_task(self._work(lane), name=f"send-{lane}")

    async def _work(self, lane: tuple[str, str]) -> None:
        queue = self._queues[lane]
        try:
            while queue and not self._stop.is_set():
                item = queue[0]
                if not await self._send(lane[0], item):
                    return  # stopped: the row stays for the next start
                queue.popleft()
                self._queued.discard(item.id)
                self._finish(item.id)
        except Exception:
            log.exception("the queue %s failed", lane)
        finally:
            del self._workers[lane]
            if not queue:
                self._queues.pop(lane, None)
            elif not self._stop.is_set():  # e.g. the database was briefly locked
                self._workers[lane] = asyncio.create_task(self._work(lane))

    def _finish(self, pending_id: int) -> None:
        self._finished.append(pending_id)
        if self._finishing is None or self._finishing.done():
            self._finishing = asyncio.create_task(self._delete_finished(FINISH_EVERY))

    async def _delete_finished(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        while self._finished:
            done, self._finished = self._finished, []
            try:
                await self.repo.ledger.finish_pending(done)
            except Exception:  # e.g. the database is briefly locked: the next round
                log.exception("could not delete %d sent action(s)", len(done))
                self._finished[:0] = done
                return

    async def _send(self, platform: str, item: Pending) -> bool:
        """Deliver one action, retrying by the policy; True when done with it (sent or
        given up), False when stopped first."""
        performer = self.performers[platform]
        failures = 0
        while True:
            try:
                await performer.perform(item.action, key=f"a{item.id}")
                return True
            except Unreachable as error:
                log.info("%s not delivered: %s", type(item.action).__name__, error)
                return True
            except RetryAfter as error:
                wait = min(error.seconds, self.policy.cap)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                wait = self.policy.delay(failures)
                log.warning(
                    "%s to %s failed (%s); retrying in %.0f s",
                    type(item.action).__name__,
                    platform,
                    error,
                    wait,
                )
            if self.now() - item.created_at > self.policy.give_up_after:
                log.error("%s to %s given up after an hour", type(item.action).__name__, platform)
                return True
            if await sleep_or_stop(wait, self._stop):
                return False

    async def alive(self, platform: str) -> None:
        """The platform answered a fetch (getUpdates, /sync): noted for `chatbot health`,
        at most every 20 seconds."""
        now = self.now()
        last = self._contact.get(platform)
        if last is not None and now - last < CONTACT_EVERY:
            return
        self._contact[platform] = now
        async with self.repo.atomic():
            await self.repo.ledger.set_platform_value(platform, CONTACT, now.isoformat())

    # --- tests and shutdown -----------------------------------------------------------

    async def drain(self, platform: str | None = None) -> None:
        """Wait until every queue (of this platform) is empty, and delete the rows of what
        was sent."""
        await self.delivered(platform)
        await self._flush()

    async def _flush(self) -> None:
        """Delete the rows of what was sent, now."""
        if self._finishing is not None and not self._finishing.done():
            await asyncio.gather(self._finishing, return_exceptions=True)  # 50 ms at most
        await self._delete_finished(0)

    async def close(self, grace: float = 5.0) -> None:
        """Stop sending: what is in hand gets `grace` seconds, the rest stays recorded
        for the next start."""
        self._stop.set()
        workers = list(self._workers.values())
        if workers:
            _, late = await asyncio.wait(workers, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        await self._flush()

    async def delivered(self, platform: str | None = None) -> None:
        """Wait until every queue (of this platform) is empty: what was queued so far is
        sent or given up (the console shows a line's replies before it reads the next
        line). Unlike `drain` it deletes no rows now, and a cancelled wait leaves the
        queues be."""
        while workers := [t for lane, t in self._workers.items() if platform in (None, lane[0])]:
            await asyncio.wait(workers)
