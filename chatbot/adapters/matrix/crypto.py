"""End-to-end encryption for the Matrix adapter, on matrix-nio's Olm machine (vodozemac).

The adapter keeps its raw sync loop and its own HTTP calls (see ``http``); this module
does every crypto step of room events through nio's ``Olm`` machine, which ``keys``
holds: the device's account and store, the keys traded with the homeserver (uploaded,
queried, claimed, speaking the key endpoints with the adapter's ``MatrixApi``) and the
to-device events of each sync (``receive_sync``: before its timeline is looked at, so a
key and the message it opens may come in the same sync).

- **Decrypting**: ``decrypt`` turns an ``m.room.encrypted`` timeline event into the
  plain event (same event id, sender and time), or None when its room key has not
  arrived; ``wait_for_key`` lets the adapter handle such an event when the key comes,
  within a bound (the adapter keeps that sync's token unsaved meanwhile, so a
  restart brings the event again).
- **Encrypting**: ``encrypt`` is called where a room event is PUT (``MatrixApi``'s
  ``send_event`` hook). In an encrypted room it makes sure a Megolm session is shared
  with every device of the room's joined and invited members, then encrypts. The
  session is rotated when the members change, when a member's devices change, and
  after nio's limits (100 messages, a week). Devices are not verified (nio has no
  cross-signing): the keys go to every device of the room's members, as
  matrix-reminder-bot does (``ignore_unverified_devices``); see the README.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from chatbot.adapters.matrix.http import MatrixApi
from chatbot.adapters.matrix.keys import AVAILABLE, DeviceKeys, fingerprint, store_dir
from chatbot.adapters.matrix.rooms import RoomState

if AVAILABLE:
    from nio.events import MegolmEvent

__all__ = ["AVAILABLE", "ENCRYPTED", "Crypto", "fingerprint", "store_dir"]

log = logging.getLogger(__name__)

ENCRYPTED = "m.room.encrypted"
MEGOLM = "m.megolm.v1.aes-sha2"


class Crypto:
    """nio's Olm machine, fed from the adapter's raw sync and sending through its API."""

    def __init__(
        self,
        api: MatrixApi,
        path: str | None,
        room_of: Callable[[str], RoomState | None],
        *,
        pickle_key: str = "",
    ) -> None:
        self.keys = DeviceKeys(api, path, self._devices_changed, pickle_key=pickle_key)
        self.room_of = room_of
        self._room_locks: dict[str, asyncio.Lock] = {}
        self._shared_members: dict[str, frozenset[str]] = {}  # room -> who got the key
        self._key_arrived = asyncio.Condition()

    @property
    def olm(self) -> Any:
        """nio.crypto.Olm once started, else None."""
        return self.keys.olm

    @property
    def ready(self) -> bool:
        return self.olm is not None

    # --- start ------------------------------------------------------------------------

    def open(self) -> None:
        """Load (or create) the Olm account of the logged-in device."""
        if self.keys.open():
            self._shared_members.clear()

    async def start(self) -> None:
        """After the login: load the account and upload its keys if they are new."""
        self.open()
        await self.keys.maintain()

    # --- sync -------------------------------------------------------------------------

    async def receive_sync(self, data: Mapping[str, Any]) -> None:
        """The crypto parts of one sync: key counts, device list changes, to-device
        events; then whatever they call for (uploads, queries, claims, replies)."""
        if self.olm is None:
            return
        if self.keys.receive(data):
            async with self._key_arrived:
                self._key_arrived.notify_all()
        await self.keys.maintain()

    def _devices_changed(self, users: set[str]) -> None:
        """A member's devices changed: the next message in their rooms gets a new key."""
        for room_id in list(self._shared_members):
            if users & self._shared_members[room_id]:
                self._rotate(room_id)

    # --- decrypting -------------------------------------------------------------------

    def decrypt(self, room_id: str, event: Mapping[str, Any]) -> dict[str, Any] | None:
        """The plain event of an ``m.room.encrypted`` timeline event (same event id,
        sender, time and unsigned data), or None while its room key is missing (or it
        cannot be decrypted at all)."""
        olm = self.olm
        if olm is None:
            return None
        content = event.get("content")
        if not isinstance(content, dict) or content.get("algorithm") != MEGOLM:
            return None
        source = dict(event)
        source["room_id"] = room_id
        content = dict(content)
        if not isinstance(content.get("sender_key"), str):
            # newer clients leave out the deprecated sender_key and device_id (MSC3700):
            # find the session by its id
            sender_key = self._sender_key_of(room_id, content.get("session_id"))
            if sender_key is None:
                return None
            content["sender_key"] = sender_key
        content.setdefault("device_id", "")
        source["content"] = content
        source.setdefault("unsigned", {})
        try:
            megolm = MegolmEvent.from_dict(source)
            if not isinstance(megolm, MegolmEvent):
                return None
            decrypted = olm._decrypt_megolm_no_error(megolm, room_id)
        except Exception:
            log.exception("Matrix: decrypting %s failed", event.get("event_id"))
            return None
        plain = getattr(decrypted, "source", None)
        if not isinstance(plain, dict) or not isinstance(plain.get("content"), dict):
            return None
        plain = dict(plain)
        plain["room_id"] = room_id
        unsigned = event.get("unsigned")
        if isinstance(unsigned, dict):
            plain["unsigned"] = unsigned
        plain["chatbot.decrypted"] = True
        return plain

    def _sender_key_of(self, room_id: str, session_id: Any) -> str | None:
        if not isinstance(session_id, str):
            return None
        for sender_key, sessions in self.olm.inbound_group_store[room_id].items():
            if session_id in sessions:
                return str(sender_key)
        return None

    async def wait_for_key(
        self, room_id: str, event: Mapping[str, Any], within: float
    ) -> dict[str, Any] | None:
        """Wait (at most ``within`` s) until the event can be decrypted."""
        deadline = time.monotonic() + within
        async with self._key_arrived:
            while True:
                plain = self.decrypt(room_id, event)
                if plain is not None:
                    return plain
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                try:
                    await asyncio.wait_for(self._key_arrived.wait(), timeout=left)
                except TimeoutError:
                    pass

    # --- encrypting -------------------------------------------------------------------

    async def encrypt(
        self, room_id: str, event_type: str, content: Mapping[str, Any]
    ) -> tuple[str, Mapping[str, Any]]:
        """The event to PUT: encrypted in an encrypted room (after sharing the room key
        with the members' devices), as it is elsewhere."""
        room = self.room_of(room_id)
        olm = self.olm
        if olm is None or room is None or not room.encrypted or event_type == ENCRYPTED:
            return event_type, content
        lock = self._room_locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            members = frozenset(
                user
                for user, membership in room.memberships.items()
                if membership in ("join", "invite")
            )
            if self._shared_members.get(room_id) != members:
                self._rotate(room_id)  # someone came or went: a new key for what follows
            await self._share(room_id, members)
            payload = olm.group_encrypt(room_id, {"type": event_type, "content": dict(content)})
        relates = content.get("m.relates_to")
        if relates is not None:  # relations stay readable for the server (threads, edits)
            payload["m.relates_to"] = relates
        return ENCRYPTED, payload

    def _rotate(self, room_id: str) -> None:
        if self.olm is not None and self.olm.outbound_group_sessions.pop(room_id, None):
            log.debug("Matrix: a new room key for %s", room_id)
        self._shared_members.pop(room_id, None)

    async def _share(self, room_id: str, members: frozenset[str]) -> None:
        """Share the room's Megolm session with every device of its members (keys
        queried and Olm sessions claimed first), unless that is done."""
        olm = self.olm
        if not olm.should_share_group_session(room_id):
            return
        untracked = members - olm.tracked_users
        if untracked or olm.users_for_key_query:
            await self.keys.query(untracked)
        missing = olm.get_missing_sessions(sorted(members))
        if missing:
            await self.keys.claim(missing)
        shared: set[tuple[str, str]] = set()
        for sharing_with, to_device in olm.share_group_session_parallel(
            room_id, sorted(members), ignore_unverified_devices=True
        ):
            await self.keys.send_to_device(ENCRYPTED, to_device)
            shared |= sharing_with
        session = olm.outbound_group_sessions[room_id]
        session.users_shared_with.update(shared)
        session.shared = True
        self._shared_members[room_id] = members
        log.debug("Matrix: shared a room key for %s with %d device(s)", room_id, len(shared))

    # --- for the operator -------------------------------------------------------------

    def fingerprint(self) -> str | None:
        """The bot device's ed25519 key, grouped as Element shows a session key."""
        if self.olm is None:
            return None
        return fingerprint(self.olm.account.identity_keys["ed25519"])
