"""Sessions (with their joiners), standing sessions, and the nearby queries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any

import aiosqlite

from chatbot.core.events import Person, PersonRef
from chatbot.core.model import (
    NewSession,
    Session,
    SessionState,
    StandingSession,
)
from chatbot.storage.base import Store, from_iso, to_hm, to_iso

_STATES = {state.value: state for state in SessionState}


# Sessions are read far more often than written (every /today reads all of the day's),
# so what a row gives is memoized by the row's values: a changed row (a new joiner, a
# new end) is a new key, and every value built from it is immutable.


@lru_cache(maxsize=4096)
def _person(platform: str, person_id: str, name: str) -> Person:
    return Person(PersonRef(platform, person_id), name)


@lru_cache(maxsize=4096)
def _joiners(joiners_json: str) -> tuple[Person, ...]:
    return tuple(_person(*joiner) for joiner in json.loads(joiners_json))


_SESSION_COLUMNS = (
    "s.id, s.group_id, s.place, s.venue_id, s.latitude, s.longitude, s.local_date,"
    " s.start_local, s.end_local, s.starts_at, s.ends_at, s.opener_platform, s.opener_id,"
    " s.opener_name, s.topic, s.state, s.standing_id, s.number, s.seats"
)


@lru_cache(maxsize=4096)
def _session(row: tuple[Any, ...]) -> Session:
    """A session from its row (`_SESSION_COLUMNS` and the joiners' JSON): the same row
    gives the same (immutable) Session, so it is built once."""
    (
        id_, group_id, place, venue_id, latitude, longitude, local_date, start, end,
        starts_at, ends_at, opener_platform, opener_id, opener_name, topic, state,
        standing_id, number, seats, address, joiners_json,
    ) = row  # fmt: skip
    return Session(
        id=id_,
        group_id=group_id,
        place=place,
        venue_id=venue_id,
        latitude=latitude,
        longitude=longitude,
        local_date=date.fromisoformat(local_date),
        start=time.fromisoformat(start),
        end=time.fromisoformat(end),
        starts_at=from_iso(starts_at),
        ends_at=from_iso(ends_at),
        opener=_person(opener_platform, opener_id, opener_name),
        topic=topic,
        state=_STATES[state],
        joiners=_joiners(joiners_json),
        standing_id=standing_id,
        number=number or 0,
        seats=seats,
        address=address or "",
    )


def forget_read_sessions() -> None:
    """Drop every memoized row (names are in them): once a person is forgotten or old
    joiners are purged, memory does not keep them either."""
    _session.cache_clear()
    _joiners.cache_clear()
    _person.cache_clear()


class SessionStore(Store):
    # --- sessions --------------------------------------------------------------------

    async def _sessions(self, where: str, params: Sequence[Any]) -> list[Session]:
        # one round trip: the joiners come along as a JSON array, in the order they joined
        rows = await self.db.execute_fetchall(
            f"SELECT {_SESSION_COLUMNS}, (SELECT address FROM venues v WHERE v.id ="
            " s.venue_id) AS address, (SELECT json_group_array(json_array(platform,"
            " person_id, name)) FROM (SELECT platform, person_id, name FROM session_joiners j"
            " WHERE j.session_id = s.id ORDER BY joined_at, rowid)) AS joiners_json"
            f" FROM sessions s WHERE {where} ORDER BY starts_at, id",
            tuple(params),
        )
        return [_session(tuple(row)) for row in rows]

    async def add_session(self, new: NewSession) -> Session | None:
        """Store a session with its first joiners and its number; None if a standing
        session's day already has its row (materialized or skipped before).

        The number is the smallest that no session of the group holds: a session holds
        its number until its day is over (cancelled ones too, so that a number shown
        today never names another session today)."""
        held_from = min(new.today or new.local_date, new.local_date).isoformat()
        cursor = await self._write(
            "INSERT OR IGNORE INTO sessions (group_id, venue_id, place, latitude, longitude,"
            " local_date, start_local, end_local, starts_at, ends_at, opener_platform,"
            " opener_id, opener_name, topic, state, created_at, standing_id, here, seats, number)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?,"
            " (SELECT MIN(n) FROM (SELECT 1 AS n UNION ALL SELECT number + 1 FROM sessions"
            "  WHERE group_id = ? AND local_date >= ? AND number IS NOT NULL)"
            "  WHERE n NOT IN (SELECT number FROM sessions WHERE group_id = ? AND local_date >= ?"
            "  AND number IS NOT NULL)))",
            (
                new.group_id,
                new.venue_id,
                new.place,
                new.latitude,
                new.longitude,
                new.local_date.isoformat(),
                to_hm(new.start),
                to_hm(new.end),
                to_iso(new.starts_at),
                to_iso(new.ends_at),
                new.opener.ref.platform,
                new.opener.ref.id,
                new.opener.name,
                new.topic,
                to_iso(new.created_at),
                new.standing_id,
                int(new.here),
                new.seats,
                new.group_id,
                held_from,
                new.group_id,
                held_from,
            ),
        )
        if cursor.rowcount != 1 or cursor.lastrowid is None:
            return None
        for person in new.joiners:
            await self.add_joiner(cursor.lastrowid, person, new.starts_at)
        return await self.session(cursor.lastrowid)

    async def session(self, session_id: int) -> Session | None:
        found = await self._sessions("id = ?", (session_id,))
        return found[0] if found else None

    async def sessions_on(self, group_id: int, local_date: date) -> Sequence[Session]:
        return await self._sessions(
            "group_id = ? AND local_date = ? AND state = 'open'",
            (group_id, local_date.isoformat()),
        )

    async def sessions_numbered(
        self, group_id: int, number: int, from_day: date
    ) -> Sequence[Session]:
        """The sessions of the group that hold this number (days from `from_day` on, any
        state), the newest last."""
        return await self._sessions(
            "group_id = ? AND number = ? AND local_date >= ?",
            (group_id, number, from_day.isoformat()),
        )

    async def open_sessions_from(self, group_id: int, from_day: date) -> Sequence[Session]:
        """Open sessions of the group on that day and later, in start order."""
        return await self._sessions(
            "group_id = ? AND local_date >= ? AND state = 'open'",
            (group_id, from_day.isoformat()),
        )

    async def live_sessions_of(self, person: PersonRef, now: datetime) -> Sequence[Session]:
        """Open sessions not over yet that the person opened or joined, in any group."""
        return await self._sessions(
            "state = 'open' AND ends_at > ? AND ((opener_platform = ? AND opener_id = ?)"
            " OR EXISTS (SELECT 1 FROM session_joiners j WHERE j.session_id = s.id"
            " AND j.platform = ? AND j.person_id = ?))",
            (to_iso(now), person.platform, person.id, person.platform, person.id),
        )

    async def set_session_opener(self, session_id: int, person: Person) -> None:
        """Hand a session to someone else (who then is no longer a joiner)."""
        await self._write(
            "UPDATE sessions SET opener_platform = ?, opener_id = ?, opener_name = ? WHERE id = ?",
            (person.ref.platform, person.ref.id, person.name, session_id),
        )
        await self.remove_joiner(session_id, person)

    async def update_session(self, session: Session) -> None:
        """Write a changed session's place, day, times, topic and seats (its number,
        opener and joiners stay)."""
        await self._write(
            "UPDATE sessions SET place = ?, venue_id = ?, latitude = ?, longitude = ?,"
            " local_date = ?, start_local = ?, end_local = ?, starts_at = ?, ends_at = ?,"
            " topic = ?, seats = ? WHERE id = ?",
            (
                session.place,
                session.venue_id,
                session.latitude,
                session.longitude,
                session.local_date.isoformat(),
                to_hm(session.start),
                to_hm(session.end),
                to_iso(session.starts_at),
                to_iso(session.ends_at),
                session.topic,
                session.seats,
                session.id,
            ),
        )

    async def set_session_times(
        self, session_id: int, starts_at: datetime, ends_at: datetime
    ) -> None:
        await self._write(
            "UPDATE sessions SET starts_at = ?, ends_at = ? WHERE id = ?",
            (to_iso(starts_at), to_iso(ends_at), session_id),
        )

    async def add_joiner(self, session_id: int, person: Person, at: datetime) -> None:
        await self._write(
            "INSERT OR IGNORE INTO session_joiners (session_id, platform, person_id, name,"
            " joined_at) VALUES (?, ?, ?, ?, ?)",
            (session_id, person.ref.platform, person.ref.id, person.name, to_iso(at)),
        )

    async def remove_joiner(self, session_id: int, person: Person) -> None:
        await self._write(
            "DELETE FROM session_joiners WHERE session_id = ? AND platform = ? AND person_id = ?",
            (session_id, person.ref.platform, person.ref.id),
        )

    async def set_session_state(self, session_id: int, state: SessionState) -> None:
        await self._write("UPDATE sessions SET state = ? WHERE id = ?", (state.value, session_id))
        await self._wipe_here_points()

    async def end_sessions_before(self, instant: datetime) -> int:
        cursor = await self._write(
            "UPDATE sessions SET state = 'ended' WHERE state = 'open' AND ends_at <= ?",
            (to_iso(instant),),
        )
        ended = cursor.rowcount
        await self._wipe_here_points()
        return ended

    async def _wipe_here_points(self) -> None:
        """A session opened "here" keeps its (rounded) point only while it is open."""
        await self._write(
            "UPDATE sessions SET latitude = 0, longitude = 0"
            " WHERE here = 1 AND state != 'open' AND (latitude != 0 OR longitude != 0)"
        )

    # --- nearby ------------------------------------------------------------------------

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
        found = await self.geo.nearest(
            self.db,
            latitude,
            longitude,
            radius_m,
            now_iso=to_iso(now),
            group_ids={group_id} if group_id is not None else None,
            include_public=True,
            limit=limit,
        )
        return await self._with_sessions(found)

    async def nearest_live_session(
        self,
        latitude: float,
        longitude: float,
        *,
        now: datetime,
        group_id: int | None,
        cap_m: float,
    ) -> tuple[Session, float] | None:
        far = await self.geo.nearest_beyond(
            self.db,
            latitude,
            longitude,
            now_iso=to_iso(now),
            group_ids={group_id} if group_id is not None else None,
            include_public=True,
            cap_m=cap_m,
        )
        found = await self._with_sessions([far] if far else [])
        return found[0] if found else None

    async def _with_sessions(
        self, found: Sequence[tuple[int, float]]
    ) -> list[tuple[Session, float]]:
        if not found:
            return []
        marks = ",".join("?" * len(found))
        by_id = {s.id: s for s in await self._sessions(f"id IN ({marks})", [i for i, _ in found])}
        return [(by_id[i], d) for i, d in found if i in by_id]

    # --- standing sessions -------------------------------------------------------------

    @staticmethod
    def _standing(r: aiosqlite.Row) -> StandingSession:
        return StandingSession(
            id=r["id"],
            group_id=r["group_id"],
            weekday=r["weekday"],
            place=r["place"],
            venue_id=r["venue_id"],
            latitude=r["latitude"],
            longitude=r["longitude"],
            start=time.fromisoformat(r["start_local"]),
            end=time.fromisoformat(r["end_local"]),
            opener=Person(PersonRef(r["opener_platform"], r["opener_id"]), r["opener_name"]),
            topic=r["topic"],
            number=r["number"] or 0,
        )

    async def add_standing(self, standing: StandingSession, at: datetime) -> StandingSession:
        """Store a series with the group's next series number."""
        await self._write(
            "UPDATE city_groups SET series_seq = series_seq + 1 WHERE id = ?",
            (standing.group_id,),
        )
        cursor = await self._write(
            "INSERT INTO standing_sessions (group_id, weekday, venue_id, place, latitude,"
            " longitude, start_local, end_local, opener_platform, opener_id, opener_name,"
            " topic, created_at, number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " (SELECT series_seq FROM city_groups WHERE id = ?))",
            (
                standing.group_id,
                standing.weekday,
                standing.venue_id,
                standing.place,
                standing.latitude,
                standing.longitude,
                to_hm(standing.start),
                to_hm(standing.end),
                standing.opener.ref.platform,
                standing.opener.ref.id,
                standing.opener.name,
                standing.topic,
                to_iso(at),
                standing.group_id,
            ),
        )
        assert cursor.lastrowid is not None
        row = await self._one(
            "SELECT number FROM standing_sessions WHERE id = ?", (cursor.lastrowid,)
        )
        assert row is not None
        return replace(standing, id=cursor.lastrowid, number=row["number"])

    async def standing_sessions(
        self, group_id: int, weekday: int | None = None
    ) -> Sequence[StandingSession]:
        where, params = "group_id = ? AND active = 1", [group_id]
        if weekday is not None:
            where += " AND weekday = ?"
            params.append(weekday)
        rows = await self._all(
            f"SELECT * FROM standing_sessions WHERE {where} ORDER BY weekday, start_local, id",
            params,
        )
        return [self._standing(r) for r in rows]

    async def end_standing(self, standing_id: int) -> None:
        await self._write("UPDATE standing_sessions SET active = 0 WHERE id = ?", (standing_id,))

    async def next_session_end(self, after: datetime) -> datetime | None:
        row = await self._one(
            "SELECT MIN(ends_at) AS due FROM sessions WHERE state = 'open' AND ends_at > ?",
            (to_iso(after),),
        )
        return from_iso(row["due"]) if row and row["due"] else None
