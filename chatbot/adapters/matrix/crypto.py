"""End-to-end encryption for the Matrix adapter, on matrix-nio's Olm machine (vodozemac).

The adapter keeps its raw sync loop and its own HTTP calls (see ``http``); this module
owns nio's ``Olm`` machine and does every crypto step through it, speaking the key
endpoints itself with the adapter's ``MatrixApi``:

- **The bot's device keys persist**: the Olm account, the Olm sessions with other
  devices and the room keys (inbound group sessions) live in nio's SQLite store in a
  folder next to the bot's database (``<db>.matrix-crypto/``), one file per
  user+device. The adapter reuses its device at every start and never logs out, so
  the keys people's clients know stay valid.
- **Keys** are uploaded at the start and whenever the homeserver's one-time key count
  runs low (``device_one_time_keys_count`` in each sync), queried for the members of
  encrypted rooms (and again when ``device_lists.changed`` names them), and claimed
  for devices without an Olm session before a room key is shared with them.
- **Sync**: ``receive_sync`` takes the sync's to-device events (Olm-encrypted room
  keys, key requests) before its timeline is looked at, so a key and the message it
  opens may come in the same sync.
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
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from chatbot.adapters.matrix.http import MatrixApi, MatrixError, TransportError
from chatbot.adapters.matrix.rooms import RoomState

log = logging.getLogger(__name__)

try:  # the e2e extra of matrix-nio (vodozemac); without it the adapter cannot encrypt
    from nio.crypto import Olm
    from nio.events import (
        ForwardedRoomKeyEvent,
        MegolmEvent,
        RoomKeyEvent,
        ToDeviceEvent,
    )
    from nio.responses import KeysClaimResponse, KeysQueryResponse, KeysUploadResponse
    from nio.store import DefaultStore, SqliteMemoryStore

    AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the installation
    AVAILABLE = False

ENCRYPTED = "m.room.encrypted"
MEGOLM = "m.megolm.v1.aes-sha2"
KEY_RETRY_ATTEMPTS = 3
STORE_SUFFIX = ".matrix-crypto"


def store_dir(database_path: str) -> str | None:
    """Where the crypto store lives: a folder next to the database file; None for an
    in-memory database (then the keys live as long as the process)."""
    if not database_path or database_path == ":memory:":
        return None
    return str(Path(database_path).with_name(Path(database_path).name + STORE_SUFFIX))


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
        self.api = api
        self.path = path
        self.room_of = room_of
        self.pickle_key = pickle_key or "chatbot"
        self.olm: Any = None  # nio.crypto.Olm once started
        self._room_locks: dict[str, asyncio.Lock] = {}
        self._keys_lock = asyncio.Lock()
        self._shared_members: dict[str, frozenset[str]] = {}  # room -> who got the key
        self._key_arrived = asyncio.Condition()
        self._uploaded_at_start = False

    @property
    def ready(self) -> bool:
        return self.olm is not None

    # --- start ------------------------------------------------------------------------

    def open(self) -> None:
        """Load (or create) the Olm account of the logged-in device."""
        user_id, device_id = self.api.user_id, self.api.device_id
        if not device_id:
            raise RuntimeError("the Matrix device id is not known")
        if self.olm is not None and self.olm.device_id == device_id:
            return
        store: Any
        if self.path is None:
            store = SqliteMemoryStore(user_id, device_id, self.pickle_key)
            log.warning(
                "Matrix: the crypto store is in memory (in-memory database): encrypted rooms"
                " need new keys after every restart"
            )
        else:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            store = DefaultStore(user_id, device_id, self.path, self.pickle_key)
        self.olm = Olm(user_id, device_id, store)
        self._shared_members.clear()
        keys = self.olm.account.identity_keys
        log.info(
            "Matrix: end-to-end encryption on for device %s (ed25519 fingerprint %s)",
            device_id,
            fingerprint(keys["ed25519"]),
        )

    async def start(self) -> None:
        """After the login: load the account and upload its keys if they are new."""
        self.open()
        await self.maintain()

    # --- sync -------------------------------------------------------------------------

    async def receive_sync(self, data: Mapping[str, Any]) -> None:
        """The crypto parts of one sync: key counts, device list changes, to-device
        events; then whatever they call for (uploads, queries, claims, replies)."""
        olm = self.olm
        if olm is None:
            return
        counts = data.get("device_one_time_keys_count")
        if isinstance(counts, dict):
            count = counts.get("signed_curve25519", 0)
            olm.uploaded_key_count = count if isinstance(count, int) else 0
        devices = data.get("device_lists") or {}
        if isinstance(devices, dict):
            changed = {
                user
                for key in ("changed", "left")
                for user in devices.get(key) or []
                if isinstance(user, str) and user in olm.tracked_users
            }
            if changed:
                olm.add_changed_users(changed)
        to_device = data.get("to_device") or {}
        events = to_device.get("events") if isinstance(to_device, dict) else None
        keys_arrived = False
        for raw in events if isinstance(events, list) else []:
            if isinstance(raw, dict):
                keys_arrived = self._to_device(raw) or keys_arrived
        try:
            olm.collect_key_requests()  # requests of our own other devices only (none)
        except Exception:
            log.exception("Matrix: handling key requests failed")
        if keys_arrived:
            async with self._key_arrived:
                self._key_arrived.notify_all()
        await self.maintain()

    def _to_device(self, raw: dict[str, Any]) -> bool:
        """One to-device event; True if it brought a room key."""
        try:
            event = ToDeviceEvent.parse_event(raw)
            if event is None or not isinstance(event, ToDeviceEvent):
                return False
            result = self.olm.handle_to_device_event(event)
        except Exception:
            log.exception("Matrix: a to-device event of type %s failed", raw.get("type"))
            return False
        if isinstance(result, (RoomKeyEvent, ForwardedRoomKeyEvent)):
            log.debug("Matrix: a room key for %s from %s", result.room_id, result.sender)
            return True
        return False

    async def maintain(self) -> None:
        """Upload, query and claim keys as the Olm machine asks for; send its to-device
        messages (e.g. to unwedge a broken Olm session). Failures are logged: the next
        sync tries again."""
        olm = self.olm
        if olm is None:
            return
        try:
            if olm.should_upload_keys:
                await self._upload_keys()
            if olm.should_query_keys:
                await self._query_keys()
            if olm.wedged_devices or olm.key_request_devices_no_session:
                await self._claim_keys(olm.get_users_for_key_claiming())
            for message in list(olm.outgoing_to_device_messages):
                await self._send_to_device(message.type, message.as_dict())
                olm.outgoing_to_device_messages.remove(message)
        except (MatrixError, TransportError) as error:
            log.warning("Matrix: key maintenance failed: %s", error)

    # --- keys on the homeserver -------------------------------------------------------

    async def _call(self, method: str, path: list[str], body: Mapping[str, Any]) -> Any:
        """A key endpoint call, retried on rate limits and short outages."""
        for attempt in range(1, KEY_RETRY_ATTEMPTS + 1):
            try:
                return await self.api.request(method, path, body=body)
            except MatrixError as error:
                if not error.transient or attempt == KEY_RETRY_ATTEMPTS:
                    raise
                wait = (error.retry_after_ms or 1000) / 1000 if error.rate_limited else attempt
                await asyncio.sleep(min(wait, 10.0))
            except TransportError:
                if attempt == KEY_RETRY_ATTEMPTS:
                    raise
                await asyncio.sleep(attempt)
        raise AssertionError("unreachable")

    async def _upload_keys(self) -> None:
        olm = self.olm
        async with self._keys_lock:
            if not olm.should_upload_keys:
                return
            keys = olm.share_keys()
            try:
                reply = await self._call("POST", ["keys", "upload"], keys)
            except MatrixError as error:
                if error.status == 400 and not olm.account.shared:
                    log.error(
                        "Matrix: the homeserver refused this device's keys (%s): the device"
                        " has other keys there (a lost crypto store?). Delete the device"
                        " (or log in with a new one) and restart.",
                        error.errcode,
                    )
                raise
            response = KeysUploadResponse.from_dict(reply)
            if isinstance(response, KeysUploadResponse):
                olm.handle_response(response)
                log.info(
                    "Matrix: uploaded keys (%d one-time keys on the homeserver)",
                    response.signed_curve25519_count,
                )

    async def _query_keys(self, users: Iterable[str] = ()) -> None:
        olm = self.olm
        async with self._keys_lock:
            wanted = set(olm.users_for_key_query) | set(users)
            if not wanted:
                return
            body = {"device_keys": {user: [] for user in sorted(wanted)}, "timeout": 10_000}
            reply = await self._call("POST", ["keys", "query"], body)
            response = KeysQueryResponse.from_dict(reply)
            if not isinstance(response, KeysQueryResponse):
                log.warning("Matrix: an odd answer to a key query")
                return
            olm.handle_response(response)
            for user in wanted - set(response.device_keys):
                olm.users_for_key_query.discard(user)  # unknown to the homeserver
            # a member's devices changed: the next message in their rooms gets a new key
            changed = set(response.changed)
            if changed:
                for room_id in list(self._shared_members):
                    if changed & self._shared_members[room_id]:
                        self._rotate(room_id)

    async def _claim_keys(self, devices: Mapping[str, Iterable[str]]) -> None:
        olm = self.olm
        wanted = {user: list(ids) for user, ids in devices.items() if ids}
        if not wanted:
            return
        async with self._keys_lock:
            body = {
                "one_time_keys": {
                    user: {device: "signed_curve25519" for device in ids}
                    for user, ids in wanted.items()
                },
                "timeout": 10_000,
            }
            reply = await self._call("POST", ["keys", "claim"], body)
            response = KeysClaimResponse.from_dict(reply)
            if isinstance(response, KeysClaimResponse):
                olm.handle_response(response)

    async def _send_to_device(self, event_type: str, body: Mapping[str, Any]) -> None:
        txn_id = uuid.uuid4().hex
        await self._call("PUT", ["sendToDevice", event_type, txn_id], body)

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
            await self._query_keys(untracked)
        missing = olm.get_missing_sessions(sorted(members))
        if missing:
            await self._claim_keys(missing)
        shared: set[tuple[str, str]] = set()
        for sharing_with, to_device in olm.share_group_session_parallel(
            room_id, sorted(members), ignore_unverified_devices=True
        ):
            await self._send_to_device(ENCRYPTED, to_device)
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


def fingerprint(key: str) -> str:
    """ "abcdefgh..." -> "abcd efgh ..." (Element's way to show a session key)."""
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))
