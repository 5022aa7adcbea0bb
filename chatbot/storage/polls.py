"""Venue polls, their options and votes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from chatbot.core.events import Person, PersonRef
from chatbot.core.model import (
    PollOption,
    PollState,
    VenuePoll,
    Vote,
)
from chatbot.storage.base import Store, from_iso, to_iso


class PollStore(Store):
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
                    number=o["venue_number"],
                )
                for o in await self._all(
                    "SELECT * FROM poll_options WHERE poll_id = ? ORDER BY position", (r["id"],)
                )
            ]
            votes = [
                Vote(
                    Person(PersonRef(v["platform"], v["person_id"]), v["name"]),
                    v["position"],
                    from_iso(v["voted_at"]),
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
                    closes_at=from_iso(r["closes_at"]),
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
        cursor = await self._write(
            "INSERT OR IGNORE INTO venue_polls (group_id, local_date, starter_platform,"
            " starter_id, closes_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                group_id,
                local_date.isoformat(),
                starter.platform if starter else None,
                starter.id if starter else None,
                to_iso(closes_at),
                to_iso(at),
            ),
        )
        if cursor.rowcount != 1 or cursor.lastrowid is None:
            return None
        await self.db.executemany(
            "INSERT INTO poll_options (poll_id, position, venue_id, name, latitude, longitude,"
            " last_used, venue_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    cursor.lastrowid,
                    o.position,
                    o.venue_id,
                    o.name,
                    o.latitude,
                    o.longitude,
                    o.last_used.isoformat() if o.last_used else None,
                    o.number,
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
        await self._write(
            "INSERT INTO poll_votes (poll_id, platform, person_id, name, position, voted_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (poll_id, platform, person_id) DO UPDATE"
            " SET position = excluded.position, name = excluded.name,"
            " voted_at = excluded.voted_at",
            (poll_id, person.ref.platform, person.ref.id, person.name, position, to_iso(at)),
        )

    async def remove_vote(self, poll_id: int, person: Person) -> None:
        await self._write(
            "DELETE FROM poll_votes WHERE poll_id = ? AND platform = ? AND person_id = ?",
            (poll_id, person.ref.platform, person.ref.id),
        )

    async def drop_venue_from_open_polls(self, venue_id: int) -> int:
        """A removed venue leaves every open poll, with the votes for it; returns how
        many votes went."""
        cursor = await self._write(
            "DELETE FROM poll_votes WHERE EXISTS (SELECT 1 FROM poll_options o JOIN venue_polls"
            " p ON p.id = o.poll_id WHERE p.state = 'open' AND o.poll_id = poll_votes.poll_id"
            " AND o.position = poll_votes.position AND o.venue_id = ?)",
            (venue_id,),
        )
        votes = cursor.rowcount
        await self._write(
            "DELETE FROM poll_options WHERE venue_id = ? AND poll_id IN"
            " (SELECT id FROM venue_polls WHERE state = 'open')",
            (venue_id,),
        )
        return votes

    async def close_poll(self, poll_id: int, winner_session_id: int | None) -> bool:
        """Close an open poll; False when it was closed already (nothing is done twice)."""
        cursor = await self._write(
            "UPDATE venue_polls SET state = 'closed', winner_session_id = ?"
            " WHERE id = ? AND state = 'open'",
            (winner_session_id, poll_id),
        )
        return cursor.rowcount == 1
