"""The repository on SQLite (aiosqlite): WAL, foreign keys on, migrations at open.

`SqliteRepository` implements `chatbot.core.ports.Repository`: one store per area
(`repo.cities`, `repo.venues` ...), all on one connection (`base.SqliteBase`: the
transactions, the unit of work, the one write path), so that whatever the areas write
inside one `atomic()` or `unit()` commits together.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path

import aiosqlite

from chatbot.storage import geo
from chatbot.storage.base import SqliteBase, sqlite_path
from chatbot.storage.calendar import CalendarStore
from chatbot.storage.geo import GeoIndex
from chatbot.storage.groups import CityStore
from chatbot.storage.ledger import LedgerStore
from chatbot.storage.migrations import migrate
from chatbot.storage.outbox import OutboxStore
from chatbot.storage.people import PeopleStore
from chatbot.storage.polls import PollStore
from chatbot.storage.sessions import SessionStore
from chatbot.storage.talent import TalentStore
from chatbot.storage.venues import VenueStore

__all__ = ["SqliteRepository", "sqlite_path"]


class SqliteRepository:
    def __init__(
        self, db: aiosqlite.Connection, db_path: str = ":memory:", geo_index: GeoIndex | None = None
    ) -> None:
        self.base = base = SqliteBase(db, db_path, geo_index)
        self.db = db
        self.db_path = db_path
        self.geo = base.geo
        self.cities = CityStore(base)
        self.venues = VenueStore(base)
        self.sessions = SessionStore(base)
        self.polls = PollStore(base)
        self.people = PeopleStore(base, self.sessions)
        self.outbox = OutboxStore(base)
        self.calendar = CalendarStore(base, self.sessions)
        self.talent = TalentStore(base)
        self.ledger = LedgerStore(base)

    def unit(self) -> AbstractAsyncContextManager[None]:
        return self.base.unit()

    def atomic(self) -> AbstractAsyncContextManager[None]:
        return self.base.atomic()

    async def close(self) -> None:
        await self.base.close()

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
