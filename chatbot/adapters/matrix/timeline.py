"""A joined room's timeline events: to the core's events, through the runtime.

Messages (commands, with Element's mentions), live locations (their first point), member
events, poll starts/responses/ends, tombstones; encrypted events decrypted first (one
whose room key comes late waits for it, see ``Timeline._encrypted``); an edit
(``m.replace``) of a rejected command tries it again; what a bridge relays from a
Telegram group the bot serves is ignored (``bridges.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from chatbot.adapters.matrix import crypto, mapping
from chatbot.adapters.matrix.mapping import PLATFORM, PREFIX
from chatbot.adapters.matrix.rooms import RoomState, localpart
from chatbot.core.actions import Action, SendText
from chatbot.core.events import ChatRef, CommandEvent, Event, Origin, Person, PersonRef, TextEvent

if TYPE_CHECKING:
    from chatbot.adapters.matrix.adapter import MatrixAdapter

log = logging.getLogger(__name__)

EDIT_WINDOW = 300.0  # seconds: an edit of a rejected command is acted on within that


class Timeline:
    """One room's timeline events, and who and where they come from (``origin``)."""

    def __init__(self, adapter: MatrixAdapter) -> None:
        self.adapter = adapter
        self._rejected: dict[str, tuple[str, float]] = {}  # command id -> (sender, when)

    async def event(self, room: RoomState, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        sender = event.get("sender")
        event_id = event.get("event_id")
        content = event.get("content")
        if not (isinstance(event_id, str) and isinstance(sender, str)):
            return None
        if not isinstance(content, dict) or "redacted_because" in (event.get("unsigned") or {}):
            return None
        if kind == "m.room.member":
            return await self.adapter.membership.member_event(room, event, event_id)
        if kind == "m.room.encrypted":  # --- hook: end-to-end encryption
            return await self._encrypted(room, event, event_id)
        if kind == "m.room.encryption":
            if self.adapter.crypto is None:
                await self.adapter.membership.encryption_notice(room.room_id)
            return None
        if kind == "m.room.tombstone" and event.get("state_key") == "":
            if not await self.adapter.seen(event_id):
                await self.adapter.membership.follow_tombstone(room, event)
                await self.adapter.mark(event_id)
            return None
        if sender == self.adapter.user_id:
            if kind in mapping.POLL_START_TYPES and isinstance(content.get(mapping.POLL_KEY), str):
                await self.adapter.polls.own(room.room_id, event_id, content)
            return None
        if await self.adapter.bridges.relayed(room, event):
            return None  # a bridge's copy of a message the bot answers on the other side
        origin = self.origin(room, event)
        if kind in mapping.POLL_END_TYPES:  # a moderator ended the bot's poll in Element
            return await self.adapter.polls.ended(event_id, content, origin)
        if kind in mapping.POLL_RESPONSE_TYPES:
            return await self.adapter.polls.response(event_id, event, origin)
        if kind == "m.room.message":
            rel_type, original = mapping.relation(content)
            if rel_type == "m.replace" and original:  # --- hook: Element's edits
                return await self._edited(room, event, original, origin)
            core = mapping.message_event(
                event, origin, me=self.adapter.user_id, my_names=self._my_names(room)
            )
            if isinstance(core, CommandEvent) and mapping.mentions(content, self.adapter.user_id):
                core = replace(core, addressed=True)
            if core is not None and not isinstance(core, TextEvent):  # plain text: nothing
                await self.adapter.dispatch(event_id, core)
            return None
        if kind in mapping.BEACON_TYPES:
            # a live location: only its first point is answered
            _, beacon_info = mapping.relation(content)
            core = mapping.location_event(content, origin, live=True)
            if core is not None:
                await self.adapter.dispatch("beacon:" + (beacon_info or event_id), core)
        return None

    async def _encrypted(self, room: RoomState, event: Mapping[str, Any], event_id: str) -> None:
        """An encrypted timeline event: handled as its plain event; one whose room key
        has not arrived yet is handled when it comes (within ``late_key_wait``). Its
        task is part of this sync's batch, so the sync token stays unsaved until then
        and a restart in between brings the event again."""
        if self.adapter.crypto is None:
            await self.adapter.membership.encryption_notice(room.room_id)
            return None
        plain = self.adapter.crypto.decrypt(room.room_id, event)
        if plain is not None:
            if plain.get("type") == crypto.ENCRYPTED:
                return None  # encrypted twice: nothing to act on
            return await self.event(room, plain)
        if event.get("sender") == self.adapter.user_id or await self.adapter.seen(event_id):
            return None
        log.info("Matrix: no room key yet for %s; waiting for it", event_id)
        task = asyncio.create_task(self._late_key(room, event, event_id))
        self.adapter._background.add(task)
        task.add_done_callback(self.adapter._background.discard)
        self.adapter.sync.waiting.append(task)
        return None

    async def _late_key(self, room: RoomState, event: Mapping[str, Any], event_id: str) -> None:
        assert self.adapter.crypto is not None
        plain = await self.adapter.crypto.wait_for_key(
            room.room_id, event, self.adapter.late_key_wait
        )
        if plain is None or plain.get("type") == crypto.ENCRYPTED:
            log.warning(
                "Matrix: %s could not be decrypted within %.0f s; it is skipped",
                event_id,
                self.adapter.late_key_wait,
            )
        else:
            log.info("Matrix: the room key for %s arrived", event_id)
            try:
                await self.event(room, plain)
            except Exception:
                log.exception("Matrix: handling event %s failed", event_id)
        await self.adapter.sync.commit_ready()

    def _my_names(self, room: RoomState) -> tuple[str, ...]:
        """How a mention pill of the bot reads in a message's plain text."""
        return (
            room.display_name(self.adapter.user_id),
            localpart(self.adapter.user_id),
            self.adapter.user_id,
        )

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
            me=self.adapter.user_id,
            my_names=self._my_names(room),
            edit=True,
        )
        if not isinstance(core, CommandEvent):
            return None
        await self.adapter.dispatch("edit:" + original, core)
        return None

    def remember_rejected(self, key: str, event: Event, actions: list[Action]) -> None:
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

    def origin(self, room: RoomState, event: Mapping[str, Any]) -> Origin:
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
        is_direct = any(room.room_id in rooms for rooms in self.adapter.direct.values())
        return is_direct and room.member_count() <= 2
