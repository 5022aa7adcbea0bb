"""What the core needs from the outside: storage and the platform's word on admins.

The SQLite implementation lives in `chatbot.storage`; a PostgreSQL one can take the
same interface later. Tests use the real SQLite implementation on a temporary file.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Protocol

from chatbot.core.events import ChatRef, Person
from chatbot.core.model import CityGroup, GroupSettings, NewSession, Session, SessionState, Venue


class Repository(Protocol):
    def atomic(self) -> AbstractAsyncContextManager[None]:
        """A transaction: everything written inside commits together or not at all."""
        ...

    # city groups and their chats
    async def group_for_chat(self, chat: ChatRef) -> CityGroup | None: ...
    async def create_group(
        self, chat: ChatRef, name: str, settings: GroupSettings
    ) -> CityGroup: ...
    async def update_group(self, group: CityGroup) -> None: ...
    async def chats_of_group(self, group_id: int) -> Sequence[ChatRef]: ...

    # venues
    async def venues(self, group_id: int) -> Sequence[Venue]:
        """The group's venues in the order /venues numbers them (by name)."""
        ...

    async def add_venue(self, venue: Venue) -> Venue: ...
    async def update_venue(self, venue: Venue) -> None: ...
    async def remove_venue(self, venue_id: int) -> None: ...

    # sessions
    async def add_session(self, new: NewSession) -> Session: ...
    async def session(self, session_id: int) -> Session | None: ...
    async def sessions_on(self, group_id: int, local_date: date) -> Sequence[Session]:
        """Open sessions of that local date, in start order."""
        ...

    async def add_joiner(self, session_id: int, person: Person, at: datetime) -> None: ...
    async def remove_joiner(self, session_id: int, person: Person) -> None: ...
    async def set_session_state(self, session_id: int, state: SessionState) -> None: ...
    async def end_sessions_before(self, instant: datetime) -> int:
        """Mark open sessions whose end lies before the instant as ended; return how many."""
        ...

    async def remember_person(self, person: Person, at: datetime) -> None: ...


class AdminCheck(Protocol):
    async def __call__(self, chat: ChatRef, person: Person) -> bool:
        """Is this person an admin of this chat, right now, as the platform says?"""
        ...


class DeliveryLog(Protocol):
    """What adapters keep so that no update is handled twice or lost across a restart:
    a platform's delivery position (Telegram update_id, Matrix sync token) and the ids
    of events already handled."""

    async def platform_value(self, platform: str, key: str) -> str | None: ...
    async def set_platform_value(self, platform: str, key: str, value: str) -> None: ...
    async def mark_handled(self, platform: str, event_id: str, at: datetime) -> bool:
        """Record the event as handled; False when it was handled before."""
        ...
