"""The outbox: direct messages (pings, reminders, notices) that must not be lost,
written in the transaction of what caused them, delivered by `chatbot.delivery`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from chatbot.core.events import ChatRef, PersonRef
from chatbot.core.model import (
    OutboxMessage,
)
from chatbot.storage.base import Store, from_iso, to_iso


class OutboxStore(Store):
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
        again: bool = False,
    ) -> bool:
        """Queue a message; False if this kind is queued (or was sent) for this session
        and person already. One that was taken back (dropped: the person left, the
        session moved) is queued again, so leaving and joining again is as joining once.
        `again`: news that can come more than once (a second change) replaces the last."""
        cursor = await self._write(
            "INSERT INTO outbox (kind, platform, person_id, chat_id, session_id, text,"
            " buttons, due_at, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (kind, session_id, platform, person_id) WHERE session_id IS NOT NULL"
            " DO UPDATE SET state = 'pending', text = excluded.text, buttons = excluded.buttons,"
            " due_at = excluded.due_at, expires_at = excluded.expires_at, attempts = 0,"
            " claimed_at = NULL WHERE outbox.state = 'dropped' OR ?",
            (
                kind,
                person.platform,
                person.id,
                chat.id if chat else None,
                session_id,
                text,
                json.dumps([list(b) for b in buttons]),
                to_iso(due_at),
                to_iso(expires_at) if expires_at else None,
                to_iso(due_at),
                int(again),
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
            due_at=from_iso(r["due_at"]),
            expires_at=from_iso(r["expires_at"]) if r["expires_at"] else None,
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
            (platform, to_iso(now), to_iso(stale_claim), limit),
        )
        return [self._outbox(r) for r in rows]

    async def claim_message(self, message_id: int, now: datetime) -> bool:
        cursor = await self._write(
            "UPDATE outbox SET state = 'sending', claimed_at = ?, attempts = attempts + 1"
            " WHERE id = ? AND state IN ('pending', 'sending')",
            (to_iso(now), message_id),
        )
        return cursor.rowcount == 1

    async def finish_message(self, message_id: int, state: str, now: datetime) -> None:
        """state: 'sent', 'dropped' (expired, quiet hours over, unreachable) or 'failed'."""
        await self._write(
            "UPDATE outbox SET state = ?, sent_at = ? WHERE id = ?",
            (state, to_iso(now), message_id),
        )

    async def retry_message(self, message_id: int, due_at: datetime) -> None:
        await self._write(
            "UPDATE outbox SET state = 'pending', due_at = ?, claimed_at = NULL WHERE id = ?",
            (to_iso(due_at), message_id),
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
        await self._write(sql, params)

    async def move_messages(
        self, session_id: int, kind: str, *, due_at: datetime, expires_at: datetime
    ) -> None:
        await self._write(
            "UPDATE outbox SET due_at = ?, expires_at = ? WHERE session_id = ? AND kind = ?"
            " AND state = 'pending'",
            (to_iso(due_at), to_iso(expires_at), session_id, kind),
        )

    async def next_message_due(self, after: datetime) -> datetime | None:
        row = await self._one(
            "SELECT MIN(due_at) AS due FROM outbox WHERE state = 'pending' AND due_at > ?",
            (to_iso(after),),
        )
        return from_iso(row["due"]) if row and row["due"] else None
