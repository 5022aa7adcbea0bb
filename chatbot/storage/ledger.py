"""What the runtime and the adapters keep about delivery: the updates handled
(`handled_events`), each platform's own values (`platform_state`: sync tokens, button
and poll registries, last contact), and actions decided but not delivered yet
(`pending_actions`: written in the transaction that marks their update handled,
deleted once the platform took them)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from chatbot.storage.base import Store, from_iso, to_iso


@dataclass(frozen=True)
class PendingRow:
    id: int
    platform: str
    lane: str  # the queue it waits in: one per chat (or per person, for direct messages)
    payload: str  # the action as JSON (chatbot.runtime.codec)
    created_at: datetime


class LedgerStore(Store):
    async def platform_value(self, platform: str, key: str) -> str | None:
        row = await self._one(
            "SELECT value FROM platform_state WHERE platform = ? AND key = ?", (platform, key)
        )
        return str(row["value"]) if row else None

    async def set_platform_value(self, platform: str, key: str, value: str) -> None:
        await self._write(
            "INSERT INTO platform_state (platform, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT (platform, key) DO UPDATE SET value = excluded.value",
            (platform, key, value),
        )

    async def forget_handled_before(self, instant: datetime) -> int:
        """Handled-event ids older than this are no longer needed for deduplication
        (Telegram keeps unconfirmed updates 24 hours; Matrix sync tokens move on)."""
        cursor = await self._write(
            "DELETE FROM handled_events WHERE handled_at < ?", (to_iso(instant),)
        )
        return cursor.rowcount

    async def mark_handled(self, platform: str, event_id: str, at: datetime) -> bool:
        """Record an event as handled; False if it was handled before (a duplicate)."""
        changed = await self._change(
            "INSERT OR IGNORE INTO handled_events (platform, event_id, handled_at)"
            " VALUES (?, ?, ?)",
            (platform, event_id, to_iso(at)),
        )
        return changed == 1

    async def is_handled(self, platform: str, event_id: str) -> bool:
        """Was the event recorded as handled? (A read; the Matrix adapter records an event
        only after its replies went out, so it asks first.)"""
        row = await self._one(
            "SELECT 1 FROM handled_events WHERE platform = ? AND event_id = ?",
            (platform, event_id),
        )
        return row is not None

    async def highest_handled(self, platform: str, prefix: str) -> int:
        """The highest number among handled event ids `<prefix><number>` (Telegram's
        `update:<update_id>`); 0 if none."""
        row = await self._one(
            "SELECT MAX(CAST(SUBSTR(event_id, ?) AS INTEGER)) AS n FROM handled_events"
            " WHERE platform = ? AND event_id LIKE ?",
            (len(prefix) + 1, platform, prefix + "%"),
        )
        return int(row["n"]) if row is not None and row["n"] is not None else 0

    async def commit_actions(
        self,
        items: Iterable[tuple[str, str, str]],
        at: datetime,
        *,
        handled: tuple[str, str] | None = None,
    ) -> list[int]:
        """End the caller's unit of work (the update's, or the scheduler's): record the
        (platform, lane, payload) rows of the actions it decided, mark the update
        `handled` (platform, event id) if one caused them, and commit, all in one trip
        to the database. Returns the rows' ids, in order."""
        rows = [(platform, lane, payload, to_iso(at)) for platform, lane, payload in items]

        def statements(connection: sqlite3.Connection) -> list[int]:
            if handled is not None:
                connection.execute(
                    "INSERT OR IGNORE INTO handled_events (platform, event_id, handled_at)"
                    " VALUES (?, ?, ?)",
                    (*handled, to_iso(at)),
                )
            ids: list[int] = []
            for start in range(0, len(rows), 200):  # 4 parameters a row; SQLite: 32766
                chunk = rows[start : start + 200]
                returned = connection.execute(
                    "INSERT INTO pending_actions (platform, lane, payload, created_at) VALUES "
                    + ",".join(["(?, ?, ?, ?)"] * len(chunk))
                    + " RETURNING id",
                    [value for row in chunk for value in row],
                ).fetchall()
                # RETURNING gives no order; AUTOINCREMENT ids grow in the order inserted
                ids.extend(sorted(int(r[0]) for r in returned))
            return ids

        return await self.base.commit_unit(statements)

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
