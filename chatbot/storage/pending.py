"""Actions that were decided but not delivered yet (`chatbot.runtime`): written in the
transaction that marks their update handled, deleted once the platform took them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
        """Record (platform, lane, payload) rows, inside the caller's transaction (the
        unit of work of the update that decided them); their ids, in order."""
        rows = [(platform, lane, payload, to_iso(at)) for platform, lane, payload in items]
        if not rows:
            return []
        self._require_transaction()
        await self.db.executemany(
            "INSERT INTO pending_actions (platform, lane, payload, created_at) VALUES (?, ?, ?, ?)",
            rows,
        )
        # one writer, in one transaction, AUTOINCREMENT: the ids are the last len(rows)
        [(last,)] = await self.db.execute_fetchall("SELECT last_insert_rowid()")
        return list(range(int(last) - len(rows) + 1, int(last) + 1))

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

    async def finish_pending(self, pending_ids: Sequence[int]) -> None:
        """Delete the rows of actions that are done (sent or given up)."""
        for start in range(0, len(pending_ids), 500):
            chunk = pending_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            await self._change(f"DELETE FROM pending_actions WHERE id IN ({marks})", chunk)
