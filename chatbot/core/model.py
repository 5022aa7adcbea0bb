"""The domain: city groups, venues and sessions.

A city group owns venues, sessions and settings; it is reached through one or
more chats (a Telegram group, a Matrix room, the console).
Instants are stored in UTC; a city's times are wall-clock times plus its IANA zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from enum import StrEnum

from chatbot.core.events import Person

LANGUAGES = ("de", "en")
VENUE_TAGS = ("wifi", "power", "quiet", "food")


@dataclass(frozen=True)
class GroupSettings:
    language: str = "de"
    timezone: str = "Europe/Berlin"
    # default hours of a session opened without a time; None: from now on
    default_hours: tuple[time, time] | None = None
    default_duration_minutes: int = 240
    public: bool = True

    def with_(self, **changes: object) -> GroupSettings:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class CityGroup:
    id: int
    name: str
    settings: GroupSettings


@dataclass(frozen=True)
class Venue:
    id: int
    group_id: int
    name: str
    latitude: float
    longitude: float
    address: str = ""
    tags: tuple[str, ...] = ()
    notes: str = ""


class SessionState(StrEnum):
    OPEN = "open"
    ENDED = "ended"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Session:
    id: int
    group_id: int
    place: str  # the venue's name when the session was opened
    venue_id: int | None
    latitude: float
    longitude: float
    local_date: date
    start: time
    end: time
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC
    opener: Person
    topic: str = ""
    state: SessionState = SessionState.OPEN
    joiners: tuple[Person, ...] = field(default_factory=tuple)

    def has_joined(self, person: Person) -> bool:
        return any(j.ref == person.ref for j in self.joiners)

    def is_participant(self, person: Person) -> bool:
        return self.opener.ref == person.ref or self.has_joined(person)


@dataclass(frozen=True)
class NewSession:
    """What a use case asks the repository to store; the repository gives it an id."""

    group_id: int
    place: str
    venue_id: int | None
    latitude: float
    longitude: float
    local_date: date
    start: time
    end: time
    starts_at: datetime
    ends_at: datetime
    opener: Person
    topic: str = ""
