"""Who is an admin of a Matrix room, as the room's power levels say.

Rule (documented in the adapter's README section of the report and here):

- An admin is a user whose power level is at or above the room's level for state
  events, ``state_default`` (50 unless the room says otherwise) -- the level needed to
  change the room's settings. Moderators at 50 in an Element room therefore count, like
  Telegram administrators do. The ``events`` override for ``m.room.power_levels``
  itself (100 in Element rooms) is deliberately NOT used: it would make only the room's
  owners admins and moderators never.
- In room versions with "creator power" (12 and the hydra test version; MSC4289) the
  creators -- the sender of ``m.room.create`` and its ``additional_creators`` -- have
  unlimited power and are not listed in ``users``: they are always admins.
- A room without ``m.room.power_levels`` (rare; the spec then gives the creator 100 and
  lets everyone send state events at 0): creators are admins, everyone else is too,
  since anyone may change the room's state there.

Power levels are read fresh from the homeserver for every check (never cached), so a
change of rights counts at once. ``m.room.create`` never changes and is cached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_STATE_LEVEL = 50  # when m.room.power_levels exists but omits state_default


@dataclass(frozen=True)
class RoomCreate:
    """What an ``m.room.create`` event says about power."""

    sender: str
    room_version: str
    additional_creators: tuple[str, ...] = ()

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> RoomCreate:
        content = event.get("content") or {}
        extra = content.get("additional_creators") or ()
        return cls(
            sender=str(event.get("sender", "")),
            room_version=str(content.get("room_version") or "1"),
            additional_creators=tuple(str(u) for u in extra if isinstance(u, str)),
        )

    @property
    def creators_have_power(self) -> bool:
        """Room versions where creators have unlimited power (MSC4289)."""
        version = self.room_version
        if version.isdigit():
            return int(version) >= 12
        return version.startswith("org.matrix.hydra.")

    def is_creator(self, user_id: str) -> bool:
        return user_id == self.sender or user_id in self.additional_creators


def _level(value: Any, default: int) -> int:
    """Power levels are integers; old rooms may carry them as strings."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


def user_level(levels: Mapping[str, Any], user_id: str) -> int:
    users = levels.get("users") or {}
    default = _level(levels.get("users_default"), 0)
    return _level(users.get(user_id), default) if isinstance(users, dict) else default


def is_admin(levels: Mapping[str, Any] | None, create: RoomCreate | None, user_id: str) -> bool:
    """The rule above. ``levels``: the content of m.room.power_levels (None: no event)."""
    if create is not None and create.creators_have_power and create.is_creator(user_id):
        return True
    if levels is None:
        return True  # no power levels: anyone may send state events (spec)
    needed = _level(levels.get("state_default"), DEFAULT_STATE_LEVEL)
    return user_level(levels, user_id) >= needed
