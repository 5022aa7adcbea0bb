"""What the adapter knows about each joined room, built from the sync's state events
(and two readers of a sync's dicts: a section's events, a member event's change).

The first sync after every start asks for the full state, so this is complete without
being stored. Power levels are NOT kept here: admin checks read them fresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chatbot.adapters.matrix.admins import RoomCreate
from chatbot.adapters.matrix.bridges import BRIDGE_STATE_TYPES


def section_events(section: Any) -> list[dict[str, Any]]:
    """The event dicts of a sync section ({"events": [...]})."""
    if not isinstance(section, dict):
        return []
    events = section.get("events")
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []


def membership_change(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(membership now, membership before) of an m.room.member event."""
    content = event.get("content") or {}
    unsigned = event.get("unsigned") or {}
    previous = unsigned.get("prev_content") or event.get("prev_content") or {}
    now = content.get("membership") if isinstance(content, dict) else None
    before = previous.get("membership") if isinstance(previous, dict) else None
    return (now if isinstance(now, str) else None, before if isinstance(before, str) else None)


def localpart(user_id: str) -> str:
    """ "@anna:example.org" -> "anna"."""
    return user_id.removeprefix("@").partition(":")[0] or user_id


@dataclass
class RoomState:
    room_id: str
    memberships: dict[str, str] = field(default_factory=dict)  # user id -> membership
    names: dict[str, str] = field(default_factory=dict)  # user id -> display name
    encrypted: bool = False
    create: RoomCreate | None = None
    name: str | None = None  # m.room.name
    bridges: dict[str, dict[str, Any]] = field(default_factory=dict)  # m.bridge by state key

    def apply(self, event: Mapping[str, Any]) -> None:
        """Take a state event into account (events without state_key are ignored)."""
        state_key = event.get("state_key")
        if not isinstance(state_key, str):
            return
        content = event.get("content") or {}
        kind = event.get("type")
        if kind == "m.room.member":
            membership = content.get("membership")
            if isinstance(membership, str):
                self.memberships[state_key] = membership
            name = content.get("displayname")
            if isinstance(name, str) and name.strip():
                self.names[state_key] = name.strip()
            else:
                self.names.pop(state_key, None)
        elif kind == "m.room.encryption" and content.get("algorithm"):
            self.encrypted = True
        elif kind == "m.room.create":
            self.create = RoomCreate.from_event(event)
        elif kind == "m.room.name":
            name = content.get("name")
            self.name = name.strip() if isinstance(name, str) and name.strip() else None
        elif kind in BRIDGE_STATE_TYPES:
            if isinstance(content, dict) and content:
                self.bridges[state_key] = content
            else:
                self.bridges.pop(state_key, None)

    def member_count(self) -> int:
        """Joined plus invited members (who will read what is sent now)."""
        return sum(1 for m in self.memberships.values() if m in ("join", "invite"))

    def display_name(self, user_id: str) -> str:
        return self.names.get(user_id) or localpart(user_id)
