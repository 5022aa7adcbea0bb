"""The domain: city groups, venues and sessions.

A city group owns venues, sessions and settings; it is reached through one or
more chats (a Telegram group, a Matrix room, the console).
Instants are stored in UTC; a city's times are wall-clock times plus its IANA zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from enum import StrEnum

from chatbot.core.events import ChatRef, Person, PersonRef
from chatbot.core.text import fold

LANGUAGES = ("de", "en")
# the opener of a session that a venue poll opened: nobody in person
POLL = Person(PersonRef("core", "poll"), "")
VENUE_TAGS = ("wifi", "power", "quiet", "food")


@dataclass(frozen=True)
class GroupSettings:
    language: str = "de"
    timezone: str = "Europe/Berlin"
    # default hours of a session opened without a time; None: from now on
    default_hours: tuple[time, time] | None = None
    default_duration_minutes: int = 240
    public: bool = True
    # the daily venue poll: posted at poll_time on poll_days (0 = Monday), closed at
    # poll_close; poll_time None: no automatic poll. Off for a new group: a group where
    # nobody votes would get a poll every weekday; an admin turns it on (/settings poll)
    poll_time: time | None = None
    poll_close: time = time(10, 0)
    poll_days: tuple[int, ...] = (0, 1, 2, 3, 4)
    # the schedule starts with the first poll time after this instant: a group set up
    # (or re-scheduled) at 09:00 gets its first automatic poll at the next poll time
    poll_since: datetime | None = None
    radius_km: float = 5.0  # how far a shared location looks for sessions
    reminder_minutes: int = 15  # joiners are reminded this long before a session; 0: never
    retention_days: int = 90  # ended sessions' joiners and votes are deleted after this
    # a poll's session starts no earlier than this long after the poll closes: time to
    # get there
    travel_minutes: int = 30
    # the link to join the group chat, shown on the city's web page (https, t.me,
    # telegram.me or matrix.to); None: none
    invite_url: str | None = None

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
    number: int = 0  # the venue's own number in its group, given once, never reused


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
    standing_id: int | None = None
    # the number the session was announced with; kept for its whole life (held until
    # its day is over, so a number shown today never names another session today)
    number: int = 0
    seats: int | None = None  # how many fit, the opener included; None: no limit
    # the venue's address as it is now (read along with the session, not kept with it)
    address: str = ""

    @property
    def from_poll(self) -> bool:
        """A poll's session has no personal opener: the voters are its joiners."""
        return self.opener.ref == POLL.ref

    def has_joined(self, person: Person) -> bool:
        return any(j.ref == person.ref for j in self.joiners)

    @property
    def coming(self) -> tuple[Person, ...]:
        """Who comes: the opener (a poll's session has none) and the joiners who have a
        seat, in the order they joined."""
        opener = () if self.from_poll else (self.opener,)
        if self.seats is None:
            return opener + self.joiners
        return opener + self.joiners[: max(0, self.seats - len(opener))]

    @property
    def waiting(self) -> tuple[Person, ...]:
        """Who joined after the seats were taken, in the order they joined."""
        return self.joiners[len(self.coming) - (0 if self.from_poll else 1) :]

    def is_waiting(self, person: Person) -> bool:
        return any(w.ref == person.ref for w in self.waiting)

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
    standing_id: int | None = None
    joiners: tuple[Person, ...] = ()
    here: bool = False  # at a shared (rounded) position instead of a venue
    today: date | None = None  # the city's today: sessions from then on hold their numbers
    seats: int | None = None
    created_at: datetime = field(kw_only=True)  # when it was opened (the core's clock)


@dataclass(frozen=True)
class StandingSession:
    """A session that repeats every week on one weekday (0 = Monday)."""

    id: int
    group_id: int
    weekday: int
    place: str
    venue_id: int | None
    latitude: float
    longitude: float
    start: time
    end: time
    opener: Person
    topic: str = ""
    number: int = 0  # the series' own number in its group (/series), never reused


class PollState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class PollOption:
    position: int  # 1-based, as people vote: /stimme 2
    venue_id: int | None
    name: str
    latitude: float
    longitude: float
    last_used: date | None  # when a session last took place there (for rotation and ties)
    number: int | None = None  # the venue's own number: /vote N takes it


@dataclass(frozen=True)
class Vote:
    person: Person
    position: int
    voted_at: datetime


@dataclass(frozen=True)
class VenuePoll:
    id: int
    group_id: int
    local_date: date
    starter: PersonRef | None  # None: posted by the schedule
    state: PollState
    closes_at: datetime
    options: tuple[PollOption, ...]
    votes: tuple[Vote, ...] = ()

    def winner(self) -> PollOption | None:
        """Most votes; a tie goes to the venue used longest ago (or never), then by name."""
        counts = self.counts()
        if not any(counts.values()):
            return None
        return min(
            self.options,
            key=lambda o: (-counts[o.position], o.last_used or date.min, fold(o.name)),
        )

    def counts(self) -> dict[int, int]:
        tally = {option.position: 0 for option in self.options}
        for vote in self.votes:
            tally[vote.position] = tally.get(vote.position, 0) + 1
        return tally


@dataclass(frozen=True)
class Subscription:
    """Someone wants a direct message when a session opens in this group."""

    group_id: int
    person: Person
    radius_km: float | None = None  # None: anywhere in the city
    centre: tuple[float, float] | None = None  # rounded to about 1 km
    quiet: tuple[time, time] | None = None  # local wall-clock, may cross midnight
    told_unreachable: bool = False

    def quiet_at(self, local: time) -> bool:
        if self.quiet is None:
            return False
        start, end = self.quiet
        if start <= end:
            return start <= local < end
        return local >= start or local < end


@dataclass(frozen=True)
class OutboxMessage:
    """A direct message waiting to be delivered (written in the same transaction as
    what caused it, delivered once by the sender loop)."""

    id: int
    kind: str  # "ping", "reminder", "notice"
    person: PersonRef
    chat: ChatRef | None  # for a notice into a group chat
    session_id: int | None
    text: str
    buttons: tuple[tuple[str, str, str, str], ...]  # (label, command, args, command_name)
    due_at: datetime
    expires_at: datetime | None
    attempts: int = 0


@dataclass(frozen=True)
class LinkedChat:
    """One chat of a city group, with its title as the platform gave it when the chat
    was linked or set up (None: the platform gave none)."""

    chat: ChatRef
    title: str | None = None


@dataclass(frozen=True)
class LinkCode:
    """A one-time code that links another chat to a city group (`/link`); only its
    hash is stored."""

    group_id: int
    expires_at: datetime
    used_at: datetime | None = None
