"""Actions that were decided but not delivered yet (`chatbot.runtime`): written in the
transaction that marks their update handled, deleted once the platform took them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from chatbot.storage.base import SqliteBase, from_iso, to_iso


@dataclass(frozen=True)
class PendingRow:
    id: int
    platform: str
    lane: str  # the queue it waits in: one per chat (or per person, for direct messages)
    payload: str  # the action as JSON (chatbot.runtime.codec)
    created_at: datetime


class PendingStore(SqliteBase):
    async def add_pending(self, items: Iterable[tuple[str, str, str]], at: datetime) -> list[int]:
        """Record (platform, lane, payload) rows; their ids, in order."""
        ids = []
        async with self.atomic():
            for platform, lane, payload in items:
                cursor = await self.db.execute(
                    "INSERT INTO pending_actions (platform, lane, payload, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (platform, lane, payload, to_iso(at)),
                )
                ids.append(int(cursor.lastrowid or 0))
        return ids

    async def pending_of(self, platform: str) -> list[PendingRow]:
        rows = await self._all(
            "SELECT id, platform, lane, payload, created_at FROM pending_actions"
            " WHERE platform = ? ORDER BY id",
            (platform,),
        )
        return [
            PendingRow(r["id"], r["platform"], r["lane"], r["payload"], from_iso(r["created_at"]))
            for r in rows
        ]

    async def finish_pending(self, pending_id: int) -> None:
        await self._change("DELETE FROM pending_actions WHERE id = ?", (pending_id,))
