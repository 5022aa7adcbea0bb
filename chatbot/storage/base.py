"""SQLite basics: the connection, transactions, and how values are stored."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, time
from functools import lru_cache
from typing import Any, TypeVar, cast

import aiosqlite

from chatbot.storage import geo
from chatbot.storage.geo import GeoIndex

_in_transaction: ContextVar[bool] = ContextVar("in_transaction", default=False)
T = TypeVar("T")


class _Unit:
    """A unit of work (`SqliteBase.unit`): one transaction, begun at its first write."""

    def __init__(self) -> None:
        self.open = False
        self.savepoints = 0


_unit: ContextVar[_Unit | None] = ContextVar("unit_of_work", default=None)


def sqlite_path(url: str) -> str:
    """ "sqlite:///chatbot.db" (relative), "sqlite:////srv/bot.db" (absolute), or a path."""
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        if url.startswith(prefix):
            return url[len(prefix) :] or ":memory:"
    if "://" in url:
        raise ValueError("only sqlite:/// database URLs are supported so far")
    return url


def to_iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="seconds")


@lru_cache(maxsize=16384)
def from_iso(text: str) -> datetime:
    # memoized: the same stored instants are read again and again (/today, the
    # schedule), and a datetime is immutable
    return datetime.fromisoformat(text).astimezone(UTC)


def to_hm(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


class SqliteBase:
    """The connection, transactions and row helpers that every store uses."""

    def __init__(
        self, db: aiosqlite.Connection, db_path: str = ":memory:", geo_index: GeoIndex | None = None
    ) -> None:
        self.db = db
        self.db_path = db_path
        self.geo: GeoIndex = geo_index or geo.BoxIndex()
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self.db.close()

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[None]:
        """Everything written inside (by any number of `atomic()` blocks, in this task)
        commits together when the block ends, or not at all. The transaction begins at
        the first write, so reads and admin checks before it hold no lock; each later
        `atomic()` inside is a savepoint (a handler's failed block rolls back alone; the
        block that begins the transaction rolls it back whole, nothing was before it).
        The runtime wraps the handling of one update in a unit, so its effects, its
        replies and the mark "handled" are one transaction."""
        if _unit.get() is not None or _in_transaction.get():
            yield
            return
        unit = _Unit()
        token = _unit.set(unit)
        try:
            yield
        except BaseException:
            if unit.open:
                await self.db.rollback()
            raise
        else:
            if unit.open:
                await self.db.commit()
        finally:
            _unit.reset(token)
            if unit.open:
                self._end_transaction(unit)

    async def commit_unit(self, statements: Callable[[sqlite3.Connection], T]) -> T:
        """End the current unit of work: run `statements` (plain sqlite3 calls) in its
        transaction and commit, all in one trip to the database thread (with BEGIN, too,
        when the unit has written nothing yet: a read-only command's mark and replies).
        On failure everything the unit wrote is rolled back. Either way the unit is
        over; what is written after it in the block is a transaction of its own."""
        unit = _unit.get()
        if unit is None:
            raise RuntimeError("commit_unit ends a unit of work (repo.unit)")
        began = unit.open
        if not began:
            await self._lock.acquire()
        try:
            # aiosqlite's own way to run a function in its thread (what its execute uses)
            run = cast(Callable[..., Awaitable[T]], self.db._execute)
            return await run(_commit, self.db._conn, statements, not began)
        finally:
            self._end_transaction(unit)  # committed, or rolled back in the thread

    def _end_transaction(self, unit: _Unit) -> None:
        """The unit's transaction, if it began, is over (committed or rolled back); the
        write lock, which the unit took when it began it, is free."""
        if unit.open:
            unit.open = False
            _in_transaction.set(False)
        self._lock.release()

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        unit = _unit.get()
        if unit is not None:
            async with self._in_unit(unit):
                yield
            return
        if _in_transaction.get():
            yield
            return
        async with self._lock:
            token = _in_transaction.set(True)
            try:
                # inside the try: a task cancelled while BEGIN runs in the database
                # thread still rolls back (else the lock stays held by this connection)
                await self.db.execute("BEGIN IMMEDIATE")
                yield
            except BaseException:
                await self.db.rollback()
                raise
            else:
                await self.db.commit()
            finally:
                _in_transaction.reset(token)

    @asynccontextmanager
    async def _in_unit(self, unit: _Unit) -> AsyncIterator[None]:
        if not unit.open:
            # the block that begins the transaction needs no savepoint: if it fails,
            # nothing else was written yet, and the whole transaction is rolled back
            await self._lock.acquire()
            try:
                await self.db.execute("BEGIN IMMEDIATE")
                unit.open = True
                _in_transaction.set(True)  # this task's later writes join the transaction
                yield
            except BaseException:
                await self.db.rollback()
                self._end_transaction(unit)
                raise
            return
        unit.savepoints += 1
        name = f"unit{unit.savepoints}"
        await self.db.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            await self.db.execute(f"ROLLBACK TO {name}")
            await self.db.execute(f"RELEASE {name}")
            raise
        else:
            await self.db.execute(f"RELEASE {name}")

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Cursor:
        """Every writing statement goes through here, so none can land in a transaction
        another task has open on the one shared connection: inside the caller's
        transaction (`atomic()`, a unit of work, which it begins if it has not yet), or
        else as its own transaction under the write lock (autocommit: one trip to the
        database thread instead of three for BEGIN, the statement and COMMIT)."""
        unit = _unit.get()
        if unit is not None and not unit.open:
            async with self.atomic():  # the unit's transaction begins here
                return await self.db.execute(sql, tuple(params))
        writing = contextlib.nullcontext() if _in_transaction.get() else self._lock
        async with writing:
            return await self.db.execute(sql, tuple(params))

    async def _change(self, sql: str, params: Iterable[Any] = ()) -> int:
        """`_write`, returning the number of rows changed."""
        cursor = await self._write(sql, params)
        return cursor.rowcount

    # Reads fetch in the database thread in one trip (execute_fetchall), not three
    # (execute, fetch, close the cursor).

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        rows = await self.db.execute_fetchall(sql, tuple(params))
        for row in rows:
            return row
        return None

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return list(await self.db.execute_fetchall(sql, tuple(params)))


def _commit(
    connection: sqlite3.Connection, statements: Callable[[sqlite3.Connection], T], begin: bool
) -> T:
    """In the database thread (`SqliteBase.commit_unit`; aiosqlite's `_execute` is its
    one way to run several statements in one trip)."""
    if begin:
        connection.execute("BEGIN IMMEDIATE")
    try:
        result = statements(connection)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return result


class Store:
    """One area's repository (`SqliteRepository.sessions`, `.polls` ...): its statements,
    on the database every area shares, through its one write path and its transactions."""

    def __init__(self, base: SqliteBase) -> None:
        self.base = base
        self.db = base.db
        self.geo = base.geo

    def atomic(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.base.atomic()

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Cursor:
        return await self.base._write(sql, params)

    async def _change(self, sql: str, params: Iterable[Any] = ()) -> int:
        return await self.base._change(sql, params)

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        return await self.base._one(sql, params)

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return await self.base._all(sql, params)
