"""What the bot keeps only in memory, and only briefly: never written to the database.

A shared position is used for the answer and then forgotten, except that the last one
is kept for a few minutes so that `/open here` can use it; a radius asked for with
`/nearby 2` waits for the next location; an admin's `/venue add` without arguments
waits for a shared venue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from chatbot.core.events import ChatRef, PersonRef

KEEP = timedelta(minutes=15)


@dataclass
class ShortMemory:
    positions: dict[PersonRef, tuple[float, float, datetime]] = field(default_factory=dict)
    radii: dict[PersonRef, tuple[float, datetime]] = field(default_factory=dict)
    venue_adds: dict[tuple[ChatRef, PersonRef], datetime] = field(default_factory=dict)
    # (group id, local day) whose standing sessions have their rows already
    materialized: set[tuple[int, date]] = field(default_factory=set)

    def remember_position(self, person: PersonRef, lat: float, lon: float, at: datetime) -> None:
        self.positions[person] = (lat, lon, at)

    def position(self, person: PersonRef, now: datetime) -> tuple[float, float] | None:
        found = self.positions.get(person)
        if found is None or now - found[2] > KEEP:
            self.positions.pop(person, None)
            return None
        return found[0], found[1]

    def forget_position(self, person: PersonRef) -> None:
        self.positions.pop(person, None)

    def want_radius(self, person: PersonRef, km: float, at: datetime) -> None:
        self.radii[person] = (km, at)

    def take_radius(self, person: PersonRef, now: datetime) -> float | None:
        found = self.radii.pop(person, None)
        return found[0] if found and now - found[1] <= KEEP else None

    def want_venue(self, chat: ChatRef, person: PersonRef, at: datetime) -> None:
        self.venue_adds[(chat, person)] = at

    def take_venue(self, chat: ChatRef, person: PersonRef, now: datetime) -> bool:
        at = self.venue_adds.pop((chat, person), None)
        return at is not None and now - at <= KEEP

    def forget(self, person: PersonRef) -> None:
        """Everything about a person (for /forget)."""
        self.positions.pop(person, None)
        self.radii.pop(person, None)
        for key in [k for k in self.venue_adds if k[1] == person]:
            del self.venue_adds[key]

    def prune(self, now: datetime) -> None:
        for person in [p for p, v in self.positions.items() if now - v[2] > KEEP]:
            del self.positions[person]
        for person in [p for p, v in self.radii.items() if now - v[1] > KEEP]:
            del self.radii[person]
        for key in [k for k, at in self.venue_adds.items() if now - at > KEEP]:
            del self.venue_adds[key]
