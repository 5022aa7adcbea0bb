"""The sync loop: one /sync after the other, each sync's rooms, and the saved token.

- The sync token (``next_batch``) is saved once every event of that sync is handled
  (recorded), never waiting for a slow (rate limited) room's messages to go out. An
  encrypted event still waiting for its room key holds its sync's token (and every
  later one) back (``timeline.py``).
- At the first start (no token) one sync with a tiny timeline fetches the rooms' state
  and pending invites; history is never acted on. After every start the first sync
  asks for the full state (room members, encryption, creators are kept in memory).
- A ``limited`` timeline is back-filled with /messages from its ``prev_batch`` back to
  the previous sync token, so a burst larger than the timeline limit loses nothing.
- Events before the bot's own join in a room are never acted on (positional: in the
  sync or back-fill that contains the join, everything before it is skipped; later
  syncs only contain later events).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chatbot.adapters.matrix.http import MatrixError, TransportError
from chatbot.adapters.matrix.mapping import PLATFORM
from chatbot.adapters.matrix.rooms import membership_change, section_events
from chatbot.runtime import RECONNECT, sleep_or_stop

if TYPE_CHECKING:
    from chatbot.adapters.matrix.adapter import MatrixAdapter

log = logging.getLogger(__name__)

BACKFILL_MAX_EVENTS = 1_000


class Sync:
    """The sync loop of one adapter, and which sync tokens may be saved."""

    def __init__(self, adapter: MatrixAdapter) -> None:
        self.adapter = adapter
        # encrypted events waiting for their room key, per sync: a sync's token (and every
        # later one) is saved only once its waiting events are handled or given up
        self.waiting: list[asyncio.Task[None]] = []
        self._batches: deque[tuple[str, list[asyncio.Task[None]]]] = deque()
        self._saved_token: str | None = None

    def _filter(self, initial: bool) -> dict[str, Any]:
        return {
            "presence": {"not_types": ["*"]},
            "account_data": {"types": ["m.direct"]},
            "room": {
                "timeline": {"limit": 1 if initial else self.adapter.timeline_limit},
                "state": {"lazy_load_members": False},
                "ephemeral": {"not_types": ["*"]},
                "account_data": {"not_types": ["*"]},
            },
        }

    async def loop(self, stop: asyncio.Event) -> None:
        since = await self.adapter.repo.ledger.platform_value(PLATFORM, "next_batch")
        self._saved_token = since
        initial = since is None
        full_state = True  # the first sync after a start: the rooms' full state
        failures = 0
        while not stop.is_set():
            try:
                data = await self._sync_unless_stopped(since, initial, full_state, stop)
                if data is None:
                    break  # stopped while waiting: nothing was received, nothing is lost
                next_batch = data.get("next_batch")
                if not isinstance(next_batch, str):
                    raise MatrixError(200, "M_BAD_JSON", "sync answer without next_batch")
                await self._handle_sync(data, since, initial)
            except MatrixError as error:
                if error.unknown_token:
                    if await self.adapter.login.relogin():
                        await self.adapter.start_crypto()  # the same device: its keys again
                        continue
                    return
                failures += 1
                wait = RECONNECT.delay(failures)
                if error.rate_limited and error.retry_after_ms:
                    wait = min(error.retry_after_ms / 1000, 60.0)
                log.warning(
                    "Matrix sync failed: %s %s; retrying in %.0f s",
                    error.status,
                    error.errcode,
                    wait,
                )
                if await sleep_or_stop(wait, stop):
                    break
                continue
            except TransportError as error:
                failures += 1
                wait = RECONNECT.delay(failures)
                log.warning("Matrix sync failed: %s; retrying in %.0f s", error, wait)
                if await sleep_or_stop(wait, stop):
                    break
                continue
            except Exception:
                # a bug or an answer of a shape never seen: keep serving, try again later
                failures += 1
                wait = RECONNECT.delay(failures)
                log.exception("Matrix sync could not be handled; retrying in %.0f s", wait)
                if await sleep_or_stop(wait, stop):
                    break
                continue
            failures = 0
            await self.adapter.runtime.alive(PLATFORM)
            since, initial, full_state = next_batch, False, False
            self.adapter._synced.set()
            await self.adapter.runtime.deliver(
                self.adapter.bot.late_notes()
            )  # one note per room, if any
            self._batches.append((next_batch, self.waiting))
            self.waiting = []
            await self.commit_ready()

    async def _sync_unless_stopped(
        self, since: str | None, initial: bool, full_state: bool, stop: asyncio.Event
    ) -> dict[str, Any] | None:
        timeout_ms = 0 if (initial or full_state) else self.adapter.sync_timeout_ms
        sync = asyncio.ensure_future(
            self.adapter.api.sync(
                since,
                sync_filter=self._filter(initial),
                timeout_ms=timeout_ms,
                full_state=full_state and not initial,
            )
        )
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({sync, stopper}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled: the long poll goes too, not left to fail alone
            sync.cancel()
            raise
        finally:
            stopper.cancel()
        if sync.done():
            return sync.result()  # a sync that arrived is handled, even when stopping
        sync.cancel()
        try:
            await sync
        except (asyncio.CancelledError, MatrixError, TransportError):
            pass
        return None

    async def commit_ready(self) -> None:
        """Save the newest sync token whose events (and all earlier ones) are handled
        (recorded, not necessarily sent): the next start syncs from there. Only an
        encrypted event still waiting for its key holds a token back."""
        token = None
        while self._batches and all(task.done() for task in self._batches[0][1]):
            token = self._batches.popleft()[0]
        if token is not None and token != self._saved_token:
            async with self.adapter.repo.atomic():
                await self.adapter.repo.ledger.set_platform_value(PLATFORM, "next_batch", token)
            self._saved_token = token

    # --- one sync ---------------------------------------------------------------------

    async def _handle_sync(self, data: Mapping[str, Any], since: str | None, initial: bool) -> None:
        for event in section_events(data.get("account_data")):
            if event.get("type") == "m.direct":
                self.adapter.direct_rooms.set_direct(event.get("content"))
        if self.adapter.crypto is not None:  # --- hook: to-device events (room keys), key counts
            await self.adapter.crypto.receive_sync(data)
        rooms = data.get("rooms") or {}
        for room_id, info in (rooms.get("join") or {}).items():
            try:
                await self._joined_room(room_id, info, since, initial)
            except (MatrixError, TransportError):
                raise  # e.g. the back-fill failed: the whole sync is tried again
            except Exception:
                log.exception("Matrix: handling room %s failed", room_id)
        for room_id, info in (rooms.get("invite") or {}).items():
            try:
                await self.adapter.membership.invited(room_id, info)
            except Exception:
                log.exception("Matrix: handling the invite to %s failed", room_id)
        for room_id, info in (rooms.get("leave") or {}).items():
            try:
                await self.adapter.membership.left_room(room_id, info)
            except Exception:
                log.exception("Matrix: handling leaving %s failed", room_id)

    def _is_own_join(self, event: Mapping[str, Any]) -> bool:
        if event.get("type") != "m.room.member" or event.get("state_key") != self.adapter.user_id:
            return False
        now, before = membership_change(event)
        return now == "join" and before != "join"

    async def _joined_room(
        self, room_id: str, info: Mapping[str, Any], since: str | None, initial: bool
    ) -> None:
        room = self.adapter.room(room_id)
        for event in section_events(info.get("state")):
            room.apply(event)
        timeline = info.get("timeline") or {}
        events = list(section_events(timeline))
        if initial:
            for event in events:
                room.apply(event)
            return
        backfilled: list[dict[str, Any]] = []
        prev_batch = timeline.get("prev_batch")
        if (
            timeline.get("limited")
            and since
            and isinstance(prev_batch, str)
            and not any(self._is_own_join(e) for e in events)
        ):
            backfilled = await self._backfill(room_id, prev_batch, since)
        combined = [(e, False) for e in backfilled] + [(e, True) for e in events]
        start = 0
        for index, (event, _) in enumerate(combined):
            if self._is_own_join(event):
                start = index  # everything before the bot's own join is history
        for index, (event, in_timeline) in enumerate(combined):
            if in_timeline:
                room.apply(event)  # back-filled state is in the sync's state already
            if index < start:
                continue
            try:
                await self.adapter.timeline.event(room, event)
            except (MatrixError, TransportError):
                raise
            except Exception:
                log.exception("Matrix: handling event %s failed", event.get("event_id"))

    async def _backfill(self, room_id: str, prev_batch: str, since: str) -> list[dict[str, Any]]:
        """The events between the previous sync and a limited timeline, oldest first;
        back to the bot's own join at most."""
        collected: list[dict[str, Any]] = []
        token = prev_batch
        while len(collected) < BACKFILL_MAX_EVENTS:
            reply = await self.adapter.retrying(
                lambda start=token: self.adapter.api.messages(
                    room_id, start=start, end=since, limit=100
                )
            )
            chunk = [e for e in reply.get("chunk") or [] if isinstance(e, dict)]
            for event in chunk:  # newest first
                collected.append(event)
                if self._is_own_join(event):
                    return collected[::-1]
            end = reply.get("end")
            if not chunk or not isinstance(end, str) or end == token:
                break
            token = end
        else:
            log.warning(
                "Matrix: back-fill of %s stopped after %d events; older ones are skipped",
                room_id,
                len(collected),
            )
        log.debug("Matrix: back-filled %d event(s) in %s", len(collected), room_id)
        return collected[::-1]
