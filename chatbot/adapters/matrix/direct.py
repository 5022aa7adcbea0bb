"""Direct rooms: m.direct, the bot's direct room with a person, direct messages.

A direct room the bot opens is created without invite, recorded in m.direct, then the
person is invited with ``is_direct`` on the member event (what Element reads); a
recorded room whose invite never went out is reused; a refused invite leaves and
forgets the room and the person is unreachable. One room per person, and a person's
messages in order.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from chatbot.adapters.base import RetryAfter, Unreachable
from chatbot.adapters.matrix import mapping
from chatbot.adapters.matrix.http import MatrixError, TransportError
from chatbot.adapters.matrix.mapping import PLATFORM
from chatbot.core.actions import DirectMessage

if TYPE_CHECKING:
    from chatbot.adapters.matrix.adapter import MatrixAdapter

log = logging.getLogger(__name__)

ROOM_CREATE_ATTEMPTS = 3


class DirectRooms:
    """The bot's direct rooms (the m.direct map itself is ``adapter.direct``)."""

    def __init__(self, adapter: MatrixAdapter) -> None:
        self.adapter = adapter
        self._locks: dict[str, asyncio.Lock] = {}

    async def load(self) -> None:
        try:
            self.set_direct(await self.adapter.api.account_data("m.direct"))
        except (MatrixError, TransportError) as error:
            log.warning("Matrix: could not read m.direct: %s", error)

    def set_direct(self, content: Any) -> None:
        if not isinstance(content, dict):
            return
        self.adapter.direct = {
            user: [r for r in rooms if isinstance(r, str)]
            for user, rooms in content.items()
            if isinstance(user, str) and isinstance(rooms, list)
        }

    async def add(self, user_id: str, room_id: str, *, strict: bool = False) -> None:
        """Record a direct room in m.direct; ``strict``: a failure raises (and the room
        is not recorded in memory either), otherwise it is logged."""
        rooms = self.adapter.direct.setdefault(user_id, [])
        if room_id in rooms:
            return
        rooms.append(room_id)
        try:
            await self.adapter.api.set_account_data("m.direct", self.adapter.direct)
        except (MatrixError, TransportError) as error:
            if strict:
                rooms.remove(room_id)
                raise
            log.warning("Matrix: could not record the direct room %s: %s", room_id, error)

    async def room_for(self, user_id: str) -> str:
        """The bot's direct room with this person: an existing one, or a new one.
        Raises ``Unreachable`` when the person left or refused it (no new room is
        pushed on them; they get one again by opening a direct chat with the bot), or
        when the homeserver refuses the invite (the new room is left and forgotten).

        A new room is created without invite, recorded in m.direct, and only then is
        the person invited (with ``is_direct``, as Element's direct chats are): a
        restart in between finds the recorded room and invites them into it."""
        refused = False
        uninvited = None
        for room_id in reversed(self.adapter.direct.get(user_id, [])):
            room = self.adapter.rooms.get(room_id)
            if room is None or room_id in self.adapter.membership.gone:
                continue
            if room.memberships.get(self.adapter.user_id) != "join":
                continue
            membership = room.memberships.get(user_id)
            if membership in ("join", "invite"):
                return room_id
            if membership is None and uninvited is None:
                uninvited = room_id  # recorded, but the invite never went out
            refused = refused or membership in ("leave", "ban")
        if refused:
            raise Unreachable(f"{user_id} left the direct room with the bot")
        if await self.adapter.repo.ledger.platform_value(PLATFORM, "dm_refused:" + user_id):
            raise Unreachable(f"{user_id} removed the bot from the direct room")
        room_id = uninvited or await self._new_room(user_id)
        await self._invite(user_id, room_id)
        self.adapter.room(room_id).memberships[user_id] = "invite"
        log.info("Matrix: opened a direct room with %s", user_id)
        return room_id

    async def _new_room(self, user_id: str) -> str:
        """Create a direct room (no invite yet) and record it in m.direct."""
        body = {
            "is_direct": True,
            "preset": "trusted_private_chat",
            # room version 12: the person is a creator too, as in Element's direct chats
            "creation_content": {"additional_creators": [user_id]},
        }
        try:
            room_id: str = await self._attempts(lambda: self.adapter.api.create_room(body))
        except MatrixError as error:
            log.warning("Matrix: no direct room with %s: %s", user_id, error.errcode)
            raise Unreachable(f"{user_id}: {error.errcode}") from None
        self.adapter.membership.quiet.add(room_id)
        room = self.adapter.room(room_id)
        room.memberships.setdefault(self.adapter.user_id, "join")
        if self.adapter.crypto is not None:  # the homeserver may encrypt new rooms by default
            try:
                encryption = await self.adapter.api.state_event(room_id, "m.room.encryption")
                room.encrypted = room.encrypted or bool(encryption and encryption.get("algorithm"))
            except (MatrixError, TransportError) as error:
                log.warning("Matrix: could not read the encryption of %s: %s", room_id, error)
        try:
            await self.add(user_id, room_id, strict=True)
        except (MatrixError, TransportError) as error:
            log.warning("Matrix: could not record the direct room %s: %s", room_id, error)
            await self._drop(user_id, room_id)
            if isinstance(error, MatrixError) and error.rate_limited:
                raise RetryAfter((error.retry_after_ms or 1000) / 1000) from None
            raise
        return room_id

    async def _invite(self, user_id: str, room_id: str) -> None:
        """Invite the person into their direct room. Refused for good (they block
        invites, the account is gone): the room is left and forgotten, and the person
        is ``Unreachable``. A rate limit or a passing failure keeps the recorded room
        for the next try."""
        try:
            await self._attempts(lambda: self.adapter.api.invite(room_id, user_id, is_direct=True))
        except MatrixError as error:
            log.warning("Matrix: %s could not be invited: %s", user_id, error.errcode)
            await self._drop(user_id, room_id)
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

    async def _drop(self, user_id: str, room_id: str) -> None:
        """Leave and forget a direct room nobody was invited to, and unrecord it."""
        await self.adapter.membership.set_gone(room_id, "leave")
        await self.adapter.membership.drop_room(room_id)
        rooms = self.adapter.direct.get(user_id, [])
        if room_id in rooms:
            rooms.remove(room_id)
            if not rooms:
                del self.adapter.direct[user_id]
            try:
                await self.adapter.api.set_account_data("m.direct", self.adapter.direct)
            except (MatrixError, TransportError) as error:
                log.warning("Matrix: could not unrecord the direct room %s: %s", room_id, error)

    async def message(self, action: DirectMessage, txn_id: str) -> None:
        user_id = action.person.id
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        async with lock:  # one room per person, and messages in order
            room_id = await self.room_for(user_id)
            content = mapping.text_content(action.text, action.buttons)
            # the outbox id as transaction id: a retry after a crash is not posted twice
            if action.key:
                txn_id = f"dm-{action.key}"
            event_id = None
            if await self.adapter.membership.may_send(room_id):
                event_id = await self.adapter.send(room_id, "m.room.message", content, txn_id)
        if event_id is None:
            raise RuntimeError(f"the direct message to {user_id} was not delivered")
