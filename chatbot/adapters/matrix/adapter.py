"""The Matrix adapter: login, delivery, admins; it composes the parts (login: login.py).

- ``sync.py``: the sync loop, each sync's rooms, back-fill, the saved sync token
- ``timeline.py``: a room's timeline events (encrypted ones, late keys, edits, origins)
- ``membership.py``: members and the bot joining and leaving, invites, room upgrades,
  the rooms that are gone
- ``direct.py``: m.direct, direct rooms and direct messages
- ``polls.py``: MSC3381 polls: the poll registry, votes, poll ends

Delivery guarantees (the runtime's rule, ``chatbot.runtime``):

- Events are handled in sync order. Each event goes to the core through the runtime:
  its effects, the mark "handled" (its event id) and its actions commit together, so
  an event is applied exactly once; a recorded event id is skipped. Its actions wait
  in their room's queue (another platform's chat gets its own: the runtime routes
  them), and are sent with the action's row id as the transaction id, so even a retry
  after a crash is deduplicated by the homeserver.
- The sync token is saved once every event of that sync is handled (``sync.py``).
- ``perform`` waits for the first sync after the start: direct rooms are found in the
  rooms' state (a message retried after a restart goes to the same room, where the
  homeserver deduplicates it by its transaction id, instead of to a new room).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from chatbot.adapters.base import RetryAfter
from chatbot.adapters.matrix import admins, crypto, mapping, redact
from chatbot.adapters.matrix.admins import RoomCreate
from chatbot.adapters.matrix.bridges import BridgeFilter, BridgeRules
from chatbot.adapters.matrix.direct import DirectRooms
from chatbot.adapters.matrix.http import MatrixApi, MatrixError, TransportError
from chatbot.adapters.matrix.login import Login, secret
from chatbot.adapters.matrix.mapping import PLATFORM, PREFIX
from chatbot.adapters.matrix.membership import Membership, is_allowed, parse_allowed
from chatbot.adapters.matrix.polls import Polls
from chatbot.adapters.matrix.rooms import RoomState
from chatbot.adapters.matrix.sync import Sync
from chatbot.adapters.matrix.timeline import Timeline
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
from chatbot.core.events import ChatRef, Event, Person
from chatbot.core.ports import Cities
from chatbot.redact import protect
from chatbot.runtime import Runtime
from chatbot.runtime.runtime import RuntimeStore
from chatbot.storage.base import sqlite_path

log = logging.getLogger(__name__)

__all__ = ["AdapterStore", "MatrixAdapter", "is_allowed", "parse_allowed"]

SYNC_TIMEOUT_MS = 30_000
TIMELINE_LIMIT = 50
SHUTDOWN_GRACE = 10.0  # seconds to finish deliveries in flight when stopping
LATE_KEY_WAIT = 300.0  # seconds an encrypted event waits for its room key, at most


class AdapterStore(RuntimeStore, Protocol):
    """What the adapter needs of the repository, beyond what its runtime needs
    (``SqliteRepository`` has it all)."""

    @property
    def cities(self) -> Cities: ...


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
        self.bridges = BridgeFilter(BridgeRules.from_settings(settings), bot.repo.cities)
        # tunables (tests and the benchmark change them)
        self.sync_timeout_ms = SYNC_TIMEOUT_MS
        self.timeline_limit = TIMELINE_LIMIT
        self.shutdown_grace = SHUTDOWN_GRACE
        self.late_key_wait = LATE_KEY_WAIT
        self.pace = settings.matrix_pace  # the outbox's direct messages per second
        # what is known while running
        self.rooms: dict[str, RoomState] = {}
        self.direct: dict[str, list[str]] = {}  # m.direct: user id -> room ids
        self._background: set[asyncio.Task[None]] = set()  # events waiting for a room key
        # the parts (each gets this adapter)
        self.sync = Sync(self)
        self.timeline = Timeline(self)
        self.membership = Membership(self)
        self.direct_rooms = DirectRooms(self)
        self.polls = Polls(self)
        self.rate_limited = 0  # how many 429 answers sending met (for tests and logs)
        self._synced = asyncio.Event()  # the first sync after the start is handled
        self._closed = False
        # MSC3381 polls have no fixed limit; Element shows 20 options well
        bot.register(PLATFORM, Capabilities(PREFIX, max_poll_options=20))
        self._own_runtime = runtime is None  # then it is closed with this adapter
        self.runtime = runtime if runtime is not None else Runtime(bot, repo)
        self.runtime.register(self)
        redact.install()
        protect(secret(settings.matrix_password))
        protect(secret(settings.matrix_access_token))
        protect(secret(settings.matrix_crypto_key))
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
            await self.start_crypto()
            await self.direct_rooms.load()
            await self.runtime.resume(PLATFORM)
            await self.sync.loop(stop)
        finally:
            await self._shutdown()

    async def start_crypto(self) -> None:
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
            await self.direct_rooms.message(action, txn_id)
            return
        room_id = action.chat.id
        if not await self.membership.may_send(room_id):
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
            event_id = await self.send(room_id, mapping.POLL_START, content, txn_id)
            if event_id is not None:
                await self.polls.remember(room_id, event_id, action.poll_key, len(action.options))
            return
        elif isinstance(action, ClosePoll):
            content = await self.polls.end_content(action)
            if content is not None:
                await self.send(room_id, mapping.POLL_END, content, txn_id)
            return
        else:
            log.warning("Matrix: cannot carry out %s", type(action).__name__)
            return
        await self.send(room_id, "m.room.message", content, txn_id)

    async def send(
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
        levels = await self.retrying(lambda: self.api.state_event(room_id, "m.room.power_levels"))
        create = await self._room_create(room_id)
        return admins.is_admin(levels, create, person.ref.id)

    async def _room_create(self, room_id: str) -> RoomCreate | None:
        room = self.rooms.get(room_id)
        if room is not None and room.create is not None:
            return room.create  # never changes
        events = await self.retrying(lambda: self.api.room_state(room_id))
        for event in events:
            if event.get("type") == "m.room.create" and event.get("state_key") == "":
                create = RoomCreate.from_event(event)
                if room is not None:
                    room.create = create
                return create
        return None

    async def retrying(self, call: Any, attempts: int = 3) -> Any:
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

    # --- stopping ---------------------------------------------------------------------

    async def _shutdown(self) -> None:
        for task in list(self._background):  # events waiting for a key: next start
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        try:
            await self.sync.commit_ready()
        except Exception:
            log.exception("Matrix: saving the sync position failed")
        if self._own_runtime:  # the message in hand goes out; the rest stays recorded
            await self.runtime.close(self.shutdown_grace)
        self._closed = True
        self._synced.set()  # perform() waiting for a sync that never came returns
        await self.api.close()

    # --- handling and delivery --------------------------------------------------------

    def room(self, room_id: str) -> RoomState:
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = RoomState(room_id)
        return room

    def private_chat_link(self, start: str) -> str | None:
        """Where a person opens a direct chat with the bot (any Matrix client)."""
        return f"https://matrix.to/#/{self.user_id}"

    async def seen(self, key: str) -> bool:
        return await self.repo.ledger.is_handled(PLATFORM, key)

    async def mark(self, key: str) -> None:
        await self.repo.ledger.mark_handled(PLATFORM, key, datetime.now(UTC))

    async def dispatch(self, key: str, event: Event) -> None:
        """Hand one event to the core through the runtime (exactly once: the module docstring)."""

        async def work() -> list[Action]:
            actions = await self.bot.handle(event, self.is_admin)
            self.timeline.remember_rejected(key, event, actions)  # --- hook: Element's edits
            return actions

        await self.runtime.handle_with(PLATFORM, key, work)
