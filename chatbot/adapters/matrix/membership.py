"""Rooms' lives: members joining and leaving, the bot joining, invites, leaving, room
upgrades (tombstones), and the rooms nothing is to be sent to any more ("gone").

A room upgrade moves the city group only once the bot has joined the new room and its
m.room.create names the old one as predecessor; otherwise the group stays and the bot
asks in the old room for an invite (an invite later completes the move).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from chatbot.adapters.matrix.http import MatrixError, TransportError, server_of
from chatbot.adapters.matrix.mapping import PLATFORM
from chatbot.adapters.matrix.rooms import RoomState, membership_change, section_events
from chatbot.core.actions import SendText
from chatbot.core.events import ChatRef, Event, MemberJoined, MemberLeft, Person, PersonRef

if TYPE_CHECKING:
    from chatbot.adapters.matrix.adapter import MatrixAdapter

log = logging.getLogger(__name__)

ROOM_LINK = "https://matrix.to/#/{}"


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


class Membership:
    """Who is in which room, the bot included; which rooms are gone."""

    def __init__(self, adapter: MatrixAdapter) -> None:
        self.adapter = adapter
        self.gone: set[str] = set()  # rooms the bot left / was removed from / replaced
        self._gone_checked: set[str] = set()
        self.quiet: set[str] = set()  # rooms where the bot's own join is not greeted
        self._noticed_encryption: set[str] = set()

    async def member_event(self, room: RoomState, event: Mapping[str, Any], event_id: str) -> None:
        target = event.get("state_key")
        if not isinstance(target, str):
            return None
        now, before = membership_change(event)
        if target == self.adapter.user_id:
            if now == "join" and before != "join":
                return await self._bot_joined(room, event, event_id)
            return None
        person = Person(PersonRef(PLATFORM, target), room.display_name(target))
        origin = self.adapter.timeline.origin(room, event)
        core: Event
        if now == "join" and before != "join":
            core = MemberJoined(origin, person)
        elif now in ("leave", "ban") and before == "join":
            core = MemberLeft(origin, person)
        else:
            return None
        await self.adapter.dispatch(event_id, core)

    async def _bot_joined(self, room: RoomState, event: Mapping[str, Any], event_id: str) -> None:
        await self.set_gone(room.room_id, None)
        async with self.adapter.repo.atomic():
            await self.adapter.repo.cities.set_chat_active(ChatRef(PLATFORM, room.room_id), True)
        if room.encrypted and self.adapter.crypto is None:
            await self.encryption_notice(room.room_id)
            return None
        created_by_me = room.create is not None and room.create.sender == self.adapter.user_id
        if room.room_id in self.quiet or created_by_me:
            return None  # a direct room the bot opened, or a room upgrade: no greeting
        me = Person(
            PersonRef(PLATFORM, self.adapter.user_id), room.display_name(self.adapter.user_id)
        )
        await self.adapter.dispatch(
            event_id, MemberJoined(self.adapter.timeline.origin(room, event), me, True)
        )

    # --- invites, leaving, upgrades ---------------------------------------------------

    async def invited(self, room_id: str, info: Mapping[str, Any]) -> None:
        mine: Mapping[str, Any] = {}
        for event in section_events(info.get("invite_state")):
            if (
                event.get("type") == "m.room.member"
                and event.get("state_key") == self.adapter.user_id
            ):
                mine = event
        inviter = mine.get("sender") if isinstance(mine.get("sender"), str) else None
        content = mine.get("content") or {}
        if not is_allowed(inviter, self.adapter.allowed):
            log.info("Matrix: declining the invite to %s from %s (not allowed)", room_id, inviter)
            try:
                await self.adapter.api.leave(room_id)
            except (MatrixError, TransportError) as error:
                log.warning("Matrix: declining the invite to %s failed: %s", room_id, error)
            return
        via = [server_of(inviter or ""), server_of(room_id)]
        upgrade = await self.adapter.repo.ledger.platform_value(PLATFORM, "upgrade:" + room_id)
        if upgrade:
            self.quiet.add(room_id)  # the successor of a city's room: no greeting
        if not await self._join(room_id, via):
            return
        if upgrade:
            await self._complete_upgrade(room_id)
        if isinstance(content, dict) and content.get("is_direct") and inviter:
            await self.adapter.direct_rooms.add(inviter, room_id)
            if await self.adapter.repo.ledger.platform_value(PLATFORM, "dm_refused:" + inviter):
                async with self.adapter.repo.atomic():  # a new direct chat: messages welcome again
                    await self.adapter.repo.ledger.set_platform_value(
                        PLATFORM, "dm_refused:" + inviter, ""
                    )

    async def _join(self, room_id: str, via: Iterable[str]) -> bool:
        servers = [s for s in via if s]
        for attempt in range(1, 4):
            try:
                await self.adapter.api.join(room_id, servers)
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

    async def left_room(self, room_id: str, info: Mapping[str, Any]) -> None:
        mine: Mapping[str, Any] = {}
        for event in [*section_events(info.get("state")), *section_events(info.get("timeline"))]:
            if (
                event.get("type") == "m.room.member"
                and event.get("state_key") == self.adapter.user_id
            ):
                mine = event
        membership, _ = membership_change(mine) if mine else ("leave", None)
        was_joined = room_id in self.adapter.rooms
        await self.set_gone(room_id, membership or "leave")
        remover = mine.get("sender") if mine else None
        if isinstance(remover, str) and room_id in self.adapter.direct.get(remover, []):
            # kicked or banned from a direct room by its person: no more direct messages
            # (no new room behind their back) until they open one with the bot again
            log.info("Matrix: %s removed the bot from their direct room", remover)
            async with self.adapter.repo.atomic():
                await self.adapter.repo.ledger.set_platform_value(
                    PLATFORM, "dm_refused:" + remover, room_id
                )
        async with self.adapter.repo.atomic():  # no more posts there (schedule, other chats' news)
            await self.adapter.repo.cities.set_chat_active(ChatRef(PLATFORM, room_id), False)
        self.adapter.rooms.pop(room_id, None)
        if not was_joined:
            return
        log.info("Matrix: the bot is out of %s (%s)", room_id, membership)
        event_id = mine.get("event_id") if isinstance(mine.get("event_id"), str) else None
        if event_id is None:
            return
        room = RoomState(room_id)
        origin = self.adapter.timeline.origin(room, mine)
        me = Person(PersonRef(PLATFORM, self.adapter.user_id), self.adapter.user_id)
        await self.adapter.dispatch(event_id, MemberLeft(origin, me, is_the_bot=True))

    async def follow_tombstone(self, room: RoomState, event: Mapping[str, Any]) -> None:
        """The room was upgraded: the city group moves to the new room once the bot has
        joined it and its m.room.create names this room as its predecessor. Until then
        it stays here, and the bot asks here for an invite to the new room (an invite
        later completes the move, see ``invited``)."""
        content = event.get("content") or {}
        new = content.get("replacement_room")
        if not isinstance(new, str) or not new or new == room.room_id:
            return
        old = room.room_id
        log.info("Matrix: %s was replaced by %s", old, new)
        self.quiet.add(new)
        async with self.adapter.repo.atomic():
            await self.adapter.repo.ledger.set_platform_value(PLATFORM, "upgrade:" + new, old)
        joined = (
            new in self.adapter.rooms
            and self.adapter.rooms[new].memberships.get(self.adapter.user_id) == "join"
        )
        via = [server_of(str(event.get("sender", ""))), server_of(old)]
        if joined or await self._join(new, via):
            if await self._complete_upgrade(new):
                return
            if not joined:  # a room that does not continue this one: not the bot's place
                await self.drop_room(new)
        await self._ask_for_invite(old, new)

    async def _complete_upgrade(self, new: str) -> bool:
        """Move the city group into ``new`` if the bot awaits it as the successor of a
        room and ``new``'s m.room.create names that room as predecessor."""
        old = await self.adapter.repo.ledger.platform_value(PLATFORM, "upgrade:" + new)
        if not old:
            return False
        try:
            create = await self.adapter.retrying(
                lambda: self.adapter.api.state_event(new, "m.room.create")
            )
        except (MatrixError, TransportError) as error:
            log.warning("Matrix: could not read how %s was created: %s", new, error)
            return False
        predecessor = (create or {}).get("predecessor")
        named = predecessor.get("room_id") if isinstance(predecessor, dict) else None
        async with self.adapter.repo.atomic():
            await self.adapter.repo.ledger.set_platform_value(PLATFORM, "upgrade:" + new, "")
        if named != old:
            log.warning("Matrix: %s does not continue %s; the city group stays there", new, old)
            return False
        log.info("Matrix: the city group moves from %s to %s", old, new)
        async with self.adapter.repo.atomic():
            await self.adapter.repo.cities.move_chat(ChatRef(PLATFORM, old), ChatRef(PLATFORM, new))
        await self.set_gone(old, "tombstone")
        for user, rooms in list(self.adapter.direct.items()):
            if old in rooms:
                await self.adapter.direct_rooms.add(user, new)
        return True

    async def _ask_for_invite(self, old: str, new: str) -> None:
        """In the replaced room: the bot could not follow; please invite it."""
        text = await self.adapter.bot.notice("upgrade_invite", ChatRef(PLATFORM, old))
        text = text.format(link=ROOM_LINK.format(new))
        await self.adapter.runtime.deliver([SendText(ChatRef(PLATFORM, old), text)])

    # --- gone rooms, the encryption notice --------------------------------------------

    async def drop_room(self, room_id: str) -> None:
        """Leave and forget a room the bot has no business in (nothing is told: the
        core never knew it)."""
        self.adapter.rooms.pop(room_id, None)
        for step in (self.adapter.api.leave, self.adapter.api.forget):
            try:
                await step(room_id)
            except (MatrixError, TransportError) as error:
                log.warning("Matrix: could not leave %s: %s", room_id, error)

    async def set_gone(self, room_id: str, reason: str | None) -> None:
        """Remember (persistently) that nothing is to be sent to a room any more, or that
        the bot is back in it (reason None)."""
        self._gone_checked.add(room_id)
        if reason is None:
            if room_id not in self.gone and not await self.adapter.repo.ledger.platform_value(
                PLATFORM, "left:" + room_id
            ):
                return
            self.gone.discard(room_id)
            value = ""
        else:
            self.gone.add(room_id)
            value = reason
        async with self.adapter.repo.atomic():
            await self.adapter.repo.ledger.set_platform_value(PLATFORM, "left:" + room_id, value)

    async def may_send(self, room_id: str) -> bool:
        if room_id not in self._gone_checked:
            self._gone_checked.add(room_id)
            if await self.adapter.repo.ledger.platform_value(PLATFORM, "left:" + room_id):
                self.gone.add(room_id)
        if room_id in self.gone:
            log.info("Matrix: not sending to %s: the bot is no longer there", room_id)
            return False
        return True

    async def encryption_notice(self, room_id: str) -> None:
        """Once per room: say that encrypted rooms do not work (yet)."""
        key = "encryption_notice:" + room_id
        if room_id in self._noticed_encryption:
            return
        self._noticed_encryption.add(room_id)
        if await self.adapter.repo.ledger.platform_value(PLATFORM, key):
            return
        async with self.adapter.repo.atomic():
            await self.adapter.repo.ledger.set_platform_value(PLATFORM, key, "1")
        text = await self.adapter.bot.notice("encrypted_room", ChatRef(PLATFORM, room_id))
        log.warning("Matrix: %s is encrypted; the bot cannot read it", room_id)
        await self.adapter.runtime.deliver([SendText(ChatRef(PLATFORM, room_id), text)])
