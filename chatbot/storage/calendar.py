"""Calendar tokens (the personal feed of `/calendar`) and what the city's web page and
calendar feeds read: sessions of a date range in any state, when each series began,
and a cheap version of the database's content."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from chatbot.core.events import PersonRef
from chatbot.core.model import Session
from chatbot.storage.base import SqliteBase, Store, from_iso, to_iso
from chatbot.storage.sessions import SessionStore


class CalendarStore(Store):
    def __init__(self, base: SqliteBase, sessions: SessionStore) -> None:
        super().__init__(base)
        self.sessions = sessions

    # --- personal feed tokens --------------------------------------------------------

    async def calendar_token(self, person: PersonRef) -> str | None:
        row = await self._one(
            "SELECT token FROM calendar_tokens WHERE platform = ? AND person_id = ?",
            (person.platform, person.id),
        )
        return str(row["token"]) if row else None

    async def set_calendar_token(self, person: PersonRef, token: str, at: datetime) -> None:
        """The person's token (a new one replaces the old, which stops working)."""
        await self._write(
            "INSERT INTO calendar_tokens (platform, person_id, token, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (platform, person_id) DO UPDATE SET"
            " token = excluded.token, created_at = excluded.created_at",
            (person.platform, person.id, token, to_iso(at)),
        )

    async def drop_calendar_token(self, person: PersonRef) -> bool:
        cursor = await self._write(
            "DELETE FROM calendar_tokens WHERE platform = ? AND person_id = ?",
            (person.platform, person.id),
        )
        return cursor.rowcount > 0

    async def person_of_calendar_token(self, token: str) -> PersonRef | None:
        row = await self._one(
            "SELECT platform, person_id FROM calendar_tokens WHERE token = ?", (token,)
        )
        return PersonRef(row["platform"], row["person_id"]) if row else None

    # --- what the web page and the feeds read ------------------------------------------

    async def sessions_between(self, group_id: int, first: date, last: date) -> list[Session]:
        """The group's sessions from `first` to `last` (local dates), in any state."""
        return await self.sessions._sessions(
            "group_id = ? AND local_date BETWEEN ? AND ?",
            (group_id, first.isoformat(), last.isoformat()),
        )

    async def sessions_of_person_between(
        self, person: PersonRef, first: date, last: date
    ) -> list[Session]:
        """Sessions the person opened or joined, in any group, from `first` to `last`."""
        return await self.sessions._sessions(
            "local_date BETWEEN ? AND ? AND ((opener_platform = ? AND opener_id = ?)"
            " OR EXISTS (SELECT 1 FROM session_joiners j WHERE j.session_id = s.id"
            " AND j.platform = ? AND j.person_id = ?))",
            (
                first.isoformat(),
                last.isoformat(),
                person.platform,
                person.id,
                person.platform,
                person.id,
            ),
        )

    async def series_started(self, group_id: int) -> dict[int, datetime]:
        """When each active series of the group was opened (series id -> instant)."""
        rows = await self._all(
            "SELECT id, created_at FROM standing_sessions WHERE group_id = ? AND active = 1",
            (group_id,),
        )
        return {r["id"]: from_iso(r["created_at"]) for r in rows}

    async def series_ids_of_opener(self, person: PersonRef) -> Sequence[tuple[int, int]]:
        """(group id, series id) of the active series the person opened."""
        rows = await self._all(
            "SELECT group_id, id FROM standing_sessions WHERE active = 1"
            " AND opener_platform = ? AND opener_id = ?",
            (person.platform, person.id),
        )
        return [(r["group_id"], r["id"]) for r in rows]

    async def content_version(self) -> tuple[int, int]:
        """Changes since this connection opened, and SQLite's counter of commits by other
        connections: equal values mean nothing was written in between (cheap: one trip)."""
        row = await self._one("SELECT total_changes(), (SELECT * FROM pragma_data_version)")
        assert row is not None
        return int(row[0]), int(row[1])
