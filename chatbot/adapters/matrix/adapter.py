"""The Matrix adapter: the sync loop, delivery, invites, direct rooms (login: login.py).

Delivery guarantees (the runtime's rule, ``chatbot.runtime``):

- Events are handled in sync order. Each event goes to the core through the runtime:
  its effects, the mark "handled" (its event id) and its actions commit together, so
  an event is applied exactly once; a recorded event id is skipped. Its actions wait
  in their room's queue (another platform's chat gets its own: the runtime routes
  them), and are sent with the action's row id as the transaction id, so even a retry
  after a crash is deduplicated by the homeserver.
- The sync token (``next_batch``) is saved once every event of that sync is handled
  (recorded), never waiting for a slow (rate limited) room's messages to go out.
- At the first start (no token) one sync with a tiny timeline fetches the rooms' state
  and pending invites; history is never acted on. After every start the first sync
  asks for the full state (room members, encryption, creators are kept in memory).
- A ``limited`` timeline is back-filled with /messages from its ``prev_batch`` back to
  the previous sync token, so a burst larger than the timeline limit loses nothing.
- Events before the bot's own join in a room are never acted on (positional: in the
  sync or back-fill that contains the join, everything before it is skipped; later
  syncs only contain later events).
- Poll responses (MSC3381) take the same path as messages: a ``VoteEvent`` per
  response, deduplicated by event id. The poll start's event id is mapped to the core's
  poll (``poll:<event id>``) when the send returns, and again when the bot's own start
  event comes back in the sync (it carries the core's poll key), so a response is
  never handled before its poll is known, whatever the timing of the send's answer.
- ``perform`` waits for the first sync after the start: direct rooms are found in the
  rooms' state (a message retried after a restart goes to the same room, where the
  homeserver deduplicates it by its transaction id, instead of to a new room).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from chatbot.adapters.base import RetryAfter, Unreachable
from chatbot.adapters.matrix import admins, crypto, mapping, redact
from chatbot.adapters.matrix.admins import RoomCreate
from chatbot.adapters.matrix.bridges import BridgeFilter, BridgeRules
from chatbot.adapters.matrix.http import (
    MatrixApi,
    MatrixError,
    TransportError,
    server_of,
)
from chatbot.adapters.matrix.login import Login, secret
from chatbot.adapters.matrix.mapping import PLATFORM, PREFIX
from chatbot.adapters.matrix.rooms import RoomState, localpart
from chatbot.config import Settings
from chatbot.core.actions import (
    Action,
    ClosePoll,
    DirectMessage,
    EditText,
    SendPoll,
    SendText,
    SendVenue,
)
from chatbot.core.bot import Bot
from chatbot.core.context import Capabilities
from chatbot.core.events import (
    ChatRef,
    CommandEvent,
    Event,
    MemberJoined,
    MemberLeft,
    Origin,
    Person,
    PersonRef,
    TextEvent,
    VoteEvent,
)
from chatbot.core.model import CityGroup, PollState
from chatbot.runtime import RetryPolicy, Runtime, sleep_or_stop
from chatbot.storage.base import sqlite_path

log = logging.getLogger(__name__)

SYNC_TIMEOUT_MS = 30_000
TIMELINE_LIMIT = 50
BACKFILL_MAX_EVENTS = 1_000
SHUTDOWN_GRACE = 10.0  # seconds to finish deliveries in flight when stopping
SYNC_RETRY = RetryPolicy(cap=30.0)  # a failed sync is tried again after 1, 2, 4 ... 30 s
ROOM_CREATE_ATTEMPTS = 3
LATE_KEY_WAIT = 300.0  # seconds an encrypted event waits for its room key, at most
EDIT_WINDOW = 300.0  # seconds: an edit of a rejected command is acted on within that

ROOM_LINK = "https://matrix.to/#/{}"


class AdapterStore(Protocol):
    """What the adapter needs of the repository (``SqliteRepository`` has it all)."""

    def atomic(self) -> Any: ...
    async def group_for_chat(self, chat: ChatRef) -> CityGroup | None: ...
    async def platform_value(self, platform: str, key: str) -> str | None: ...
    async def set_platform_value(self, platform: str, key: str, value: str) -> None: ...
    async def mark_handled(self, platform: str, event_id: str, at: datetime) -> bool: ...
    async def is_handled(self, platform: str, event_id: str) -> bool: ...
    async def set_chat_active(self, chat: ChatRef, active: bool) -> None: ...
    async def move_chat(self, old: ChatRef, new: ChatRef) -> None: ...


def parse_allowed(value: str | None) -> tuple[str, ...]:
    """ "example.org, @anna:other.org" -> ("example.org", "@anna:other.org")."""
    return tuple(part.strip().lower() for part in (value or "").split(",") if part.strip())


def is_allowed(inviter: str | None, allowed: tuple[str, ...]) -> bool:
    if not allowed:
        return True
    if not inviter:
        return False
    user = inviter.lower()
    return user in allowed or server_of(user) in allowed


def _membership_change(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(membership now, membership before) of an m.room.member event."""
    content = event.get("content") or {}
    unsigned = event.get("unsigned") or {}
    previous = unsigned.get("prev_content") or event.get("prev_content") or {}
    now = content.get("membership") if isinstance(content, dict) else None
    before = previous.get("membership") if isinstance(previous, dict) else None
    return (now if isinstance(now, str) else None, before if isinstance(before, str) else None)


class MatrixAdapter:
    platform = PLATFORM

    def __init__(
        self,
        settings: Settings,
        bot: Bot,
        repo: AdapterStore,
        runtime: Runtime | None = None,
    ) -> None:
        if not settings.matrix_homeserver or not settings.matrix_user_id:
            raise ValueError("CHATBOT_MATRIX_HOMESERVER and CHATBOT_MATRIX_USER_ID are needed")
        self.settings = settings
        self.bot = bot
        self.repo = repo
        self.user_id = settings.matrix_user_id
        self.api = MatrixApi(settings.matrix_homeserver, self.user_id)
        self.login = Login(settings, self.api, repo)
        self.allowed = parse_allowed(settings.matrix_allowed)
        self.bridges = BridgeFilter(BridgeRules.from_settings(settings), bot.repo)
        # tunables (tests and the benchmark change them)
        self.sync_timeout_ms = SYNC_TIMEOUT_MS
        self.timeline_limit = TIMELINE_LIMIT
        self.shutdown_grace = SHUTDOWN_GRACE
        self.late_key_wait = LATE_KEY_WAIT
        self.pace = settings.matrix_pace  # the outbox's direct messages per second
        # what is known while running
        self.rooms: dict[str, RoomState] = {}
        self.direct: dict[str, list[str]] = {}  # m.direct: user id -> room ids
        self._gone: set[str] = set()  # rooms the bot left / was removed from / replaced
        self._gone_checked: set[str] = set()
        self._quiet: set[str] = set()  # rooms where the bot's own join is not greeted
        self._noticed_encryption: set[str] = set()
        self._rejected: dict[str, tuple[str, float]] = {}  # command id -> (sender, when)
        # encrypted events waiting for their room key, per sync: a sync's token (and every
        # later one) is saved only once its waiting events are handled or given up
        self._waiting: list[asyncio.Task[None]] = []
        self._batches: deque[tuple[str, list[asyncio.Task[None]]]] = deque()
        self._background: set[asyncio.Task[None]] = set()
        self._saved_token: str | None = None
        self._dm_locks: dict[str, asyncio.Lock] = {}
        self.rate_limited = 0  # how many 429 answers sending met (for tests and logs)
        self._synced = asyncio.Event()  # the first sync after the start is handled
        self._closed = False
        # MSC3381 polls have no fixed limit; Element shows 20 options well
        bot.register(PLATFORM, Capabilities(PREFIX, max_poll_options=20))
        self._own_runtime = runtime is None  # then it is closed with this adapter
        self.runtime = runtime if runtime is not None else Runtime(bot, repo)  # type: ignore[arg-type]
        self.runtime.register(self)
        redact.install()
        redact.remember_secret(secret(settings.matrix_password))
        redact.remember_secret(secret(settings.matrix_access_token))
        redact.remember_secret(secret(settings.matrix_crypto_key))
        # --- hook: end-to-end encryption (crypto.py); None: the e2e extra is missing
        self.crypto: crypto.Crypto | None = None
        if crypto.AVAILABLE:
            path = settings.matrix_crypto_store or crypto.store_dir(
                sqlite_path(settings.database_url)
            )
            self.crypto = crypto.Crypto(
                self.api, path, self.rooms.get, pickle_key=secret(settings.matrix_crypto_key) or ""
            )
            self.api.before_send = self.crypto.encrypt
        else:
            log.warning("Matrix: matrix-nio's e2e extra is missing: encrypted rooms won't work")

    # --- the PlatformAdapter protocol ---------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        try:
            if not await self.login.login(stop):
                return
            await self._start_crypto()
            await self._load_direct()
            await self.runtime.resume(PLATFORM)
            await self._sync_loop(stop)
        finally:
            await self._shutdown()

    async def _start_crypto(self) -> None:
        """--- hook: end-to-end encryption: the device's keys (loaded, uploaded)."""
        if self.crypto is None:
            return
        try:
            await self.crypto.start()
        except Exception:
            log.exception(
                "Matrix: end-to-end encryption could not start; encrypted rooms won't work"
            )
            self.crypto = None
            self.api.before_send = None

    async def perform(self, action: Action, *, key: str | None = None) -> None:
        """Carry out one action; returns once delivered (or given up: the room is gone,
        the homeserver refused it). Raises `RetryAfter` when rate limited, and
        `MatrixError`/`TransportError` for what can pass (a 5xx, the network): the
        caller's retry policy tries again. `key`: the transaction id (a retry with the
        same key is deduplicated by the homeserver)."""
        await self._synced.wait()
        if self._closed:  # kept by the caller (the runtime's row, the outbox) for next time
            raise RuntimeError("the Matrix adapter is stopped")
        txn_id = key or uuid.uuid4().hex
        if isinstance(action, DirectMessage):
            await self._direct_message(action, txn_id)
            return
        room_id = action.chat.id
        if not await self._may_send(room_id):
            return
        content: Mapping[str, Any] | None
        if isinstance(action, SendText):
            content = mapping.text_content(
                action.text, action.buttons, reply_to=action.reply_to, thread=action.thread
            )
        elif isinstance(action, EditText):
            content = mapping.edit_content(action)
        elif isinstance(action, SendVenue):
            content = mapping.venue_content(action)
        elif isinstance(action, SendPoll):
            content = mapping.poll_start_content(action)
            event_id = await self._send(room_id, mapping.POLL_START, content, txn_id)
            if event_id is not None:
                await self._remember_poll(room_id, event_id, action.poll_key, len(action.options))
            return
        elif isinstance(action, ClosePoll):
            content = await self._poll_end(action)
            if content is not None:
                await self._send(room_id, mapping.POLL_END, content, txn_id)
            return
        else:
            log.warning("Matrix: cannot carry out %s", type(action).__name__)
            return
        await self._send(room_id, "m.room.message", content, txn_id)

    async def _send(
        self, room_id: str, event_type: str, content: Mapping[str, Any], txn_id: str
    ) -> str | None:
        """One event into a room: its id, or None when the homeserver refused it for
        good (M_FORBIDDEN, ...). Rate limits and passing failures raise (see perform)."""
        try:
            return await self.api.send_event(room_id, event_type, content, txn_id)
        except MatrixError as error:
            if error.rate_limited:
                self.rate_limited += 1
                raise RetryAfter((error.retry_after_ms or 1000) / 1000) from None
            if error.transient or error.unknown_token:
                raise  # a new login (by the sync loop) or a recovering server
            log.warning("Matrix: could not send to %s: %s %s", room_id, error.status, error.errcode)
            return None

    # --- admins -----------------------------------------------------------------------

    async def is_admin(self, chat: ChatRef, person: Person) -> bool:
        """Read fresh from the homeserver at every call; see ``admins`` for the rule."""
        if chat.platform != PLATFORM or person.ref.platform != PLATFORM:
            return False
        room_id = chat.id
        levels = await self._retrying(lambda: self.api.state_event(room_id, "m.room.power_levels"))
        create = await self._room_create(room_id)
        return admins.is_admin(levels, create, person.ref.id)

    async def _room_create(self, room_id: str) -> RoomCreate | None:
        room = self.rooms.get(room_id)
        if room is not None and room.create is not None:
            return room.create  # never changes
        events = await self._retrying(lambda: self.api.room_state(room_id))
        for event in events:
            if event.get("type") == "m.room.create" and event.get("state_key") == "":
                create = RoomCreate.from_event(event)
                if room is not None:
                    room.create = create
                return create
        return None

    async def _retrying(self, call: Any, attempts: int = 3) -> Any:
        """A read that may meet a rate limit or a short outage: a few tries."""
        for attempt in range(1, attempts + 1):
            try:
                return await call()
            except MatrixError as error:
                if not error.transient or attempt == attempts:
                    raise
                wait = (error.retry_after_ms or 1000) / 1000 if error.rate_limited else attempt
                await asyncio.sleep(min(wait, 10.0))
            except TransportError:
                if attempt == attempts:
                    raise
                await asyncio.sleep(attempt)
        raise AssertionError("unreachable")

    # --- the sync loop ----------------------------------------------------------------

    def _filter(self, initial: bool) -> dict[str, Any]:
        return {
            "presence": {"not_types": ["*"]},
            "account_data": {"types": ["m.direct"]},
            "room": {
                "timeline": {"limit": 1 if initial else self.timeline_limit},
                "state": {"lazy_load_members": False},
                "ephemeral": {"not_types": ["*"]},
                "account_data": {"not_types": ["*"]},
            },
        }

    async def _sync_loop(self, stop: asyncio.Event) -> None:
        since = await self.repo.platform_value(PLATFORM, "next_batch")
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
                    if await self.login.relogin():
                        await self._start_crypto()  # the same device: its keys again
                        continue
                    return
                failures += 1
                wait = SYNC_RETRY.delay(failures)
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
                wait = SYNC_RETRY.delay(failures)
                log.warning("Matrix sync failed: %s; retrying in %.0f s", error, wait)
                if await sleep_or_stop(wait, stop):
                    break
                continue
            except Exception:
                # a bug or an answer of a shape never seen: keep serving, try again later
                failures += 1
                wait = SYNC_RETRY.delay(failures)
                log.exception("Matrix sync could not be handled; retrying in %.0f s", wait)
                if await sleep_or_stop(wait, stop):
                    break
                continue
            failures = 0
            await self.runtime.alive(PLATFORM)
            since, initial, full_state = next_batch, False, False
            self._synced.set()
            await self.runtime.deliver(self.bot.late_notes())  # one note per room, if any
            self._batches.append((next_batch, self._waiting))
            self._waiting = []
            await self._commit_ready()

    async def _sync_unless_stopped(
        self, since: str | None, initial: bool, full_state: bool, stop: asyncio.Event
    ) -> dict[str, Any] | None:
        timeout_ms = 0 if (initial or full_state) else self.sync_timeout_ms
        sync = asyncio.ensure_future(
            self.api.sync(
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

    async def _commit_ready(self) -> None:
        """Save the newest sync token whose events (and all earlier ones) are handled
        (recorded, not necessarily sent): the next start syncs from there. Only an
        encrypted event still waiting for its key holds a token back."""
        token = None
        while self._batches and all(task.done() for task in self._batches[0][1]):
            token = self._batches.popleft()[0]
        if token is not None and token != self._saved_token:
            async with self.repo.atomic():
                await self.repo.set_platform_value(PLATFORM, "next_batch", token)
            self._saved_token = token

    async def _shutdown(self) -> None:
        for task in list(self._background):  # events waiting for a key: next start
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        try:
            await self._commit_ready()
        except Exception:
            log.exception("Matrix: saving the sync position failed")
        if self._own_runtime:  # the message in hand goes out; the rest stays recorded
            await self.runtime.close(self.shutdown_grace)
        self._closed = True
        self._synced.set()  # perform() waiting for a sync that never came returns
        await self.api.close()

    # --- one sync ---------------------------------------------------------------------

    async def _handle_sync(self, data: Mapping[str, Any], since: str | None, initial: bool) -> None:
        for event in _events(data.get("account_data")):
            if event.get("type") == "m.direct":
                self._set_direct(event.get("content"))
        if self.crypto is not None:  # --- hook: to-device events (room keys), key counts
            await self.crypto.receive_sync(data)
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
                await self._invited(room_id, info)
            except Exception:
                log.exception("Matrix: handling the invite to %s failed", room_id)
        for room_id, info in (rooms.get("leave") or {}).items():
            try:
                await self._left_room(room_id, info)
            except Exception:
                log.exception("Matrix: handling leaving %s failed", room_id)

    def _room(self, room_id: str) -> RoomState:
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = RoomState(room_id)
        return room

    def _is_own_join(self, event: Mapping[str, Any]) -> bool:
        if event.get("type") != "m.room.member" or event.get("state_key") != self.user_id:
            return False
        now, before = _membership_change(event)
        return now == "join" and before != "join"

    async def _joined_room(
        self, room_id: str, info: Mapping[str, Any], since: str | None, initial: bool
    ) -> None:
        room = self._room(room_id)
        for event in _events(info.get("state")):
            room.apply(event)
        timeline = info.get("timeline") or {}
        events = list(_events(timeline))
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
                await self._timeline_event(room, event)
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
            reply = await self._retrying(
                lambda start=token: self.api.messages(room_id, start=start, end=since, limit=100)
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

    async def _timeline_event(self, room: RoomState, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        sender = event.get("sender")
        event_id = event.get("event_id")
        content = event.get("content")
        if not (isinstance(event_id, str) and isinstance(sender, str)):
            return None
        if not isinstance(content, dict) or "redacted_because" in (event.get("unsigned") or {}):
            return None
        if kind == "m.room.member":
            return await self._membership(room, event, event_id)
        if kind == "m.room.encrypted":  # --- hook: end-to-end encryption
            return await self._encrypted_event(room, event, event_id)
        if kind == "m.room.encryption":
            if self.crypto is None:
                await self._encryption_notice(room.room_id)
            return None
        if kind == "m.room.tombstone" and event.get("state_key") == "":
            if not await self._seen(event_id):
                await self._follow_tombstone(room, event)
                await self._mark(event_id)
            return None
        if sender == self.user_id:
            if kind in mapping.POLL_START_TYPES and isinstance(content.get(mapping.POLL_KEY), str):
                await self._own_poll(room.room_id, event_id, content)
            return None
        if await self.bridges.relayed(room, event):
            return None  # a bridge's copy of a message the bot answers on the other side
        origin = self._origin(room, event)
        if kind in mapping.POLL_END_TYPES:  # a moderator ended the bot's poll in Element
            return await self._poll_ended(event_id, content, origin)
        if kind in mapping.POLL_RESPONSE_TYPES:
            return await self._poll_response(event_id, event, origin)
        if kind == "m.room.message":
            rel_type, original = mapping.relation(content)
            if rel_type == "m.replace" and original:  # --- hook: Element's edits
                return await self._edited(room, event, original, origin)
            core = mapping.message_event(
                event, origin, me=self.user_id, my_names=self._my_names(room)
            )
            if isinstance(core, CommandEvent) and mapping.mentions(content, self.user_id):
                core = replace(core, addressed=True)
            if core is not None and not isinstance(core, TextEvent):  # plain text: nothing
                await self._dispatch(event_id, core)
            return None
        if kind in mapping.BEACON_TYPES:
            # a live location: only its first point is answered
            _, beacon_info = mapping.relation(content)
            core = mapping.location_event(content, origin, live=True)
            if core is not None:
                await self._dispatch("beacon:" + (beacon_info or event_id), core)
        return None

    async def _encrypted_event(
        self, room: RoomState, event: Mapping[str, Any], event_id: str
    ) -> None:
        """An encrypted timeline event: handled as its plain event; one whose room key
        has not arrived yet is handled when it comes (within ``late_key_wait``). Its
        task is part of this sync's batch, so the sync token stays unsaved until then
        and a restart in between brings the event again."""
        if self.crypto is None:
            await self._encryption_notice(room.room_id)
            return None
        plain = self.crypto.decrypt(room.room_id, event)
        if plain is not None:
            if plain.get("type") == crypto.ENCRYPTED:
                return None  # encrypted twice: nothing to act on
            return await self._timeline_event(room, plain)
        if event.get("sender") == self.user_id or await self._seen(event_id):
            return None
        log.info("Matrix: no room key yet for %s; waiting for it", event_id)
        task = asyncio.create_task(self._late_key(room, event, event_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        self._waiting.append(task)
        return None

    async def _late_key(self, room: RoomState, event: Mapping[str, Any], event_id: str) -> None:
        assert self.crypto is not None
        plain = await self.crypto.wait_for_key(room.room_id, event, self.late_key_wait)
        if plain is None or plain.get("type") == crypto.ENCRYPTED:
            log.warning(
                "Matrix: %s could not be decrypted within %.0f s; it is skipped",
                event_id,
                self.late_key_wait,
            )
        else:
            log.info("Matrix: the room key for %s arrived", event_id)
            try:
                await self._timeline_event(room, plain)
            except Exception:
                log.exception("Matrix: handling event %s failed", event_id)
        await self._commit_ready()

    def _my_names(self, room: RoomState) -> tuple[str, ...]:
        """How a mention pill of the bot reads in a message's plain text."""
        return (room.display_name(self.user_id), localpart(self.user_id), self.user_id)

    async def _edited(
        self, room: RoomState, event: Mapping[str, Any], original: str, origin: Origin
    ) -> None:
        """An edit (``m.replace``): acted on only when it fixes a command of the same
        person that was rejected (a UserError) less than ``EDIT_WINDOW`` ago, and only
        once per command; the answer replies to the command."""
        rejected = self._rejected.get(original)
        if rejected is None or rejected[0] != event.get("sender"):
            return None
        if time.monotonic() - rejected[1] > EDIT_WINDOW:
            log.info("Matrix: an edit of %s came too late to be acted on", original)
            return None
        core = mapping.message_event(
            event,
            replace(origin, message_id=original),
            me=self.user_id,
            my_names=self._my_names(room),
            edit=True,
        )
        if not isinstance(core, CommandEvent):
            return None
        await self._dispatch("edit:" + original, core)
        return None

    def _remember_rejected(self, key: str, event: Event, actions: list[Action]) -> None:
        """A command answered with "that was wrong": its edit may try again (kept in
        memory for ``EDIT_WINDOW``; after a restart an edit is not acted on)."""
        if not isinstance(event, CommandEvent) or key.startswith("edit:"):
            return
        if not any(isinstance(a, SendText) and a.rejected for a in actions):
            return
        now = time.monotonic()
        for old in [k for k, (_, at) in self._rejected.items() if now - at > EDIT_WINDOW]:
            del self._rejected[old]
        self._rejected[key] = (event.origin.sender.ref.id, now)

    def _origin(self, room: RoomState, event: Mapping[str, Any]) -> Origin:
        sender = str(event.get("sender"))
        content = event.get("content") or {}
        return Origin(
            chat=ChatRef(PLATFORM, room.room_id),
            sender=Person(PersonRef(PLATFORM, sender), room.display_name(sender)),
            is_private=self._is_private(room),
            thread=mapping.thread_root(content),
            message_id=str(event.get("event_id")),
            command_prefix=PREFIX,
            chat_title=room.name,
            sent_at=mapping.sent_at(event),
        )

    def _is_private(self, room: RoomState) -> bool:
        """A direct room (m.direct) of the bot with one person in it."""
        is_direct = any(room.room_id in rooms for rooms in self.direct.values())
        return is_direct and room.member_count() <= 2

    async def _membership(self, room: RoomState, event: Mapping[str, Any], event_id: str) -> None:
        target = event.get("state_key")
        if not isinstance(target, str):
            return None
        now, before = _membership_change(event)
        if target == self.user_id:
            if now == "join" and before != "join":
                return await self._bot_joined(room, event, event_id)
            return None
        person = Person(PersonRef(PLATFORM, target), room.display_name(target))
        origin = self._origin(room, event)
        core: Event
        if now == "join" and before != "join":
            core = MemberJoined(origin, person)
        elif now in ("leave", "ban") and before == "join":
            core = MemberLeft(origin, person)
        else:
            return None
        await self._dispatch(event_id, core)

    async def _bot_joined(self, room: RoomState, event: Mapping[str, Any], event_id: str) -> None:
        await self._set_gone(room.room_id, None)
        async with self.repo.atomic():
            await self.repo.set_chat_active(ChatRef(PLATFORM, room.room_id), True)
        if room.encrypted and self.crypto is None:
            await self._encryption_notice(room.room_id)
            return None
        created_by_me = room.create is not None and room.create.sender == self.user_id
        if room.room_id in self._quiet or created_by_me:
            return None  # a direct room the bot opened, or a room upgrade: no greeting
        me = Person(PersonRef(PLATFORM, self.user_id), room.display_name(self.user_id))
        await self._dispatch(event_id, MemberJoined(self._origin(room, event), me, True))

    # --- polls ------------------------------------------------------------------------

    async def _poll_response(self, event_id: str, event: Mapping[str, Any], origin: Origin) -> None:
        """A vote (or a vote taken back) in one of the bot's polls, as a VoteEvent."""
        response = mapping.poll_response(event)
        if response is None:
            return None
        start, answers = response
        poll = await self._poll_of(start)
        if poll is None or poll["room"] != origin.chat.id:
            log.debug("Matrix: ignoring a response to an unknown poll %s", start)
            return None
        indexes = mapping.selected_indexes(answers, int(poll["answers"]))
        await self._dispatch(event_id, VoteEvent(origin, str(poll["key"]), indexes))

    async def _poll_ended(self, event_id: str, content: Mapping[str, Any], origin: Origin) -> None:
        """Someone ended one of the bot's open polls with Element's "End poll" (the room
        lets moderators do that): as if they had sent !schliessen, so the core checks
        that they may, closes the poll and announces the winner."""
        rel_type, start = mapping.relation(content)
        if rel_type != "m.reference" or not start:
            return None
        poll = await self._poll_of(start)
        if poll is None or poll["room"] != origin.chat.id:
            return None
        try:
            stored = await self.bot.repo.poll(int(poll["key"]))
        except ValueError:
            return None
        if stored is None or stored.state != PollState.OPEN:
            return None
        await self._dispatch(event_id, CommandEvent(origin, "close", "", addressed=True))
        return None

    async def _poll_of(self, start_event_id: str) -> dict[str, Any] | None:
        value = await self.repo.platform_value(PLATFORM, "poll:" + start_event_id)
        if not value:
            return None
        try:
            poll = json.loads(value)
        except ValueError:
            return None
        return poll if isinstance(poll, dict) else None

    async def _remember_poll(
        self, room_id: str, event_id: str, poll_key: str, answers: int
    ) -> None:
        """Map the poll start event to the core's poll, and back (for closing it)."""
        key = "poll:" + event_id
        if await self.repo.platform_value(PLATFORM, key):
            return
        value = json.dumps({"key": poll_key, "room": room_id, "answers": answers})
        async with self.repo.atomic():
            await self.repo.set_platform_value(PLATFORM, key, value)
            await self.repo.set_platform_value(
                PLATFORM, f"poll_event:{room_id}:{poll_key}", event_id
            )

    async def _own_poll(self, room_id: str, event_id: str, content: Mapping[str, Any]) -> None:
        """The bot's own poll start, back from the homeserver in the sync."""
        block = content.get(mapping.POLL_START)
        answers = block.get("answers") if isinstance(block, dict) else None
        if isinstance(answers, list):
            await self._remember_poll(
                room_id, event_id, str(content[mapping.POLL_KEY]), len(answers)
            )

    async def _poll_end(self, action: ClosePoll) -> dict[str, Any] | None:
        """The poll end for the start event of this poll in this room (None: the bot has
        not posted it here as a poll); its text is the core's."""
        room_id = action.chat.id
        start = await self.repo.platform_value(PLATFORM, f"poll_event:{room_id}:{action.poll_key}")
        if not start:
            return None
        return mapping.poll_end_content(start, action.text)

    # --- invites, leaving, upgrades ---------------------------------------------------

    async def _invited(self, room_id: str, info: Mapping[str, Any]) -> None:
        mine: Mapping[str, Any] = {}
        for event in _events(info.get("invite_state")):
            if event.get("type") == "m.room.member" and event.get("state_key") == self.user_id:
                mine = event
        inviter = mine.get("sender") if isinstance(mine.get("sender"), str) else None
        content = mine.get("content") or {}
        if not is_allowed(inviter, self.allowed):
            log.info("Matrix: declining the invite to %s from %s (not allowed)", room_id, inviter)
            try:
                await self.api.leave(room_id)
            except (MatrixError, TransportError) as error:
                log.warning("Matrix: declining the invite to %s failed: %s", room_id, error)
            return
        via = [server_of(inviter or ""), server_of(room_id)]
        upgrade = await self.repo.platform_value(PLATFORM, "upgrade:" + room_id)
        if upgrade:
            self._quiet.add(room_id)  # the successor of a city's room: no greeting
        if not await self._join(room_id, via):
            return
        if upgrade:
            await self._complete_upgrade(room_id)
        if isinstance(content, dict) and content.get("is_direct") and inviter:
            await self._add_direct(inviter, room_id)
            if await self.repo.platform_value(PLATFORM, "dm_refused:" + inviter):
                async with self.repo.atomic():  # a new direct chat: messages welcome again
                    await self.repo.set_platform_value(PLATFORM, "dm_refused:" + inviter, "")

    async def _join(self, room_id: str, via: Iterable[str]) -> bool:
        servers = [s for s in via if s]
        for attempt in range(1, 4):
            try:
                await self.api.join(room_id, servers)
                log.info("Matrix: joined %s", room_id)
                return True
            except MatrixError as error:
                if not error.transient or attempt == 3:
                    log.warning("Matrix: joining %s failed: %s", room_id, error.errcode)
                    return False
                wait = (error.retry_after_ms or 1000) / 1000 if error.rate_limited else attempt
                await asyncio.sleep(min(wait, 30.0))
            except TransportError as error:
                if attempt == 3:
                    log.warning("Matrix: joining %s failed: %s", room_id, error)
                    return False
                await asyncio.sleep(attempt)
        return False

    async def _left_room(self, room_id: str, info: Mapping[str, Any]) -> None:
        mine: Mapping[str, Any] = {}
        for event in [*_events(info.get("state")), *_events(info.get("timeline"))]:
            if event.get("type") == "m.room.member" and event.get("state_key") == self.user_id:
                mine = event
        membership, _ = _membership_change(mine) if mine else ("leave", None)
        was_joined = room_id in self.rooms
        await self._set_gone(room_id, membership or "leave")
        remover = mine.get("sender") if mine else None
        if isinstance(remover, str) and room_id in self.direct.get(remover, []):
            # kicked or banned from a direct room by its person: no more direct messages
            # (no new room behind their back) until they open one with the bot again
            log.info("Matrix: %s removed the bot from their direct room", remover)
            async with self.repo.atomic():
                await self.repo.set_platform_value(PLATFORM, "dm_refused:" + remover, room_id)
        async with self.repo.atomic():  # no more posts there (schedule, other chats' news)
            await self.repo.set_chat_active(ChatRef(PLATFORM, room_id), False)
        self.rooms.pop(room_id, None)
        if not was_joined:
            return
        log.info("Matrix: the bot is out of %s (%s)", room_id, membership)
        event_id = mine.get("event_id") if isinstance(mine.get("event_id"), str) else None
        if event_id is None:
            return
        room = RoomState(room_id)
        origin = self._origin(room, mine)
        me = Person(PersonRef(PLATFORM, self.user_id), self.user_id)
        await self._dispatch(event_id, MemberLeft(origin, me, is_the_bot=True))

    async def _follow_tombstone(self, room: RoomState, event: Mapping[str, Any]) -> None:
        """The room was upgraded: the city group moves to the new room once the bot has
        joined it and its m.room.create names this room as its predecessor. Until then
        it stays here, and the bot asks here for an invite to the new room (an invite
        later completes the move, see ``_invited``)."""
        content = event.get("content") or {}
        new = content.get("replacement_room")
        if not isinstance(new, str) or not new or new == room.room_id:
            return
        old = room.room_id
        log.info("Matrix: %s was replaced by %s", old, new)
        self._quiet.add(new)
        async with self.repo.atomic():
            await self.repo.set_platform_value(PLATFORM, "upgrade:" + new, old)
        joined = new in self.rooms and self.rooms[new].memberships.get(self.user_id) == "join"
        via = [server_of(str(event.get("sender", ""))), server_of(old)]
        if joined or await self._join(new, via):
            if await self._complete_upgrade(new):
                return
            if not joined:  # a room that does not continue this one: not the bot's place
                await self._drop_room(new)
        await self._ask_for_invite(old, new)

    async def _complete_upgrade(self, new: str) -> bool:
        """Move the city group into ``new`` if the bot awaits it as the successor of a
        room and ``new``'s m.room.create names that room as predecessor."""
        old = await self.repo.platform_value(PLATFORM, "upgrade:" + new)
        if not old:
            return False
        try:
            create = await self._retrying(lambda: self.api.state_event(new, "m.room.create"))
        except (MatrixError, TransportError) as error:
            log.warning("Matrix: could not read how %s was created: %s", new, error)
            return False
        predecessor = (create or {}).get("predecessor")
        named = predecessor.get("room_id") if isinstance(predecessor, dict) else None
        async with self.repo.atomic():
            await self.repo.set_platform_value(PLATFORM, "upgrade:" + new, "")
        if named != old:
            log.warning("Matrix: %s does not continue %s; the city group stays there", new, old)
            return False
        log.info("Matrix: the city group moves from %s to %s", old, new)
        async with self.repo.atomic():
            await self.repo.move_chat(ChatRef(PLATFORM, old), ChatRef(PLATFORM, new))
        await self._set_gone(old, "tombstone")
        for user, rooms in list(self.direct.items()):
            if old in rooms:
                await self._add_direct(user, new)
        return True

    async def _ask_for_invite(self, old: str, new: str) -> None:
        """In the replaced room: the bot could not follow; please invite it."""
        text = await self.bot.notice("upgrade_invite", ChatRef(PLATFORM, old))
        text = text.format(link=ROOM_LINK.format(new))
        await self.runtime.deliver([SendText(ChatRef(PLATFORM, old), text)])

    async def _drop_room(self, room_id: str) -> None:
        """Leave and forget a room the bot has no business in (nothing is told: the
        core never knew it)."""
        self.rooms.pop(room_id, None)
        for step in (self.api.leave, self.api.forget):
            try:
                await step(room_id)
            except (MatrixError, TransportError) as error:
                log.warning("Matrix: could not leave %s: %s", room_id, error)

    async def _set_gone(self, room_id: str, reason: str | None) -> None:
        """Remember (persistently) that nothing is to be sent to a room any more, or that
        the bot is back in it (reason None)."""
        self._gone_checked.add(room_id)
        if reason is None:
            if room_id not in self._gone and not await self.repo.platform_value(
                PLATFORM, "left:" + room_id
            ):
                return
            self._gone.discard(room_id)
            value = ""
        else:
            self._gone.add(room_id)
            value = reason
        async with self.repo.atomic():
            await self.repo.set_platform_value(PLATFORM, "left:" + room_id, value)

    async def _may_send(self, room_id: str) -> bool:
        if room_id not in self._gone_checked:
            self._gone_checked.add(room_id)
            if await self.repo.platform_value(PLATFORM, "left:" + room_id):
                self._gone.add(room_id)
        if room_id in self._gone:
            log.info("Matrix: not sending to %s: the bot is no longer there", room_id)
            return False
        return True

    async def _encryption_notice(self, room_id: str) -> None:
        """Once per room: say that encrypted rooms do not work (yet)."""
        key = "encryption_notice:" + room_id
        if room_id in self._noticed_encryption:
            return
        self._noticed_encryption.add(room_id)
        if await self.repo.platform_value(PLATFORM, key):
            return
        async with self.repo.atomic():
            await self.repo.set_platform_value(PLATFORM, key, "1")
        text = await self.bot.notice("encrypted_room", ChatRef(PLATFORM, room_id))
        log.warning("Matrix: %s is encrypted; the bot cannot read it", room_id)
        await self.runtime.deliver([SendText(ChatRef(PLATFORM, room_id), text)])

    # --- direct rooms -----------------------------------------------------------------

    async def _load_direct(self) -> None:
        try:
            self._set_direct(await self.api.account_data("m.direct"))
        except (MatrixError, TransportError) as error:
            log.warning("Matrix: could not read m.direct: %s", error)

    def _set_direct(self, content: Any) -> None:
        if not isinstance(content, dict):
            return
        self.direct = {
            user: [r for r in rooms if isinstance(r, str)]
            for user, rooms in content.items()
            if isinstance(user, str) and isinstance(rooms, list)
        }

    async def _add_direct(self, user_id: str, room_id: str, *, strict: bool = False) -> None:
        """Record a direct room in m.direct; ``strict``: a failure raises (and the room
        is not recorded in memory either), otherwise it is logged."""
        rooms = self.direct.setdefault(user_id, [])
        if room_id in rooms:
            return
        rooms.append(room_id)
        try:
            await self.api.set_account_data("m.direct", self.direct)
        except (MatrixError, TransportError) as error:
            if strict:
                rooms.remove(room_id)
                raise
            log.warning("Matrix: could not record the direct room %s: %s", room_id, error)

    async def _direct_room(self, user_id: str) -> str:
        """The bot's direct room with this person: an existing one, or a new one.
        Raises ``Unreachable`` when the person left or refused it (no new room is
        pushed on them; they get one again by opening a direct chat with the bot), or
        when the homeserver refuses the invite (the new room is left and forgotten).

        A new room is created without invite, recorded in m.direct, and only then is
        the person invited (with ``is_direct``, as Element's direct chats are): a
        restart in between finds the recorded room and invites them into it."""
        refused = False
        uninvited = None
        for room_id in reversed(self.direct.get(user_id, [])):
            room = self.rooms.get(room_id)
            if room is None or room_id in self._gone:
                continue
            if room.memberships.get(self.user_id) != "join":
                continue
            membership = room.memberships.get(user_id)
            if membership in ("join", "invite"):
                return room_id
            if membership is None and uninvited is None:
                uninvited = room_id  # recorded, but the invite never went out
            refused = refused or membership in ("leave", "ban")
        if refused:
            raise Unreachable(f"{user_id} left the direct room with the bot")
        if await self.repo.platform_value(PLATFORM, "dm_refused:" + user_id):
            raise Unreachable(f"{user_id} removed the bot from the direct room")
        room_id = uninvited or await self._new_direct_room(user_id)
        await self._invite_direct(user_id, room_id)
        self._room(room_id).memberships[user_id] = "invite"
        log.info("Matrix: opened a direct room with %s", user_id)
        return room_id

    async def _new_direct_room(self, user_id: str) -> str:
        """Create a direct room (no invite yet) and record it in m.direct."""
        body = {
            "is_direct": True,
            "preset": "trusted_private_chat",
            # room version 12: the person is a creator too, as in Element's direct chats
            "creation_content": {"additional_creators": [user_id]},
        }
        try:
            room_id: str = await self._attempts(lambda: self.api.create_room(body))
        except MatrixError as error:
            log.warning("Matrix: no direct room with %s: %s", user_id, error.errcode)
            raise Unreachable(f"{user_id}: {error.errcode}") from None
        self._quiet.add(room_id)
        room = self._room(room_id)
        room.memberships.setdefault(self.user_id, "join")
        if self.crypto is not None:  # the homeserver may encrypt new rooms by default
            try:
                encryption = await self.api.state_event(room_id, "m.room.encryption")
                room.encrypted = room.encrypted or bool(encryption and encryption.get("algorithm"))
            except (MatrixError, TransportError) as error:
                log.warning("Matrix: could not read the encryption of %s: %s", room_id, error)
        try:
            await self._add_direct(user_id, room_id, strict=True)
        except (MatrixError, TransportError) as error:
            log.warning("Matrix: could not record the direct room %s: %s", room_id, error)
            await self._drop_direct_room(user_id, room_id)
            if isinstance(error, MatrixError) and error.rate_limited:
                raise RetryAfter((error.retry_after_ms or 1000) / 1000) from None
            raise
        return room_id

    async def _invite_direct(self, user_id: str, room_id: str) -> None:
        """Invite the person into their direct room. Refused for good (they block
        invites, the account is gone): the room is left and forgotten, and the person
        is ``Unreachable``. A rate limit or a passing failure keeps the recorded room
        for the next try."""
        try:
            await self._attempts(lambda: self.api.invite(room_id, user_id, is_direct=True))
        except MatrixError as error:
            log.warning("Matrix: %s could not be invited: %s", user_id, error.errcode)
            await self._drop_direct_room(user_id, room_id)
            raise Unreachable(f"{user_id}: {error.errcode}") from None

    async def _attempts(self, call: Any) -> Any:
        """A write for a direct room, tried a few times over rate limits and passing
        failures (then ``RetryAfter``, or the transport error, for the caller's retry
        policy); a refusal for good raises its ``MatrixError``."""
        for attempt in range(1, ROOM_CREATE_ATTEMPTS + 1):
            try:
                return await call()
            except MatrixError as error:
                if not error.transient:
                    raise
                wait = (error.retry_after_ms or 1000) / 1000 if error.rate_limited else attempt
                if attempt == ROOM_CREATE_ATTEMPTS:
                    raise RetryAfter(wait) from None
                await asyncio.sleep(min(wait, 30.0))
            except TransportError:
                if attempt == ROOM_CREATE_ATTEMPTS:
                    raise
                await asyncio.sleep(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _drop_direct_room(self, user_id: str, room_id: str) -> None:
        """Leave and forget a direct room nobody was invited to, and unrecord it."""
        await self._set_gone(room_id, "leave")
        await self._drop_room(room_id)
        rooms = self.direct.get(user_id, [])
        if room_id in rooms:
            rooms.remove(room_id)
            if not rooms:
                del self.direct[user_id]
            try:
                await self.api.set_account_data("m.direct", self.direct)
            except (MatrixError, TransportError) as error:
                log.warning("Matrix: could not unrecord the direct room %s: %s", room_id, error)

    async def _direct_message(self, action: DirectMessage, txn_id: str) -> None:
        user_id = action.person.id
        lock = self._dm_locks.setdefault(user_id, asyncio.Lock())
        async with lock:  # one room per person, and messages in order
            room_id = await self._direct_room(user_id)
            content = mapping.text_content(action.text, action.buttons)
            # the outbox id as transaction id: a retry after a crash is not posted twice
            if action.key:
                txn_id = f"dm-{action.key}"
            event_id = None
            if await self._may_send(room_id):
                event_id = await self._send(room_id, "m.room.message", content, txn_id)
        if event_id is None:
            raise RuntimeError(f"the direct message to {user_id} was not delivered")

    def private_chat_link(self, start: str) -> str | None:
        """Where a person opens a direct chat with the bot (any Matrix client)."""
        return f"https://matrix.to/#/{self.user_id}"

    # --- handling and delivery --------------------------------------------------------

    async def _seen(self, key: str) -> bool:
        return await self.repo.is_handled(PLATFORM, key)

    async def _mark(self, key: str) -> None:
        await self.repo.mark_handled(PLATFORM, key, datetime.now(UTC))

    async def _dispatch(self, key: str, event: Event) -> None:
        """Hand one event to the core through the runtime (exactly once, see above)."""

        async def work() -> list[Action]:
            actions = await self.bot.handle(event, self.is_admin)
            self._remember_rejected(key, event, actions)  # --- hook: Element's edits
            return actions

        await self.runtime.handle_with(PLATFORM, key, work)


def _events(section: Any) -> list[dict[str, Any]]:
    """The event dicts of a sync section ({"events": [...]})."""
    if not isinstance(section, dict):
        return []
    events = section.get("events")
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []
