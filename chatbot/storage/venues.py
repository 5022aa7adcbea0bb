"""A city's venues; each keeps the number it was given."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import aiosqlite

from chatbot.core.model import (
    Venue,
)
from chatbot.core.text import fold
from chatbot.storage.base import Store, to_iso


class VenueStore(Store):
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
            number=row["number"] or 0,
        )

    async def of_group(self, group_id: int) -> Sequence[Venue]:
        """The group's venues sorted by name; each keeps its own number."""
        rows = await self._all("SELECT * FROM venues WHERE group_id = ?", (group_id,))
        return sorted((self._venue(r) for r in rows), key=lambda v: (fold(v.name), v.id))

    async def add_venue(self, venue: Venue, at: datetime) -> Venue:
        """Store a venue with the group's next venue number (never one given before)."""
        await self._write(
            "UPDATE city_groups SET venue_seq = venue_seq + 1 WHERE id = ?", (venue.group_id,)
        )
        cursor = await self._write(
            "INSERT INTO venues (group_id, name, latitude, longitude, address, tags, notes,"
            " created_at, number) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
            " (SELECT venue_seq FROM city_groups WHERE id = ?))",
            (
                venue.group_id,
                venue.name,
                venue.latitude,
                venue.longitude,
                venue.address,
                ",".join(venue.tags),
                venue.notes,
                to_iso(at),
                venue.group_id,
            ),
        )
        assert cursor.lastrowid is not None
        row = await self._one("SELECT * FROM venues WHERE id = ?", (cursor.lastrowid,))
        assert row is not None
        return self._venue(row)

    async def update_venue(self, venue: Venue) -> None:
        await self._write(
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
        await self._write("DELETE FROM venues WHERE id = ?", (venue_id,))

    async def venues_last_used(self, group_id: int) -> dict[int, date]:
        rows = await self._all(
            "SELECT venue_id, MAX(local_date) AS day FROM sessions WHERE group_id = ?"
            " AND venue_id IS NOT NULL AND state != 'cancelled' GROUP BY venue_id",
            (group_id,),
        )
        return {r["venue_id"]: date.fromisoformat(r["day"]) for r in rows}
