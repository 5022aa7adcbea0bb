"""The repository on SQLite (aiosqlite): WAL, foreign keys on, migrations at open.

`SqliteRepository` implements `chatbot.core.ports.Repository`; its methods live in one
store per area, each building on the one before:
`base.SqliteBase` (connection, transactions) → `groups.GroupStore` (city groups, chats,
venues, people, delivery state) → `sessions.SessionStore` (sessions, standing
sessions, nearby) → `polls.PollStore` → `people.PeopleStore` (subscriptions, outbox,
personal data, retention) → `calendar.CalendarStore` (calendar tokens and what the web
page and the feeds read).
"""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from chatbot.storage import geo
from chatbot.storage.base import sqlite_path
from chatbot.storage.calendar import CalendarStore
from chatbot.storage.migrations import migrate
from chatbot.storage.pending import PendingStore
from chatbot.storage.talent import TalentStore

__all__ = ["SqliteRepository", "sqlite_path"]


class SqliteRepository(CalendarStore, TalentStore, PendingStore):
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
