"""The repository on SQLite (aiosqlite): WAL, foreign keys on, migrations at open."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import aiosqlite

from chatbot.core.events import ChatRef, Person, PersonRef
from chatbot.core.model import (
    CityGroup,
    GroupSettings,
    NewSession,
    OutboxMessage,
    PollOption,
    PollState,
    Session,
    SessionState,
    StandingSession,
    Subscription,
    Venue,
    VenuePoll,
    Vote,
)
from chatbot.core.text import fold
from chatbot.storage import geo
from chatbot.storage.geo import GeoIndex
from chatbot.storage.migrations import migrate

_in_transaction: ContextVar[bool] = ContextVar("in_transaction", default=False)


def sqlite_path(url: str) -> str:
    """ "sqlite:///chatbot.db" (relative), "sqlite:////srv/bot.db" (absolute), or a path."""
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        if url.startswith(prefix):
            return url[len(prefix) :] or ":memory:"
    if "://" in url:
        raise ValueError("only sqlite:/// database URLs are supported so far")
    return url


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="seconds")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _hm(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


class SqliteRepository:
    """Implements `chatbot.core.ports.Repository`."""

    def __init__(
        self, db: aiosqlite.Connection, db_path: str = ":memory:", geo_index: GeoIndex | None = None
    ) -> None:
        self.db = db
        self.db_path = db_path
        self.geo: GeoIndex = geo_index or geo.BoxIndex()
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str, *, migrate_to: int | None = None) -> SqliteRepository:
        path = sqlite_path(url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute("PRAGMA busy_timeout=5000")
        await db.execute("PRAGMA synchronous=NORMAL")
        # a larger page cache and memory-mapped reads keep nearby queries fast on big files
        await db.execute("PRAGMA cache_size=-65536")
        await db.execute("PRAGMA mmap_size=268435456")
        await migrate(db, migrate_to)
        # the index kind is fixed in the database; a build without R*Tree fails here, early
        index = await geo.detect(db) if migrate_to is None else None
        return cls(db, path, index)

    async def close(self) -> None:
        await self.db.close()

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        if _in_transaction.get():
            yield
            return
        async with self._lock:
            token = _in_transaction.set(True)
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                await self.db.rollback()
                raise
            else:
                await self.db.commit()
            finally:
                _in_transaction.reset(token)

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        async with self.db.execute(sql, tuple(params)) as cursor:
            return await cursor.fetchone()

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        async with self.db.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())

    # --- city groups ---------------------------------------------------------------

    @staticmethod
    def _group(row: aiosqlite.Row) -> CityGroup:
        hours = None
        if row["default_start"] and row["default_end"]:
            hours = (
                time.fromisoformat(row["default_start"]),
                time.fromisoformat(row["default_end"]),
            )
        settings = GroupSettings(
            language=row["language"],
            timezone=row["timezone"],
            default_hours=hours,
            default_duration_minutes=row["default_duration_minutes"],
            public=bool(row["public"]),
            poll_time=time.fromisoformat(row["poll_time"]) if row["poll_time"] else None,
            poll_close=time.fromisoformat(row["poll_close"]),
            poll_days=tuple(int(d) for d in row["poll_days"].split(",") if d),
            poll_since=_instant(row["poll_since"]) if row["poll_since"] else None,
            radius_km=row["radius_km"],
            reminder_minutes=row["reminder_minutes"],
            retention_days=row["retention_days"],
        )
        return CityGroup(id=row["id"], name=row["name"], settings=settings)

    async def group_for_chat(self, chat: ChatRef) -> CityGroup | None:
        row = await self._one(
            "SELECT g.* FROM city_groups g JOIN chats c ON c.group_id = g.id"
            " WHERE c.platform = ? AND c.chat_id = ?",
            (chat.platform, chat.id),
        )
        return self._group(row) if row else None

    async def group(self, group_id: int) -> CityGroup | None:
        row = await self._one("SELECT * FROM city_groups WHERE id = ?", (group_id,))
        return self._group(row) if row else None

    async def create_group(self, chat: ChatRef, name: str, settings: GroupSettings) -> CityGroup:
        async with self.atomic():
            cursor = await self.db.execute(
                "INSERT INTO city_groups (name, language, timezone, default_start, default_end,"
                " default_duration_minutes, public, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    settings.language,
                    settings.timezone,
                    _hm(settings.default_hours[0]) if settings.default_hours else None,
                    _hm(settings.default_hours[1]) if settings.default_hours else None,
                    settings.default_duration_minutes,
                    int(settings.public),
                    _iso(datetime.now(UTC)),
                ),
            )
            group_id = cursor.lastrowid
            assert group_id is not None
            await self.db.execute(
                "INSERT INTO chats (platform, chat_id, group_id) VALUES (?, ?, ?)"
                " ON CONFLICT (platform, chat_id) DO UPDATE SET group_id = excluded.group_id,"
                " active = 1",
                (chat.platform, chat.id, group_id),
            )
            group = CityGroup(id=group_id, name=name, settings=settings)
            await self.update_group(group)
        return group

    async def update_group(self, group: CityGroup) -> None:
        s = group.settings
        await self.db.execute(
            "UPDATE city_groups SET name = ?, language = ?, timezone = ?, default_start = ?,"
            " default_end = ?, default_duration_minutes = ?, public = ?, poll_time = ?,"
            " poll_close = ?, poll_days = ?, poll_since = ?, radius_km = ?,"
            " reminder_minutes = ?, retention_days = ? WHERE id = ?",
            (
                group.name,
                s.language,
                s.timezone,
                _hm(s.default_hours[0]) if s.default_hours else None,
                _hm(s.default_hours[1]) if s.default_hours else None,
                s.default_duration_minutes,
                int(s.public),
                _hm(s.poll_time),
                _hm(s.poll_close),
                ",".join(str(d) for d in s.poll_days),
                _iso(s.poll_since) if s.poll_since else None,
                s.radius_km,
                s.reminder_minutes,
                s.retention_days,
                group.id,
            ),
        )

    async def chats_of_group(self, group_id: int) -> Sequence[ChatRef]:
        rows = await self._all(
            "SELECT platform, chat_id FROM chats WHERE group_id = ? AND active = 1"
            " ORDER BY platform, chat_id",
            (group_id,),
        )
        return [ChatRef(r["platform"], r["chat_id"]) for r in rows]

    async def set_chat_active(self, chat: ChatRef, active: bool) -> None:
        """The bot was removed from the chat (or blocked), or is back: an inactive chat
        keeps its group but gets no posts (`chats_of_group` leaves it out)."""
        async with self.atomic():
            await self.db.execute(
                "UPDATE chats SET active = ? WHERE platform = ? AND chat_id = ?",
                (int(active), chat.platform, chat.id),
            )

    # --- venues ----------------------------------------------------------------------

    @staticmethod
    def _venue(row: aiosqlite.Row) -> Venue:
        return Venue(
            id=row["id"],
            group_id=row["group_id"],
            name=row["name"],
            latitude=row["latitude"],
            longitude=row["longitude"],
            address=row["address"],
            tags=tuple(t for t in row["tags"].split(",") if t),
            notes=row["notes"],
        )

    async def venues(self, group_id: int) -> Sequence[Venue]:
        rows = await self._all("SELECT * FROM venues WHERE group_id = ?", (group_id,))
        return sorted((self._venue(r) for r in rows), key=lambda v: (fold(v.name), v.id))

    async def add_venue(self, venue: Venue) -> Venue:
        cursor = await self.db.execute(
            "INSERT INTO venues (group_id, name, latitude, longitude, address, tags, notes,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                venue.group_id,
                venue.name,
                venue.latitude,
                venue.longitude,
                venue.address,
                ",".join(venue.tags),
                venue.notes,
                _iso(datetime.now(UTC)),
            ),
        )
        assert cursor.lastrowid is not None
        return Venue(**{**venue.__dict__, "id": cursor.lastrowid})

    async def update_venue(self, venue: Venue) -> None:
        await self.db.execute(
            "UPDATE venues SET name = ?, latitude = ?, longitude = ?, address = ?, tags = ?,"
            " notes = ? WHERE id = ?",
            (
                venue.name,
                venue.latitude,
                venue.longitude,
                venue.address,
                ",".join(venue.tags),
                venue.notes,
                venue.id,
            ),
        )

    async def remove_venue(self, venue_id: int) -> None:
        await self.db.execute("DELETE FROM venues WHERE id = ?", (venue_id,))

    # --- sessions --------------------------------------------------------------------

    async def _sessions(self, where: str, params: Sequence[Any]) -> list[Session]:
        # one round trip: the joiners come along as a JSON array, in the order they joined
        rows = await self._all(
            "SELECT s.*, (SELECT json_group_array(json_array(platform, person_id, name))"
            " FROM (SELECT platform, person_id, name FROM session_joiners j"
            " WHERE j.session_id = s.id ORDER BY joined_at, rowid)) AS joiners_json"
            f" FROM sessions s WHERE {where} ORDER BY starts_at, id",
            params,
        )
        joiners = {
            r["id"]: [
                Person(PersonRef(platform, person_id), name)
                for platform, person_id, name in json.loads(r["joiners_json"])
            ]
            for r in rows
        }
        return [
            Session(
                id=r["id"],
                group_id=r["group_id"],
                place=r["place"],
                venue_id=r["venue_id"],
                latitude=r["latitude"],
                longitude=r["longitude"],
                local_date=date.fromisoformat(r["local_date"]),
                start=time.fromisoformat(r["start_local"]),
                end=time.fromisoformat(r["end_local"]),
                starts_at=_instant(r["starts_at"]),
                ends_at=_instant(r["ends_at"]),
                opener=Person(PersonRef(r["opener_platform"], r["opener_id"]), r["opener_name"]),
                topic=r["topic"],
                state=SessionState(r["state"]),
                joiners=tuple(joiners.get(r["id"], ())),
                standing_id=r["standing_id"],
            )
            for r in rows
        ]

    async def add_session(self, new: NewSession) -> Session | None:
        """Store a session with its first joiners; None if a standing session's day
        already has its row (materialized or skipped before)."""
        cursor = await self.db.execute(
            "INSERT OR IGNORE INTO sessions (group_id, venue_id, place, latitude, longitude,"
            " local_date, start_local, end_local, starts_at, ends_at, opener_platform,"
            " opener_id, opener_name, topic, state, created_at, standing_id, here)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)",
            (
                new.group_id,
                new.venue_id,
                new.place,
                new.latitude,
                new.longitude,
                new.local_date.isoformat(),
                _hm(new.start),
                _hm(new.end),
                _iso(new.starts_at),
                _iso(new.ends_at),
                new.opener.ref.platform,
                new.opener.ref.id,
                new.opener.name,
                new.topic,
                _iso(datetime.now(UTC)),
                new.standing_id,
                int(new.here),
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

    async def add_joiner(self, session_id: int, person: Person, at: datetime) -> None:
        await self.db.execute(
            "INSERT OR IGNORE INTO session_joiners (session_id, platform, person_id, name,"
            " joined_at) VALUES (?, ?, ?, ?, ?)",
            (session_id, person.ref.platform, person.ref.id, person.name, _iso(at)),
        )

    async def remove_joiner(self, session_id: int, person: Person) -> None:
        await self.db.execute(
            "DELETE FROM session_joiners WHERE session_id = ? AND platform = ? AND person_id = ?",
            (session_id, person.ref.platform, person.ref.id),
        )

    async def set_session_state(self, session_id: int, state: SessionState) -> None:
        await self.db.execute(
            "UPDATE sessions SET state = ? WHERE id = ?", (state.value, session_id)
        )
        await self._wipe_here_points()

    async def end_sessions_before(self, instant: datetime) -> int:
        cursor = await self.db.execute(
            "UPDATE sessions SET state = 'ended' WHERE state = 'open' AND ends_at <= ?",
            (_iso(instant),),
        )
        ended = cursor.rowcount
        await self._wipe_here_points()
        return ended

    async def _wipe_here_points(self) -> None:
        """A session opened "here" keeps its (rounded) point only while it is open."""
        await self.db.execute(
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
            now_iso=_iso(now),
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
            now_iso=_iso(now),
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

    # --- people and platform delivery state -----------------------------------------

    async def remember_person(self, person: Person, at: datetime) -> None:
        await self.db.execute(
            "INSERT INTO people (platform, person_id, name, language, last_seen)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (platform, person_id) DO UPDATE SET"
            " name = excluded.name, language = COALESCE(excluded.language, people.language),"
            " last_seen = excluded.last_seen",
            (person.ref.platform, person.ref.id, person.name, person.language, _iso(at)),
        )

    async def platform_value(self, platform: str, key: str) -> str | None:
        row = await self._one(
            "SELECT value FROM platform_state WHERE platform = ? AND key = ?", (platform, key)
        )
        return str(row["value"]) if row else None

    async def set_platform_value(self, platform: str, key: str, value: str) -> None:
        await self.db.execute(
            "INSERT INTO platform_state (platform, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT (platform, key) DO UPDATE SET value = excluded.value",
            (platform, key, value),
        )

    async def forget_handled_before(self, instant: datetime) -> int:
        """Handled-event ids older than this are no longer needed for deduplication
        (Telegram keeps unconfirmed updates 24 hours; Matrix sync tokens move on)."""
        cursor = await self.db.execute(
            "DELETE FROM handled_events WHERE handled_at < ?", (_iso(instant),)
        )
        return cursor.rowcount

    async def mark_handled(self, platform: str, event_id: str, at: datetime) -> bool:
        """Record an event as handled; False if it was handled before (a duplicate)."""
        cursor = await self.db.execute(
            "INSERT OR IGNORE INTO handled_events (platform, event_id, handled_at)"
            " VALUES (?, ?, ?)",
            (platform, event_id, _iso(at)),
        )
        return cursor.rowcount == 1

    async def is_handled(self, platform: str, event_id: str) -> bool:
        """Was the event recorded as handled? (A read; the Matrix adapter records an event
        only after its replies went out, so it asks first.)"""
        row = await self._one(
            "SELECT 1 FROM handled_events WHERE platform = ? AND event_id = ?",
            (platform, event_id),
        )
        return row is not None

    async def move_chat(self, old: ChatRef, new: ChatRef) -> None:
        """A chat was replaced (Matrix room upgrade): its city group lives on in `new`.
        If `new` belongs to a group already, that stays and `old` is deactivated."""
        async with self.atomic():
            taken = await self._one(
                "SELECT 1 FROM chats WHERE platform = ? AND chat_id = ?", (new.platform, new.id)
            )
            if taken:
                await self.db.execute(
                    "UPDATE chats SET active = 0 WHERE platform = ? AND chat_id = ?",
                    (old.platform, old.id),
                )
            else:
                await self.db.execute(
                    "UPDATE chats SET platform = ?, chat_id = ? WHERE platform = ? AND chat_id = ?",
                    (new.platform, new.id, old.platform, old.id),
                )

    # --- groups, for the schedule ------------------------------------------------------

    async def groups(self) -> Sequence[CityGroup]:
        return [self._group(r) for r in await self._all("SELECT * FROM city_groups ORDER BY id")]

    async def next_session_end(self, after: datetime) -> datetime | None:
        row = await self._one(
            "SELECT MIN(ends_at) AS due FROM sessions WHERE state = 'open' AND ends_at > ?",
            (_iso(after),),
        )
        return _instant(row["due"]) if row and row["due"] else None

    async def venues_last_used(self, group_id: int) -> dict[int, date]:
        rows = await self._all(
            "SELECT venue_id, MAX(local_date) AS day FROM sessions WHERE group_id = ?"
            " AND venue_id IS NOT NULL AND state != 'cancelled' GROUP BY venue_id",
            (group_id,),
        )
        return {r["venue_id"]: date.fromisoformat(r["day"]) for r in rows}

    # --- venue polls -------------------------------------------------------------------

    async def _polls(self, where: str, params: Sequence[Any]) -> list[VenuePoll]:
        rows = await self._all(f"SELECT * FROM venue_polls WHERE {where} ORDER BY id", params)
        polls = []
        for r in rows:
            options = [
                PollOption(
                    position=o["position"],
                    venue_id=o["venue_id"],
                    name=o["name"],
                    latitude=o["latitude"],
                    longitude=o["longitude"],
                    last_used=date.fromisoformat(o["last_used"]) if o["last_used"] else None,
                )
                for o in await self._all(
                    "SELECT * FROM poll_options WHERE poll_id = ? ORDER BY position", (r["id"],)
                )
            ]
            votes = [
                Vote(
                    Person(PersonRef(v["platform"], v["person_id"]), v["name"]),
                    v["position"],
                    _instant(v["voted_at"]),
                )
                for v in await self._all(
                    "SELECT * FROM poll_votes WHERE poll_id = ? ORDER BY voted_at, rowid",
                    (r["id"],),
                )
            ]
            starter = (
                PersonRef(r["starter_platform"], r["starter_id"]) if r["starter_platform"] else None
            )
            polls.append(
                VenuePoll(
                    id=r["id"],
                    group_id=r["group_id"],
                    local_date=date.fromisoformat(r["local_date"]),
                    starter=starter,
                    state=PollState(r["state"]),
                    closes_at=_instant(r["closes_at"]),
                    options=tuple(options),
                    votes=tuple(votes),
                )
            )
        return polls

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
        cursor = await self.db.execute(
            "INSERT OR IGNORE INTO venue_polls (group_id, local_date, starter_platform,"
            " starter_id, closes_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                group_id,
                local_date.isoformat(),
                starter.platform if starter else None,
                starter.id if starter else None,
                _iso(closes_at),
                _iso(at),
            ),
        )
        if cursor.rowcount != 1 or cursor.lastrowid is None:
            return None
        await self.db.executemany(
            "INSERT INTO poll_options (poll_id, position, venue_id, name, latitude, longitude,"
            " last_used) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    cursor.lastrowid,
                    o.position,
                    o.venue_id,
                    o.name,
                    o.latitude,
                    o.longitude,
                    o.last_used.isoformat() if o.last_used else None,
                )
                for o in options
            ],
        )
        return await self.poll(cursor.lastrowid)

    async def poll(self, poll_id: int) -> VenuePoll | None:
        found = await self._polls("id = ?", (poll_id,))
        return found[0] if found else None

    async def poll_on(self, group_id: int, local_date: date) -> VenuePoll | None:
        found = await self._polls(
            "group_id = ? AND local_date = ?", (group_id, local_date.isoformat())
        )
        return found[0] if found else None

    async def open_polls(self) -> Sequence[VenuePoll]:
        return await self._polls("state = 'open'", ())

    async def set_vote(self, poll_id: int, person: Person, position: int, at: datetime) -> None:
        await self.db.execute(
            "INSERT INTO poll_votes (poll_id, platform, person_id, name, position, voted_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (poll_id, platform, person_id) DO UPDATE"
            " SET position = excluded.position, name = excluded.name,"
            " voted_at = excluded.voted_at",
            (poll_id, person.ref.platform, person.ref.id, person.name, position, _iso(at)),
        )

    async def remove_vote(self, poll_id: int, person: Person) -> None:
        await self.db.execute(
            "DELETE FROM poll_votes WHERE poll_id = ? AND platform = ? AND person_id = ?",
            (poll_id, person.ref.platform, person.ref.id),
        )

    async def close_poll(self, poll_id: int, winner_session_id: int | None) -> bool:
        """Close an open poll; False when it was closed already (nothing is done twice)."""
        cursor = await self.db.execute(
            "UPDATE venue_polls SET state = 'closed', winner_session_id = ?"
            " WHERE id = ? AND state = 'open'",
            (winner_session_id, poll_id),
        )
        return cursor.rowcount == 1

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
        )

    async def add_standing(self, standing: StandingSession, at: datetime) -> StandingSession:
        cursor = await self.db.execute(
            "INSERT INTO standing_sessions (group_id, weekday, venue_id, place, latitude,"
            " longitude, start_local, end_local, opener_platform, opener_id, opener_name,"
            " topic, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                standing.group_id,
                standing.weekday,
                standing.venue_id,
                standing.place,
                standing.latitude,
                standing.longitude,
                _hm(standing.start),
                _hm(standing.end),
                standing.opener.ref.platform,
                standing.opener.ref.id,
                standing.opener.name,
                standing.topic,
                _iso(at),
            ),
        )
        assert cursor.lastrowid is not None
        return replace(standing, id=cursor.lastrowid)

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
        await self.db.execute(
            "UPDATE standing_sessions SET active = 0 WHERE id = ?", (standing_id,)
        )

    # --- subscriptions -----------------------------------------------------------------

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
        await self.db.execute(
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
                _hm(sub.quiet[0]) if sub.quiet else None,
                _hm(sub.quiet[1]) if sub.quiet else None,
                _iso(at),
            ),
        )

    async def unsubscribe(self, group_id: int, person: PersonRef) -> bool:
        cursor = await self.db.execute(
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
        cursor = await self.db.execute(
            "UPDATE subscriptions SET told_unreachable = 1 WHERE group_id = ? AND platform = ?"
            " AND person_id = ? AND told_unreachable = 0",
            (group_id, person.platform, person.id),
        )
        return cursor.rowcount == 1

    async def set_reachable(self, person: PersonRef, reachable: bool) -> None:
        await self.db.execute(
            "UPDATE people SET unreachable = ? WHERE platform = ? AND person_id = ?",
            (int(not reachable), person.platform, person.id),
        )
        if reachable:
            await self.db.execute(
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

    # --- the outbox --------------------------------------------------------------------

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
    ) -> bool:
        """Queue a message; False if this kind was queued for this session and person."""
        cursor = await self.db.execute(
            "INSERT OR IGNORE INTO outbox (kind, platform, person_id, chat_id, session_id, text,"
            " buttons, due_at, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                person.platform,
                person.id,
                chat.id if chat else None,
                session_id,
                text,
                json.dumps([list(b) for b in buttons]),
                _iso(due_at),
                _iso(expires_at) if expires_at else None,
                _iso(due_at),
            ),
        )
        return cursor.rowcount == 1

    @staticmethod
    def _outbox(r: aiosqlite.Row) -> OutboxMessage:
        return OutboxMessage(
            id=r["id"],
            kind=r["kind"],
            person=PersonRef(r["platform"], r["person_id"]),
            chat=ChatRef(r["platform"], r["chat_id"]) if r["chat_id"] else None,
            session_id=r["session_id"],
            text=r["text"],
            buttons=tuple(tuple(b) for b in json.loads(r["buttons"])),
            due_at=_instant(r["due_at"]),
            expires_at=_instant(r["expires_at"]) if r["expires_at"] else None,
            attempts=r["attempts"],
        )

    async def due_messages(
        self, platform: str, now: datetime, limit: int, *, stale_claim: datetime
    ) -> Sequence[OutboxMessage]:
        """Pending messages due now, oldest first; also those claimed before
        `stale_claim` whose sender died before it could say how it went."""
        rows = await self._all(
            "SELECT * FROM outbox WHERE platform = ? AND ((state = 'pending' AND due_at <= ?)"
            " OR (state = 'sending' AND claimed_at <= ?)) ORDER BY due_at, id LIMIT ?",
            (platform, _iso(now), _iso(stale_claim), limit),
        )
        return [self._outbox(r) for r in rows]

    async def claim_message(self, message_id: int, now: datetime) -> bool:
        cursor = await self.db.execute(
            "UPDATE outbox SET state = 'sending', claimed_at = ?, attempts = attempts + 1"
            " WHERE id = ? AND state IN ('pending', 'sending')",
            (_iso(now), message_id),
        )
        return cursor.rowcount == 1

    async def finish_message(self, message_id: int, state: str, now: datetime) -> None:
        """state: 'sent', 'dropped' (expired, quiet hours over, unreachable) or 'failed'."""
        await self.db.execute(
            "UPDATE outbox SET state = ?, sent_at = ? WHERE id = ?",
            (state, _iso(now), message_id),
        )

    async def retry_message(self, message_id: int, due_at: datetime) -> None:
        await self.db.execute(
            "UPDATE outbox SET state = 'pending', due_at = ?, claimed_at = NULL WHERE id = ?",
            (_iso(due_at), message_id),
        )

    async def drop_messages(
        self, session_id: int, kinds: Sequence[str], person: PersonRef | None = None
    ) -> None:
        marks = ",".join("?" * len(kinds))
        sql = (
            f"UPDATE outbox SET state = 'dropped' WHERE session_id = ? AND kind IN ({marks})"
            " AND state = 'pending'"
        )
        params: list[Any] = [session_id, *kinds]
        if person is not None:
            sql += " AND platform = ? AND person_id = ?"
            params += [person.platform, person.id]
        await self.db.execute(sql, params)

    async def next_message_due(self, after: datetime) -> datetime | None:
        row = await self._one(
            "SELECT MIN(due_at) AS due FROM outbox WHERE state = 'pending' AND due_at > ?",
            (_iso(after),),
        )
        return _instant(row["due"]) if row and row["due"] else None

    # --- personal data -----------------------------------------------------------------

    async def personal_data(self, person: PersonRef) -> dict[str, int]:
        """How many rows of each kind the database holds about a person."""
        who = (person.platform, person.id)
        queries = {
            "names": "SELECT COUNT(*) FROM people WHERE platform = ? AND person_id = ?",
            "subscriptions": "SELECT COUNT(*) FROM subscriptions WHERE platform = ?"
            " AND person_id = ?",
            "sessions_opened": "SELECT COUNT(*) FROM sessions WHERE opener_platform = ?"
            " AND opener_id = ?",
            "standing_sessions": "SELECT COUNT(*) FROM standing_sessions WHERE"
            " opener_platform = ? AND opener_id = ? AND active = 1",
            "joins": "SELECT COUNT(*) FROM session_joiners WHERE platform = ? AND person_id = ?",
            "votes": "SELECT COUNT(*) FROM poll_votes WHERE platform = ? AND person_id = ?",
            "messages": "SELECT COUNT(*) FROM outbox WHERE platform = ? AND person_id = ?",
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
        ):
            await self.db.execute(
                f"DELETE FROM {table} WHERE {platform_col} = ? AND {id_col} = ?", who
            )
        await self.db.execute(
            "UPDATE sessions SET state = 'cancelled' WHERE opener_platform = ? AND opener_id = ?"
            " AND state = 'open'",
            who,
        )
        for table in ("sessions", "standing_sessions"):
            await self.db.execute(
                f"UPDATE {table} SET opener_platform = '', opener_id = '', opener_name = ''"
                " WHERE opener_platform = ? AND opener_id = ?",
                who,
            )
        await self.db.execute(
            "UPDATE standing_sessions SET active = 0 WHERE opener_platform = '' AND active = 1"
        )
        await self.db.execute(
            "UPDATE venue_polls SET starter_platform = NULL, starter_id = NULL"
            " WHERE starter_platform = ? AND starter_id = ?",
            who,
        )
        await self._wipe_here_points()

    async def purge_before(self, group_id: int, day: date) -> int:
        """Retention: joiner lists and votes of the group's sessions and polls before
        that day are deleted; returns how many rows went."""
        gone = 0
        for sql in (
            "DELETE FROM session_joiners WHERE session_id IN (SELECT id FROM sessions"
            " WHERE group_id = ? AND local_date < ? AND state != 'open')",
            "DELETE FROM poll_votes WHERE poll_id IN (SELECT id FROM venue_polls"
            " WHERE group_id = ? AND local_date < ?)",
            "DELETE FROM outbox WHERE state != 'pending' AND session_id IN (SELECT id FROM"
            " sessions WHERE group_id = ? AND local_date < ?)",
        ):
            cursor = await self.db.execute(sql, (group_id, day.isoformat()))
            gone += cursor.rowcount
        return gone
