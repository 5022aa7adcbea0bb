"""Bridges: a Matrix room that a bridge joins to a Telegram group the bot serves itself.

When one city is a Telegram group and a Matrix room linked in the bot (`/link`) and a
bridge (mautrix-telegram, matterbridge, …) also joins the two chats, every message from
Telegram arrives in the Matrix room a second time: as a bridge "ghost" user
(`@telegram_123:example.org`, mautrix-telegram), or posted by one relay account with
the person's name in front ("[telegram] <anna> /heute", matterbridge). The bot answers
the original on Telegram; here the copy is ignored, so each command is answered once, on
the side it was written. The bot's own messages on Matrix are `m.notice`, which bridges
do not forward by default, so its answers do not come back the other way.

A message counts as relayed when its sender matches the ghost pattern
(`CHATBOT_MATRIX_BRIDGE_GHOSTS`), when it is the bridge bot of an `m.bridge` state event
(MSC2346) in the room naming one of `CHATBOT_MATRIX_BRIDGE_PROTOCOLS`, or a user on the
bridge bot's server named like that protocol's ghosts ("telegram_…"), or when its body
starts like a relay's (`CHATBOT_MATRIX_BRIDGE_RELAYS`). It is ignored only if the room
belongs to a city that the bot also serves on that platform: with no linked Telegram
chat (or no Telegram token) the bridge is the only way Telegram users reach the bot, and
their commands are answered in the room.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from chatbot.config import Settings
from chatbot.core.events import ChatRef
from chatbot.core.model import CityGroup

if TYPE_CHECKING:
    from chatbot.adapters.matrix.rooms import RoomState

log = logging.getLogger(__name__)

# MSC2346 and the older name mautrix and matrix-appservice bridges still send
BRIDGE_STATE_TYPES = ("m.bridge", "uk.half-shot.bridge")
# what an m.bridge protocol is called as a platform of the bot
PLATFORMS = {"telegram": "telegram"}


class Chats(Protocol):
    """What the filter reads: whether a room's city has a chat on another platform."""

    async def group_for_chat(self, chat: ChatRef) -> CityGroup | None: ...
    async def chats_of_group(self, group_id: int) -> Sequence[ChatRef]: ...


def compile_pattern(value: str) -> re.Pattern[str] | None:
    """A setting's regular expression; empty: none."""
    return re.compile(value) if value.strip() else None


def bridge_of(content: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(protocol id in lower case, bridge bot user id) of an m.bridge state event."""
    protocol = content.get("protocol")
    name: object = None
    if isinstance(protocol, dict):
        name = protocol.get("id") or protocol.get("displayname")
    bot = content.get("bridgebot")
    return (
        name.strip().lower() if isinstance(name, str) and name.strip() else None,
        bot if isinstance(bot, str) else None,
    )


def server_of(user_id: str) -> str:
    return user_id.partition(":")[2]


@dataclass(frozen=True)
class BridgeRules:
    ghosts: re.Pattern[str] | None
    relays: re.Pattern[str] | None
    protocols: frozenset[str]
    served: frozenset[str] = field(default_factory=frozenset)  # platforms the bot serves

    @classmethod
    def from_settings(cls, settings: Settings) -> BridgeRules:
        served = {"matrix"}
        if settings.telegram_token is not None:
            served.add("telegram")
        return cls(
            ghosts=compile_pattern(settings.matrix_bridge_ghosts),
            relays=compile_pattern(settings.matrix_bridge_relays),
            protocols=frozenset(
                p.strip().lower() for p in settings.matrix_bridge_protocols.split(",") if p.strip()
            ),
            served=frozenset(served),
        )

    def looks_relayed(self, room: RoomState, event: Mapping[str, Any]) -> str | None:
        """The platform the message was relayed from ("telegram"), by its sender or its
        body; None: written in Matrix."""
        sender = event.get("sender")
        if not isinstance(sender, str):
            return None
        if self.ghosts is not None and self.ghosts.search(sender):
            return self._platform_of(self.ghosts.pattern)
        for content in room.bridges.values():
            protocol, bot = bridge_of(content)
            if protocol not in self.protocols or bot is None:
                continue
            ghost = sender.startswith(f"@{protocol}_") and server_of(sender) == server_of(bot)
            if sender == bot or ghost:
                return PLATFORMS.get(protocol, protocol)
        body = (event.get("content") or {}).get("body")
        if self.relays is not None and isinstance(body, str) and self.relays.search(body):
            return self._platform_of(self.relays.pattern)
        return None

    def _platform_of(self, pattern: str) -> str:
        """The platform a configured pattern names ("telegram" in "^@telegram_\\d+:");
        a pattern that names none counts for every platform the bot serves besides
        Matrix."""
        lowered = pattern.lower()
        for protocol, platform in PLATFORMS.items():
            if protocol in lowered:
                return platform
        return "*"


class BridgeFilter:
    """The adapter's question for each timeline event: is this a bridge's copy of a
    message that the bot gets (and answers) on the other platform itself?"""

    def __init__(self, rules: BridgeRules, chats: Chats) -> None:
        self.rules = rules
        self.chats = chats

    async def relayed(self, room: RoomState, event: Mapping[str, Any]) -> bool:
        source = self.rules.looks_relayed(room, event)
        if source is None:
            return False
        if source != "*" and source not in self.rules.served:
            return False  # the bot is not on that platform: the bridge is the way in
        group = await self.chats.group_for_chat(ChatRef("matrix", room.room_id))
        if group is None:
            return False
        linked = {c.platform for c in await self.chats.chats_of_group(group.id)}
        others = linked & self.rules.served - {"matrix"}
        if source in others or (source == "*" and others):
            log.debug("Matrix: ignoring %s, relayed from %s", event.get("event_id"), source)
            return True
        return False
