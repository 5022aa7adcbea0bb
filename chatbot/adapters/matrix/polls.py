"""Polls (MSC3381): the registry of the bot's poll start events, votes, poll ends.

Poll responses take the same path as messages: a ``VoteEvent`` per response,
deduplicated by event id. The poll start's event id is mapped to the core's poll
(``poll:<event id>``) when the send returns, and again when the bot's own start event
comes back in the sync (it carries the core's poll key), so a response is never handled
before its poll is known, whatever the timing of the send's answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chatbot.adapters.matrix import mapping
from chatbot.adapters.matrix.mapping import PLATFORM
from chatbot.core.actions import ClosePoll
from chatbot.core.events import CommandEvent, Origin, VoteEvent
from chatbot.core.model import PollState

if TYPE_CHECKING:
    from chatbot.adapters.matrix.adapter import MatrixAdapter

log = logging.getLogger(__name__)


class Polls:
    """The bot's polls in Matrix rooms."""

    def __init__(self, adapter: MatrixAdapter) -> None:
        self.adapter = adapter

    async def response(self, event_id: str, event: Mapping[str, Any], origin: Origin) -> None:
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
        await self.adapter.dispatch(event_id, VoteEvent(origin, str(poll["key"]), indexes))

    async def ended(self, event_id: str, content: Mapping[str, Any], origin: Origin) -> None:
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
            stored = await self.adapter.bot.repo.polls.poll(int(poll["key"]))
        except ValueError:
            return None
        if stored is None or stored.state != PollState.OPEN:
            return None
        await self.adapter.dispatch(event_id, CommandEvent(origin, "close", "", addressed=True))
        return None

    async def _poll_of(self, start_event_id: str) -> dict[str, Any] | None:
        value = await self.adapter.repo.ledger.platform_value(PLATFORM, "poll:" + start_event_id)
        if not value:
            return None
        try:
            poll = json.loads(value)
        except ValueError:
            return None
        return poll if isinstance(poll, dict) else None

    async def remember(self, room_id: str, event_id: str, poll_key: str, answers: int) -> None:
        """Map the poll start event to the core's poll, and back (for closing it)."""
        key = "poll:" + event_id
        if await self.adapter.repo.ledger.platform_value(PLATFORM, key):
            return
        value = json.dumps({"key": poll_key, "room": room_id, "answers": answers})
        async with self.adapter.repo.atomic():
            await self.adapter.repo.ledger.set_platform_value(PLATFORM, key, value)
            await self.adapter.repo.ledger.set_platform_value(
                PLATFORM, f"poll_event:{room_id}:{poll_key}", event_id
            )

    async def own(self, room_id: str, event_id: str, content: Mapping[str, Any]) -> None:
        """The bot's own poll start, back from the homeserver in the sync."""
        block = content.get(mapping.POLL_START)
        answers = block.get("answers") if isinstance(block, dict) else None
        if isinstance(answers, list):
            await self.remember(room_id, event_id, str(content[mapping.POLL_KEY]), len(answers))

    async def end_content(self, action: ClosePoll) -> dict[str, Any] | None:
        """The poll end for the start event of this poll in this room (None: the bot has
        not posted it here as a poll); its text is the core's."""
        room_id = action.chat.id
        start = await self.adapter.repo.ledger.platform_value(
            PLATFORM, f"poll_event:{room_id}:{action.poll_key}"
        )
        if not start:
            return None
        return mapping.poll_end_content(start, action.text)
