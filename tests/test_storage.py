"""The SQLite repository on real files: migrations, pragmas, transactions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import aiosqlite
import pytest

from chatbot.core.events import ChatRef, Person, PersonRef
from chatbot.core.model import GroupSettings, NewSession, Venue
from chatbot.storage.migrations import MIGRATIONS
from chatbot.storage.sqlite import SqliteRepository, sqlite_path

CHAT = ChatRef("test", "g1")
BEN = Person(PersonRef("test", "ben"), "Ben")
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


async def test_a_database_from_the_first_migration_upgrades_itself(db_url: str) -> None:
    # a database as the first version of the program left it, written with that
    # version's schema (the current repository code speaks only the newest schema)
    old = await SqliteRepository.open(db_url, migrate_to=1)
    try:
        await old.db.execute(
            "INSERT INTO city_groups (id, name, language, timezone, created_at)"
            " VALUES (1, 'Duisburg', 'de', 'Europe/Berlin', '2026-01-01T00:00:00+00:00')"
        )
        await old.db.execute(
            "INSERT INTO chats (platform, chat_id, group_id) VALUES ('test', 'g1', 1)"
        )
        await old.db.execute(
            "INSERT INTO venues (group_id, name, latitude, longitude, created_at)"
            " VALUES (1, 'Café Museum', 51.43, 6.76, '2026-01-01T00:00:00+00:00')"
        )
        async with old.db.execute("PRAGMA user_version") as cursor:
            assert (await cursor.fetchone())[0] == 1  # type: ignore[index]
        with pytest.raises(aiosqlite.OperationalError):
            await old.people.remember_person(BEN, NOW)  # the table comes with migration 2
    finally:
        await old.close()

    upgraded = await SqliteRepository.open(db_url)
    try:
        async with upgraded.db.execute("PRAGMA user_version") as cursor:
            assert (await cursor.fetchone())[0] == len(MIGRATIONS)  # type: ignore[index]
        found = await upgraded.cities.group_for_chat(CHAT)
        assert found is not None and found.name == "Duisburg"
        # columns added later get their defaults: the daily poll at 08:00 on weekdays
        assert found.settings.poll_time == time(8, 0)
        assert found.settings.poll_days == (0, 1, 2, 3, 4)
        assert [v.name for v in await upgraded.venues.of_group(found.id)] == ["Café Museum"]
        await upgraded.people.remember_person(BEN, NOW)
        assert await upgraded.ledger.mark_handled("test", "update-1", NOW) is True
        assert await upgraded.ledger.mark_handled("test", "update-1", NOW) is False
    finally:
        await upgraded.close()


async def test_wal_and_foreign_keys_are_on(repo: SqliteRepository) -> None:
    async with repo.db.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone())[0] == "wal"  # type: ignore[index]
    async with repo.db.execute("PRAGMA foreign_keys") as cursor:
        assert (await cursor.fetchone())[0] == 1  # type: ignore[index]
    with pytest.raises(aiosqlite.IntegrityError):
        await repo.venues.add_venue(Venue(0, 999, "Nowhere", 1.0, 1.0), NOW)


async def test_data_survives_reopening_the_file(db_url: str) -> None:
    first = await SqliteRepository.open(db_url)
    group = await first.cities.create_group(CHAT, "Essen", GroupSettings(language="en"), NOW)
    await first.close()
    second = await SqliteRepository.open(db_url)
    found = await second.cities.group_for_chat(CHAT)
    assert found == group
    await second.close()


async def test_a_failed_transaction_leaves_nothing(repo: SqliteRepository) -> None:
    group = await repo.cities.create_group(CHAT, "Bochum", GroupSettings(), NOW)
    with pytest.raises(RuntimeError):
        async with repo.atomic():
            await repo.venues.add_venue(Venue(0, group.id, "Tante Mia", 51.48, 7.21), NOW)
            raise RuntimeError("interrupted")
    assert await repo.venues.of_group(group.id) == []


async def test_sessions_keep_joiners_in_order_and_end_by_time(repo: SqliteRepository) -> None:
    group = await repo.cities.create_group(CHAT, "Dortmund", GroupSettings(), NOW)
    session = await repo.sessions.add_session(
        NewSession(
            group_id=group.id,
            place="Café Durchbruch",
            venue_id=None,
            latitude=51.51,
            longitude=7.46,
            local_date=date(2026, 11, 30),
            start=time(9),
            end=time(12),
            starts_at=datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
            ends_at=datetime(2026, 11, 30, 11, 0, tzinfo=UTC),
            opener=BEN,
            created_at=NOW,
        )
    )
    carla = Person(PersonRef("test", "carla"), "Carla")
    dana = Person(PersonRef("test", "dana"), "Dana")
    await repo.sessions.add_joiner(session.id, carla, NOW)
    await repo.sessions.add_joiner(session.id, dana, NOW)
    await repo.sessions.add_joiner(session.id, carla, NOW)  # twice is once
    loaded = await repo.sessions.session(session.id)
    assert loaded is not None and [j.name for j in loaded.joiners] == ["Carla", "Dana"]
    assert await repo.sessions.end_sessions_before(datetime(2026, 11, 30, 10, 59, tzinfo=UTC)) == 0
    assert await repo.sessions.end_sessions_before(datetime(2026, 11, 30, 11, 0, tzinfo=UTC)) == 1
    assert await repo.sessions.sessions_on(group.id, date(2026, 11, 30)) == []


def test_database_urls() -> None:
    assert sqlite_path("sqlite:///chatbot.db") == "chatbot.db"
    assert sqlite_path("sqlite:////srv/bot/chatbot.db") == "/srv/bot/chatbot.db"
    assert sqlite_path(str(Path("x") / "y.db")) == "x/y.db"
    with pytest.raises(ValueError):
        sqlite_path("postgresql://localhost/bot")
