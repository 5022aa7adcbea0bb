"""The bot device's keys for end-to-end encryption, on matrix-nio's Olm machine
(vodozemac): the account and its store, the keys traded with the homeserver, and the
to-device events of each sync. ``crypto`` builds on it to decrypt and encrypt room events.

- **The bot's device keys persist**: the Olm account, the Olm sessions with other
  devices and the room keys (inbound group sessions) live in nio's SQLite store in a
  folder next to the bot's database (``<db>.matrix-crypto/``), one file per
  user+device. The adapter reuses its device at every start and never logs out, so
  the keys people's clients know stay valid.
- **Keys** are uploaded at the start and whenever the homeserver's one-time key count
  runs low (``device_one_time_keys_count`` in each sync), queried for the members of
  encrypted rooms (and again when ``device_lists.changed`` names them), and claimed
  for devices without an Olm session before a room key is shared with them.
- **Sync**: ``receive`` takes the sync's to-device events (Olm-encrypted room keys, key
  requests) before its timeline is looked at, so a key and the message it opens may
  come in the same sync.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from chatbot.adapters.matrix.http import MatrixApi, MatrixError, TransportError

log = logging.getLogger(__name__)

try:  # the e2e extra of matrix-nio (vodozemac); without it the adapter cannot encrypt
    from nio.crypto import Olm
    from nio.events import ForwardedRoomKeyEvent, RoomKeyEvent, ToDeviceEvent
    from nio.responses import KeysClaimResponse, KeysQueryResponse, KeysUploadResponse
    from nio.store import DefaultStore, SqliteMemoryStore

    AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the installation
    AVAILABLE = False

KEY_RETRY_ATTEMPTS = 3
STORE_SUFFIX = ".matrix-crypto"


def store_dir(database_path: str) -> str | None:
    """Where the crypto store lives: a folder next to the database file; None for an
    in-memory database (then the keys live as long as the process)."""
    if not database_path or database_path == ":memory:":
        return None
    return str(Path(database_path).with_name(Path(database_path).name + STORE_SUFFIX))


class DeviceKeys:
    """The Olm account of the logged-in device and the keys it trades with the
    homeserver through the adapter's API. ``devices_changed`` is told the users whose
    devices a key query found changed (their rooms want a new room key)."""

    def __init__(
        self,
        api: MatrixApi,
        path: str | None,
        devices_changed: Callable[[set[str]], None],
        *,
        pickle_key: str = "",
    ) -> None:
        self.api = api
        self.path = path
        self.devices_changed = devices_changed
        self.pickle_key = pickle_key or "chatbot"
        self.olm: Any = None  # nio.crypto.Olm once opened
        self._lock = asyncio.Lock()

    def open(self) -> bool:
        """Load (or create) the Olm account of the logged-in device; False when it is
        open already."""
        user_id, device_id = self.api.user_id, self.api.device_id
        if not device_id:
            raise RuntimeError("the Matrix device id is not known")
        if self.olm is not None and self.olm.device_id == device_id:
            return False
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
        keys = self.olm.account.identity_keys
        log.info(
            "Matrix: end-to-end encryption on for device %s (ed25519 fingerprint %s)",
            device_id,
            fingerprint(keys["ed25519"]),
        )
        return True

    # --- sync -------------------------------------------------------------------------

    def receive(self, data: Mapping[str, Any]) -> bool:
        """The key parts of one sync: key counts, device list changes, to-device events;
        True if a room key came. What they call for is done by ``maintain``."""
        olm = self.olm
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
        return keys_arrived

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
                await self._upload()
            if olm.should_query_keys:
                await self.query()
            if olm.wedged_devices or olm.key_request_devices_no_session:
                await self.claim(olm.get_users_for_key_claiming())
            for message in list(olm.outgoing_to_device_messages):
                await self.send_to_device(message.type, message.as_dict())
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

    async def _upload(self) -> None:
        olm = self.olm
        async with self._lock:
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

    async def query(self, users: Iterable[str] = ()) -> None:
        """The devices of these users and of those the Olm machine wants to know again."""
        olm = self.olm
        async with self._lock:
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
            changed = set(response.changed)
            if changed:
                self.devices_changed(changed)

    async def claim(self, devices: Mapping[str, Iterable[str]]) -> None:
        """One-time keys of these devices, for Olm sessions with them."""
        olm = self.olm
        wanted = {user: list(ids) for user, ids in devices.items() if ids}
        if not wanted:
            return
        async with self._lock:
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

    async def send_to_device(self, event_type: str, body: Mapping[str, Any]) -> None:
        txn_id = uuid.uuid4().hex
        await self._call("PUT", ["sendToDevice", event_type, txn_id], body)


def fingerprint(key: str) -> str:
    """ "abcdefgh..." -> "abcd efgh ..." (Element's way to show a session key)."""
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))
