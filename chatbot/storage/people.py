"""People, their subscriptions and reachability, personal data and retention."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time

import aiosqlite

from chatbot.core.events import Person, PersonRef
from chatbot.core.model import (
    Subscription,
)
from chatbot.storage.base import SqliteBase, Store, to_hm, to_iso
from chatbot.storage.sessions import SessionStore, forget_read_sessions


class PeopleStore(Store):
    def __init__(self, base: SqliteBase, sessions: SessionStore) -> None:
        super().__init__(base)
        self.sessions = sessions

    async def remember_person(self, person: Person, at: datetime) -> None:
        await self._write(
            "INSERT INTO people (platform, person_id, name, language, last_seen)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (platform, person_id) DO UPDATE SET"
            " name = excluded.name, language = COALESCE(excluded.language, people.language),"
            " last_seen = excluded.last_seen",
            (person.ref.platform, person.ref.id, person.name, person.language, to_iso(at)),
        )

    @staticmethod
    def _subscription(r: aiosqlite.Row) -> Subscription:
        centre = (r["centre_lat"], r["centre_lon"]) if r["centre_lat"] is not None else None
        quiet = (
            (time.fromisoformat(r["quiet_start"]), time.fromisoformat(r["quiet_end"]))
            if r["quiet_start"]
            else None
        )
        return Subscription(
            group_id=r["group_id"],
            person=Person(PersonRef(r["platform"], r["person_id"]), r["name"], r["language"]),
            radius_km=r["radius_km"],
            centre=centre,
            quiet=quiet,
            told_unreachable=bool(r["told_unreachable"]),
        )

    async def subscribe(self, sub: Subscription, at: datetime) -> None:
        await self._write(
            "INSERT INTO subscriptions (group_id, platform, person_id, name, language, radius_km,"
            " centre_lat, centre_lon, quiet_start, quiet_end, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (group_id, platform, person_id) DO UPDATE SET name = excluded.name,"
            " language = excluded.language, radius_km = excluded.radius_km,"
            " centre_lat = excluded.centre_lat, centre_lon = excluded.centre_lon,"
            " quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end",
            (
                sub.group_id,
                sub.person.ref.platform,
                sub.person.ref.id,
                sub.person.name,
                sub.person.language,
                sub.radius_km,
                sub.centre[0] if sub.centre else None,
                sub.centre[1] if sub.centre else None,
                to_hm(sub.quiet[0]) if sub.quiet else None,
                to_hm(sub.quiet[1]) if sub.quiet else None,
                to_iso(at),
            ),
        )

    async def unsubscribe(self, group_id: int, person: PersonRef) -> bool:
        cursor = await self._write(
            "DELETE FROM subscriptions WHERE group_id = ? AND platform = ? AND person_id = ?",
            (group_id, person.platform, person.id),
        )
        return cursor.rowcount == 1

    async def subscriptions(self, group_id: int) -> Sequence[Subscription]:
        rows = await self._all(
            "SELECT * FROM subscriptions WHERE group_id = ? ORDER BY created_at, rowid",
            (group_id,),
        )
        return [self._subscription(r) for r in rows]

    async def subscriptions_of(self, person: PersonRef) -> Sequence[Subscription]:
        rows = await self._all(
            "SELECT * FROM subscriptions WHERE platform = ? AND person_id = ?",
            (person.platform, person.id),
        )
        return [self._subscription(r) for r in rows]

    async def set_told_unreachable(self, group_id: int, person: PersonRef) -> bool:
        """Mark that the group was told this person can't get pings; False if it was."""
        cursor = await self._write(
            "UPDATE subscriptions SET told_unreachable = 1 WHERE group_id = ? AND platform = ?"
            " AND person_id = ? AND told_unreachable = 0",
            (group_id, person.platform, person.id),
        )
        return cursor.rowcount == 1

    async def set_reachable(self, person: PersonRef, reachable: bool) -> None:
        await self._write(
            "UPDATE people SET unreachable = ? WHERE platform = ? AND person_id = ?",
            (int(not reachable), person.platform, person.id),
        )
        if reachable:
            await self._write(
                "UPDATE subscriptions SET told_unreachable = 0 WHERE platform = ?"
                " AND person_id = ?",
                (person.platform, person.id),
            )

    async def is_reachable(self, person: PersonRef) -> bool:
        row = await self._one(
            "SELECT unreachable FROM people WHERE platform = ? AND person_id = ?",
            (person.platform, person.id),
        )
        return not (row and row["unreachable"])

    async def personal_data(self, person: PersonRef) -> dict[str, int]:
        """How many rows of each kind the database holds about a person."""
        who = (person.platform, person.id)
        queries = {
            "names": "SELECT COUNT(*) FROM people WHERE platform = ? AND person_id = ?",
            "subscriptions": "SELECT COUNT(*) FROM subscriptions WHERE platform = ?"
            " AND person_id = ?",
            "sessions_opened": "SELECT COUNT(*) FROM sessions WHERE opener_platform = ?"
            " AND opener_id = ?",
            # a series that ended keeps its opener until retention or /forget: counted too
            "standing_sessions": "SELECT COUNT(*) FROM standing_sessions WHERE"
            " opener_platform = ? AND opener_id = ?",
            "joins": "SELECT COUNT(*) FROM session_joiners WHERE platform = ? AND person_id = ?",
            "votes": "SELECT COUNT(*) FROM poll_votes WHERE platform = ? AND person_id = ?",
            "polls_started": "SELECT COUNT(*) FROM venue_polls WHERE starter_platform = ?"
            " AND starter_id = ?",
            "messages": "SELECT COUNT(*) FROM outbox WHERE platform = ? AND person_id = ?",
            "profiles": "SELECT COUNT(*) FROM profiles WHERE platform = ? AND person_id = ?",
            "projects": "SELECT (SELECT COUNT(*) FROM projects WHERE lead_platform = ?1"
            " AND lead_id = ?2) + (SELECT COUNT(*) FROM project_members WHERE platform = ?1"
            " AND person_id = ?2)",
            "calendar_tokens": "SELECT COUNT(*) FROM calendar_tokens WHERE platform = ?"
            " AND person_id = ?",
        }
        counts = {}
        for key, sql in queries.items():
            row = await self._one(sql, who)
            counts[key] = int(row[0]) if row else 0
        return counts

    async def forget_person(self, person: PersonRef, now: datetime) -> None:
        """Delete every row about a person; sessions they opened lose their name, and
        those still ahead are cancelled."""
        who = (person.platform, person.id)
        for table, platform_col, id_col in (
            ("people", "platform", "person_id"),
            ("subscriptions", "platform", "person_id"),
            ("session_joiners", "platform", "person_id"),
            ("poll_votes", "platform", "person_id"),
            ("outbox", "platform", "person_id"),
            ("profiles", "platform", "person_id"),
            ("project_members", "platform", "person_id"),
            ("projects", "lead_platform", "lead_id"),  # their members go with them
            ("calendar_tokens", "platform", "person_id"),
        ):
            await self._write(f"DELETE FROM {table} WHERE {platform_col} = ? AND {id_col} = ?", who)
        await self._write(
            "UPDATE sessions SET state = 'cancelled' WHERE opener_platform = ? AND opener_id = ?"
            " AND state = 'open'",
            who,
        )
        # a session at the person's shared location is named after them
        await self._write(
            "UPDATE sessions SET place = '-' WHERE here = 1 AND opener_platform = ?"
            " AND opener_id = ?",
            who,
        )
        for table in ("sessions", "standing_sessions"):
            await self._write(
                f"UPDATE {table} SET opener_platform = '', opener_id = '', opener_name = ''"
                " WHERE opener_platform = ? AND opener_id = ?",
                who,
            )
        await self._write(
            "UPDATE standing_sessions SET active = 0 WHERE opener_platform = '' AND active = 1"
        )
        await self._write(
            "UPDATE venue_polls SET starter_platform = NULL, starter_id = NULL"
            " WHERE starter_platform = ? AND starter_id = ?",
            who,
        )
        await self.sessions._wipe_here_points()
        forget_read_sessions()

    async def purge_before(self, group_id: int, day: date) -> int:
        """Retention: what the group's sessions, series and polls before that day say
        about people goes: joiner lists and votes are deleted, openers and poll starters
        are anonymized (a session opened "here" loses its place, which names the
        opener: it reads "-"), and the direct messages of those sessions and other sent
        ones are deleted. People's names and languages go when they were last seen
        before that day and get no pings. Returns how many rows changed."""
        gone = 0
        before = (group_id, day.isoformat())
        for sql, params in (
            (
                "DELETE FROM session_joiners WHERE session_id IN (SELECT id FROM sessions"
                " WHERE group_id = ? AND local_date < ? AND state != 'open')",
                before,
            ),
            (
                "DELETE FROM poll_votes WHERE poll_id IN (SELECT id FROM venue_polls"
                " WHERE group_id = ? AND local_date < ?)",
                before,
            ),
            (
                # an old session's messages, sent or not (one still pending for a
                # session that is over will never go out)
                "DELETE FROM outbox WHERE session_id IN (SELECT id FROM sessions"
                " WHERE group_id = ? AND local_date < ? AND state != 'open')",
                before,
            ),
            (
                "DELETE FROM outbox WHERE state != 'pending' AND session_id IS NULL AND due_at < ?",
                (day.isoformat(),),
            ),
            (
                # a finished or cancelled project with its team
                "DELETE FROM projects WHERE group_id = ? AND state != 'open' AND ended_at < ?",
                before,
            ),
            (
                "UPDATE sessions SET place = CASE WHEN here = 1 THEN '-' ELSE place END,"
                " opener_platform = '', opener_id = '', opener_name = ''"
                " WHERE group_id = ? AND local_date < ? AND state != 'open'"
                " AND opener_platform NOT IN ('', 'core')",
                before,
            ),
            (
                "UPDATE venue_polls SET starter_platform = NULL, starter_id = NULL"
                " WHERE group_id = ? AND local_date < ? AND starter_platform IS NOT NULL",
                before,
            ),
            (
                "UPDATE standing_sessions SET opener_platform = '', opener_id = '',"
                " opener_name = '' WHERE group_id = ? AND active = 0 AND created_at < ?"
                " AND opener_platform != '' AND NOT EXISTS (SELECT 1 FROM sessions s"
                " WHERE s.standing_id = standing_sessions.id AND s.local_date >= ?)",
                (*before, day.isoformat()),
            ),
            (
                "DELETE FROM people WHERE last_seen < ? AND NOT EXISTS (SELECT 1 FROM"
                " subscriptions s WHERE s.platform = people.platform"
                " AND s.person_id = people.person_id)",
                (day.isoformat(),),
            ),
        ):
            cursor = await self._write(sql, params)
            gone += cursor.rowcount
        if gone:
            forget_read_sessions()
        return gone
