"""What the core needs from the outside: storage and the platform's word on admins.

The SQLite implementation lives in `chatbot.storage`; a PostgreSQL one can take the
same interface later. Tests use the real SQLite implementation on a temporary file.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Protocol

from chatbot.core.events import ChatRef, Person, PersonRef
from chatbot.core.model import (
    CityGroup,
    GroupSettings,
    LinkCode,
    LinkedChat,
    NewSession,
    OutboxMessage,
    PollOption,
    Session,
    SessionState,
    StandingSession,
    Subscription,
    Venue,
    VenuePoll,
)
from chatbot.core.talent import Found, Profile, Project, ProjectState


class Cities(Protocol):
    """City groups and the chats they live in."""

    async def group_for_chat(self, chat: ChatRef) -> CityGroup | None: ...
    async def group(self, group_id: int) -> CityGroup | None: ...
    async def create_group(
        self, chat: ChatRef, name: str, settings: GroupSettings, at: datetime
    ) -> CityGroup: ...
    async def update_group(self, group: CityGroup) -> None: ...
    async def chats_of_group(self, group_id: int) -> Sequence[ChatRef]: ...
    async def linked_chats(self, group_id: int) -> Sequence[LinkedChat]: ...
    async def add_link_code(
        self, group_id: int, code_hash: str, created_at: datetime, expires_at: datetime
    ) -> bool:
        """False when that hash is stored already."""
        ...

    async def link_code(self, code_hash: str) -> LinkCode | None: ...
    async def use_link_code(self, code_hash: str, at: datetime) -> bool:
        """Mark the code used, once; False when it was used or has expired."""
        ...

    async def link_chat(self, chat: ChatRef, group_id: int, title: str | None) -> None:
        """The chat joins the group; a group it leaves without any chat left goes."""
        ...

    async def unlink_chat(self, chat: ChatRef) -> None: ...
    async def group_has_data(self, group_id: int) -> bool:
        """Sessions, series, polls, subscriptions, profiles or projects."""
        ...

    async def groups(self) -> Sequence[CityGroup]: ...
    async def set_chat_active(self, chat: ChatRef, active: bool) -> None:
        """The bot was removed from the chat or came back (adapters)."""
        ...

    async def move_chat(self, old: ChatRef, new: ChatRef) -> None:
        """A chat was replaced (a Matrix room upgrade, a Telegram supergroup)."""
        ...


class Venues(Protocol):
    """A city's venues."""

    async def of_group(self, group_id: int) -> Sequence[Venue]:
        """The group's venues in the order /venues numbers them (by name)."""
        ...

    async def add_venue(self, venue: Venue, at: datetime) -> Venue: ...
    async def update_venue(self, venue: Venue) -> None: ...
    async def remove_venue(self, venue_id: int) -> None: ...
    async def venues_last_used(self, group_id: int) -> dict[int, date]:
        """Venue id -> the last day a (not cancelled) session took place there."""
        ...


class Sessions(Protocol):
    """Sessions, their joiners, series (standing sessions) and what is nearby."""

    async def add_session(self, new: NewSession) -> Session | None:
        """None when a standing session's day has its row already."""
        ...

    async def session(self, session_id: int) -> Session | None: ...
    async def sessions_on(self, group_id: int, local_date: date) -> Sequence[Session]:
        """Open sessions of that local date, in start order."""
        ...

    async def sessions_numbered(
        self, group_id: int, number: int, from_day: date
    ) -> Sequence[Session]:
        """The group's sessions holding this number (days from `from_day` on, any state)."""
        ...

    async def open_sessions_from(self, group_id: int, from_day: date) -> Sequence[Session]:
        """Open sessions of the group on that day and later, in start order."""
        ...

    async def live_sessions_of(self, person: PersonRef, now: datetime) -> Sequence[Session]:
        """Open sessions not over yet that the person opened or joined, in any group."""
        ...

    async def set_session_opener(self, session_id: int, person: Person) -> None: ...
    async def update_session(self, session: Session) -> None:
        """Write a changed session's place, day, times, topic and seats."""
        ...

    async def set_session_times(
        self, session_id: int, starts_at: datetime, ends_at: datetime
    ) -> None: ...
    async def add_joiner(self, session_id: int, person: Person, at: datetime) -> None: ...
    async def remove_joiner(self, session_id: int, person: Person) -> None: ...
    async def set_session_state(self, session_id: int, state: SessionState) -> None: ...
    async def end_sessions_before(self, instant: datetime) -> int:
        """Mark open sessions whose end lies before the instant as ended; return how many."""
        ...

    async def live_sessions_near(
        self,
        latitude: float,
        longitude: float,
        radius_m: float,
        *,
        now: datetime,
        group_id: int | None,
        limit: int,
    ) -> Sequence[tuple[Session, float]]:
        """Live sessions within the radius, nearest first, with their distance in metres,
        of that group and every publicly listed one."""
        ...

    async def nearest_live_session(
        self,
        latitude: float,
        longitude: float,
        *,
        now: datetime,
        group_id: int | None,
        cap_m: float,
    ) -> tuple[Session, float] | None:
        """The nearest live session up to `cap_m` away (same groups as above)."""
        ...

    async def next_session_end(self, after: datetime) -> datetime | None: ...
    async def add_standing(self, standing: StandingSession, at: datetime) -> StandingSession: ...
    async def standing_sessions(
        self, group_id: int, weekday: int | None = None
    ) -> Sequence[StandingSession]: ...
    async def end_standing(self, standing_id: int) -> None: ...


class Polls(Protocol):
    """The day's venue polls and their votes."""

    async def create_poll(
        self,
        group_id: int,
        local_date: date,
        starter: PersonRef | None,
        closes_at: datetime,
        options: Sequence[PollOption],
        at: datetime,
    ) -> VenuePoll | None:
        """The day's poll, or None when the group has one for that date already."""
        ...

    async def poll(self, poll_id: int) -> VenuePoll | None: ...
    async def poll_on(self, group_id: int, local_date: date) -> VenuePoll | None: ...
    async def open_polls(self) -> Sequence[VenuePoll]: ...
    async def set_vote(self, poll_id: int, person: Person, position: int, at: datetime) -> None: ...
    async def remove_vote(self, poll_id: int, person: Person) -> None: ...
    async def drop_venue_from_open_polls(self, venue_id: int) -> int:
        """The venue leaves every open poll with its votes; returns how many votes went."""
        ...

    async def close_poll(self, poll_id: int, winner_session_id: int | None) -> bool:
        """False when the poll was closed already."""
        ...


class People(Protocol):
    """People, their subscriptions and reachability, personal data and retention."""

    async def remember_person(self, person: Person, at: datetime) -> None: ...
    async def subscribe(self, sub: Subscription, at: datetime) -> None: ...
    async def unsubscribe(self, group_id: int, person: PersonRef) -> bool: ...
    async def subscriptions(self, group_id: int) -> Sequence[Subscription]: ...
    async def subscriptions_of(self, person: PersonRef) -> Sequence[Subscription]: ...
    async def set_told_unreachable(self, group_id: int, person: PersonRef) -> bool: ...
    async def set_reachable(self, person: PersonRef, reachable: bool) -> None: ...
    async def is_reachable(self, person: PersonRef) -> bool: ...
    async def personal_data(self, person: PersonRef) -> dict[str, int]: ...
    async def forget_person(self, person: PersonRef, now: datetime) -> None: ...
    async def purge_before(self, group_id: int, day: date) -> int: ...


class Outbox(Protocol):
    """Direct messages that must not be lost (pings, reminders), delivered by
    `chatbot.delivery`."""

    async def enqueue(
        self,
        kind: str,
        person: PersonRef,
        text: str,
        *,
        due_at: datetime,
        session_id: int | None = None,
        chat: ChatRef | None = None,
        buttons: Sequence[tuple[str, str, str, str]] = (),
        expires_at: datetime | None = None,
        again: bool = False,
    ) -> bool:
        """Queue a direct message; False if this kind is queued for this session and person
        (`again`: replace it, for news that can come more than once)."""
        ...

    async def due_messages(
        self, platform: str, now: datetime, limit: int, *, stale_claim: datetime
    ) -> Sequence[OutboxMessage]: ...
    async def claim_message(self, message_id: int, now: datetime) -> bool: ...
    async def finish_message(self, message_id: int, state: str, now: datetime) -> None: ...
    async def retry_message(self, message_id: int, due_at: datetime) -> None: ...
    async def drop_messages(
        self, session_id: int, kinds: Sequence[str], person: PersonRef | None = None
    ) -> None: ...
    async def move_messages(
        self, session_id: int, kind: str, *, due_at: datetime, expires_at: datetime
    ) -> None:
        """Pending messages of this kind for the session move to a new time."""
        ...

    async def next_message_due(self, after: datetime) -> datetime | None: ...


class Calendar(Protocol):
    """The secret tokens of personal calendar feeds (`/calendar`)."""

    async def calendar_token(self, person: PersonRef) -> str | None: ...
    async def set_calendar_token(self, person: PersonRef, token: str, at: datetime) -> None: ...
    async def drop_calendar_token(self, person: PersonRef) -> bool: ...
    async def person_of_calendar_token(self, token: str) -> PersonRef | None: ...


class Talent(Protocol):
    """Opt-in profiles and projects."""

    async def profile(self, group_id: int, person: PersonRef) -> Profile | None: ...
    async def profiles_of(self, person: PersonRef) -> Sequence[Profile]: ...
    async def save_profile(self, profile: Profile, search: str, at: datetime) -> None:
        """Store or replace a profile (`search`: its folded skills); muting stays."""
        ...

    async def delete_profile(self, group_id: int | None, person: PersonRef) -> int: ...
    async def set_profile_muted(
        self, group_id: int | None, person: PersonRef, muted: bool
    ) -> int: ...
    async def member_groups(self, person: PersonRef) -> Sequence[int]:
        """Groups where the person has a profile or opened or joined a session."""
        ...

    async def find_profiles(
        self,
        group_ids: Sequence[int],
        query: str,
        synonyms: Sequence[str] = (),
        *,
        active_since: date,
        limit: int,
    ) -> Sequence[Found]:
        """Profiles with a skill containing the folded query (or a synonym), best first."""
        ...

    async def add_project(
        self,
        group_id: int,
        name: str,
        skills: Sequence[str],
        text: str,
        lead: Person,
        at: datetime,
    ) -> Project: ...
    async def project(self, project_id: int) -> Project | None: ...
    async def project_numbered(self, group_id: int, number: int) -> Project | None: ...
    async def open_projects(self, group_id: int) -> Sequence[Project]: ...
    async def projects_led_by(self, person: PersonRef) -> Sequence[Project]: ...
    async def add_project_member(
        self, project_id: int, person: Person, role: str, at: datetime
    ) -> None: ...
    async def end_project(self, project_id: int, state: ProjectState, at: datetime) -> bool: ...


class Ledger(Protocol):
    """What adapters keep so that no update is handled twice or lost across a restart:
    a platform's delivery position (Telegram update_id, Matrix sync token) and the ids
    of events already handled."""

    async def platform_value(self, platform: str, key: str) -> str | None: ...
    async def set_platform_value(self, platform: str, key: str, value: str) -> None: ...
    async def forget_handled_before(self, instant: datetime) -> int: ...
    async def is_handled(self, platform: str, event_id: str) -> bool: ...
    async def mark_handled(self, platform: str, event_id: str, at: datetime) -> bool:
        """Record the event as handled; False when it was handled before."""
        ...


class Repository(Protocol):
    """The storage the core uses: one repository per area, all behind one unit of work.
    Whatever the areas write inside one `atomic()` commits together or not at all (and
    inside the runtime's `unit()`, together with the update's mark and its actions); a
    write outside any transaction is its own one."""

    def atomic(self) -> AbstractAsyncContextManager[None]:
        """A transaction: everything written inside commits together or not at all."""
        ...

    @property
    def cities(self) -> Cities: ...
    @property
    def venues(self) -> Venues: ...
    @property
    def sessions(self) -> Sessions: ...
    @property
    def polls(self) -> Polls: ...
    @property
    def people(self) -> People: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def calendar(self) -> Calendar: ...
    @property
    def talent(self) -> Talent: ...
    @property
    def ledger(self) -> Ledger: ...


class AdminCheck(Protocol):
    async def __call__(self, chat: ChatRef, person: Person) -> bool:
        """Is this person an admin of this chat, right now, as the platform says?"""
        ...
