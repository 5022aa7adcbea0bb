"""Numbered schema migrations, as plain functions.

A database of any older version upgrades itself at start: `PRAGMA user_version`
holds the number of the last migration applied, and each later one runs in order,
in its own transaction. Never edit a migration that has shipped; add a new one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiosqlite

from chatbot.core.text import fold
from chatbot.storage.geo import m006_geo_index

Migration = Callable[[aiosqlite.Connection], Awaitable[None]]


async def _run(db: aiosqlite.Connection, script: str) -> None:
    """Run statements one by one (executescript would commit the open transaction)."""
    for statement in script.split(";"):
        if statement.strip():
            await db.execute(statement)


async def m001_city_groups_venues_sessions(db: aiosqlite.Connection) -> None:
    await _run(
        db,
        """
        CREATE TABLE city_groups (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            language TEXT NOT NULL,
            timezone TEXT NOT NULL,
            default_start TEXT,
            default_end TEXT,
            default_duration_minutes INTEGER NOT NULL DEFAULT 240,
            public INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL
        );
        CREATE TABLE chats (
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            group_id INTEGER NOT NULL REFERENCES city_groups(id) ON DELETE CASCADE,
            active INTEGER NOT NULL DEFAULT 1,
            PRIMARY KEY (platform, chat_id)
        );
        CREATE INDEX chats_by_group ON chats(group_id);
        CREATE TABLE venues (
            id INTEGER PRIMARY KEY,
            group_id INTEGER NOT NULL REFERENCES city_groups(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            latitude REAL NOT NULL CHECK (latitude BETWEEN -90 AND 90),
            longitude REAL NOT NULL CHECK (longitude BETWEEN -180 AND 180),
            address TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '',
            notes TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE INDEX venues_by_group ON venues(group_id);
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            group_id INTEGER NOT NULL REFERENCES city_groups(id) ON DELETE CASCADE,
            venue_id INTEGER REFERENCES venues(id) ON DELETE SET NULL,
            place TEXT NOT NULL,
            latitude REAL NOT NULL,
            longitude REAL NOT NULL,
            local_date TEXT NOT NULL,
            start_local TEXT NOT NULL,
            end_local TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            opener_platform TEXT NOT NULL,
            opener_id TEXT NOT NULL,
            opener_name TEXT NOT NULL,
            topic TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL DEFAULT 'open',
            created_at TEXT NOT NULL
        );
        CREATE INDEX sessions_by_day ON sessions(group_id, local_date, state);
        CREATE INDEX sessions_by_end ON sessions(state, ends_at);
        CREATE TABLE session_joiners (
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            platform TEXT NOT NULL,
            person_id TEXT NOT NULL,
            name TEXT NOT NULL,
            joined_at TEXT NOT NULL,
            PRIMARY KEY (session_id, platform, person_id)
        );
        """,
    )


async def m002_people_and_delivery_state(db: aiosqlite.Connection) -> None:
    """People's names and languages; each platform's delivery position and handled events."""
    await _run(
        db,
        """
        CREATE TABLE people (
            platform TEXT NOT NULL,
            person_id TEXT NOT NULL,
            name TEXT NOT NULL,
            language TEXT,
            last_seen TEXT NOT NULL,
            PRIMARY KEY (platform, person_id)
        );
        CREATE TABLE platform_state (
            platform TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (platform, key)
        );
        CREATE TABLE handled_events (
            platform TEXT NOT NULL,
            event_id TEXT NOT NULL,
            handled_at TEXT NOT NULL,
            PRIMARY KEY (platform, event_id)
        );
        """,
    )


async def m003_polls_and_standing_sessions(db: aiosqlite.Connection) -> None:
    """Venue polls (one per group and local date), the poll schedule's settings, and
    standing weekly sessions with skipped dates."""
    await _run(
        db,
        """
        ALTER TABLE city_groups ADD COLUMN poll_time TEXT DEFAULT '08:00';
        ALTER TABLE city_groups ADD COLUMN poll_close TEXT NOT NULL DEFAULT '10:00';
        ALTER TABLE city_groups ADD COLUMN poll_days TEXT NOT NULL DEFAULT '0,1,2,3,4';
        ALTER TABLE city_groups ADD COLUMN poll_since TEXT;
        CREATE TABLE venue_polls (
            id INTEGER PRIMARY KEY,
            group_id INTEGER NOT NULL REFERENCES city_groups(id) ON DELETE CASCADE,
            local_date TEXT NOT NULL,
            starter_platform TEXT,
            starter_id TEXT,
            state TEXT NOT NULL DEFAULT 'open',
            closes_at TEXT NOT NULL,
            winner_session_id INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
            created_at TEXT NOT NULL,
            UNIQUE (group_id, local_date)
        );
        CREATE INDEX venue_polls_by_state ON venue_polls(state, closes_at);
        CREATE TABLE poll_options (
            poll_id INTEGER NOT NULL REFERENCES venue_polls(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            venue_id INTEGER REFERENCES venues(id) ON DELETE SET NULL,
            name TEXT NOT NULL,
            latitude REAL NOT NULL,
            longitude REAL NOT NULL,
            last_used TEXT,
            PRIMARY KEY (poll_id, position)
        );
        CREATE TABLE poll_votes (
            poll_id INTEGER NOT NULL REFERENCES venue_polls(id) ON DELETE CASCADE,
            platform TEXT NOT NULL,
            person_id TEXT NOT NULL,
            name TEXT NOT NULL,
            position INTEGER NOT NULL,
            voted_at TEXT NOT NULL,
            PRIMARY KEY (poll_id, platform, person_id)
        );
        CREATE TABLE standing_sessions (
            id INTEGER PRIMARY KEY,
            group_id INTEGER NOT NULL REFERENCES city_groups(id) ON DELETE CASCADE,
            weekday INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
            venue_id INTEGER REFERENCES venues(id) ON DELETE SET NULL,
            place TEXT NOT NULL,
            latitude REAL NOT NULL,
            longitude REAL NOT NULL,
            start_local TEXT NOT NULL,
            end_local TEXT NOT NULL,
            opener_platform TEXT NOT NULL,
            opener_id TEXT NOT NULL,
            opener_name TEXT NOT NULL,
            topic TEXT NOT NULL DEFAULT '',
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL
        );
        ALTER TABLE sessions ADD COLUMN standing_id INTEGER
            REFERENCES standing_sessions(id) ON DELETE SET NULL;
        CREATE UNIQUE INDEX sessions_one_per_standing_day
            ON sessions(standing_id, local_date) WHERE standing_id IS NOT NULL;
        """,
    )


async def m004_nearby(db: aiosqlite.Connection) -> None:
    """The group's search radius; sessions opened "here" (at a shared, rounded point,
    which is wiped when the session ends)."""
    await _run(
        db,
        """
        ALTER TABLE city_groups ADD COLUMN radius_km REAL NOT NULL DEFAULT 5.0;
        ALTER TABLE sessions ADD COLUMN here INTEGER NOT NULL DEFAULT 0
        """,
    )


async def m005_pings_and_privacy(db: aiosqlite.Connection) -> None:
    """Subscriptions, the durable outbox of direct messages (pings, reminders), who
    cannot be reached, and the group's reminder and retention settings."""
    await _run(
        db,
        """
        ALTER TABLE city_groups ADD COLUMN reminder_minutes INTEGER NOT NULL DEFAULT 15;
        ALTER TABLE city_groups ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 90;
        ALTER TABLE people ADD COLUMN unreachable INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE subscriptions (
            group_id INTEGER NOT NULL REFERENCES city_groups(id) ON DELETE CASCADE,
            platform TEXT NOT NULL,
            person_id TEXT NOT NULL,
            name TEXT NOT NULL,
            language TEXT,
            radius_km REAL,
            centre_lat REAL,
            centre_lon REAL,
            quiet_start TEXT,
            quiet_end TEXT,
            told_unreachable INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            PRIMARY KEY (group_id, platform, person_id)
        );
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            platform TEXT NOT NULL,
            person_id TEXT NOT NULL,
            chat_id TEXT,
            session_id INTEGER REFERENCES sessions(id) ON DELETE CASCADE,
            text TEXT NOT NULL,
            buttons TEXT NOT NULL DEFAULT '[]',
            due_at TEXT NOT NULL,
            expires_at TEXT,
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            claimed_at TEXT,
            sent_at TEXT,
            created_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX outbox_once ON outbox(kind, session_id, platform, person_id)
            WHERE session_id IS NOT NULL;
        CREATE INDEX outbox_due ON outbox(state, platform, due_at)
        """,
    )


async def m007_stable_numbers(db: aiosqlite.Connection) -> None:
    """Numbers people see keep naming one thing: a venue's number is given once and never
    reused (the group's counter `venue_seq`), a series has its own number, a session
    keeps the number it was announced with, and a poll option shows its venue's number.
    Existing venues and series keep the numbers they were last shown with (venues by
    name, series by age); sessions are numbered per day in start order, as /today
    showed them."""
    await _run(
        db,
        """
        ALTER TABLE city_groups ADD COLUMN venue_seq INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE city_groups ADD COLUMN series_seq INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE venues ADD COLUMN number INTEGER;
        ALTER TABLE standing_sessions ADD COLUMN number INTEGER;
        ALTER TABLE sessions ADD COLUMN number INTEGER;
        ALTER TABLE poll_options ADD COLUMN venue_number INTEGER
        """,
    )
    rows = await db.execute_fetchall("SELECT id, group_id, name FROM venues")
    by_group: dict[int, list[tuple[str, int]]] = {}
    for venue_id, group_id, name in rows:
        by_group.setdefault(group_id, []).append((fold(name), venue_id))
    for group_id, venues in by_group.items():
        for number, (_, venue_id) in enumerate(sorted(venues), start=1):
            await db.execute("UPDATE venues SET number = ? WHERE id = ?", (number, venue_id))
        await db.execute(
            "UPDATE city_groups SET venue_seq = ? WHERE id = ?", (len(venues), group_id)
        )
    await _run(
        db,
        """
        UPDATE standing_sessions SET number = (SELECT COUNT(*) FROM standing_sessions o
            WHERE o.group_id = standing_sessions.group_id AND o.id <= standing_sessions.id);
        UPDATE city_groups SET series_seq = (SELECT COUNT(*) FROM standing_sessions s
            WHERE s.group_id = city_groups.id);
        UPDATE sessions SET number = (SELECT COUNT(*) FROM sessions o
            WHERE o.group_id = sessions.group_id AND o.local_date = sessions.local_date
            AND (o.starts_at < sessions.starts_at
                 OR (o.starts_at = sessions.starts_at AND o.id <= sessions.id)));
        UPDATE poll_options SET venue_number = (SELECT number FROM venues v
            WHERE v.id = poll_options.venue_id);
        CREATE UNIQUE INDEX venues_number ON venues(group_id, number);
        CREATE UNIQUE INDEX series_number ON standing_sessions(group_id, number);
        CREATE INDEX sessions_by_number ON sessions(group_id, number, local_date)
        """,
    )


async def m008_seats_and_travel_margin(db: aiosqlite.Connection) -> None:
    """How many fit in a session (the opener included; NULL: no limit; who comes after
    that waits, in the order they joined), and the group's travel margin: a poll's
    session starts no earlier than this many minutes after the poll closes."""
    await _run(
        db,
        """
        ALTER TABLE sessions ADD COLUMN seats INTEGER;
        ALTER TABLE city_groups ADD COLUMN travel_minutes INTEGER NOT NULL DEFAULT 30
        """,
    )


async def m009_web_page_and_calendar_tokens(db: aiosqlite.Connection) -> None:
    """The city page's link to join the group chat (set by an admin), and each person's
    secret token for their personal calendar feed (`/calendar`; deleted by `/forget`)."""
    await _run(
        db,
        """
        ALTER TABLE city_groups ADD COLUMN invite_url TEXT;
        CREATE TABLE calendar_tokens (
            platform TEXT NOT NULL,
            person_id TEXT NOT NULL,
            token TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            PRIMARY KEY (platform, person_id)
        )
        """,
    )


async def m010_talent_and_projects(db: aiosqlite.Connection) -> None:
    """Profiles (skills per city group, opt-in) with their skills' folded forms and word
    starts in a B-tree (`profile_terms`) and a trigram FTS5 index over them for word
    parts, kept in step by triggers; projects with a number per group (the
    group's counter `project_seq`, never reused) and their members. Without the FTS5
    trigram tokenizer (SQLite before 3.34) the index is left out and the search scans."""
    await _run(
        db,
        """
        ALTER TABLE city_groups ADD COLUMN project_seq INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE profiles (
            id INTEGER PRIMARY KEY,
            group_id INTEGER NOT NULL REFERENCES city_groups(id) ON DELETE CASCADE,
            platform TEXT NOT NULL,
            person_id TEXT NOT NULL,
            name TEXT NOT NULL,
            language TEXT,
            skills TEXT NOT NULL,
            search TEXT NOT NULL,
            about TEXT NOT NULL DEFAULT '',
            area TEXT NOT NULL DEFAULT '',
            centre_lat REAL,
            centre_lon REAL,
            muted INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL,
            UNIQUE (group_id, platform, person_id)
        );
        CREATE INDEX profiles_by_person ON profiles(platform, person_id);
        CREATE TABLE profile_terms (
            profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
            group_id INTEGER NOT NULL,
            kind INTEGER NOT NULL,
            term TEXT NOT NULL
        );
        CREATE INDEX profile_terms_lookup ON profile_terms(group_id, kind, term);
        CREATE INDEX profile_terms_by_profile ON profile_terms(profile_id);
        CREATE TABLE projects (
            id INTEGER PRIMARY KEY,
            group_id INTEGER NOT NULL REFERENCES city_groups(id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            name TEXT NOT NULL,
            skills TEXT NOT NULL,
            text TEXT NOT NULL DEFAULT '',
            lead_platform TEXT NOT NULL,
            lead_id TEXT NOT NULL,
            lead_name TEXT NOT NULL,
            lead_language TEXT,
            state TEXT NOT NULL DEFAULT 'open',
            created_at TEXT NOT NULL,
            ended_at TEXT
        );
        CREATE UNIQUE INDEX projects_number ON projects(group_id, number);
        CREATE INDEX projects_by_lead ON projects(lead_platform, lead_id);
        CREATE TABLE project_members (
            project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            platform TEXT NOT NULL,
            person_id TEXT NOT NULL,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (project_id, platform, person_id)
        );
        CREATE INDEX project_members_by_person ON project_members(platform, person_id);
        CREATE INDEX sessions_by_opener ON sessions(opener_platform, opener_id);
        CREATE INDEX session_joiners_by_person ON session_joiners(platform, person_id)
        """,
    )
    try:
        await db.execute(
            "CREATE VIRTUAL TABLE profile_search USING fts5(search, content='profiles',"
            " content_rowid='id', tokenize='trigram')"
        )
    except aiosqlite.OperationalError:
        return  # no trigram tokenizer: the search scans (chatbot.storage.talent)
    for trigger in (
        "CREATE TRIGGER profiles_ai AFTER INSERT ON profiles BEGIN INSERT INTO"
        " profile_search(rowid, search) VALUES (new.id, new.search); END",
        "CREATE TRIGGER profiles_ad AFTER DELETE ON profiles BEGIN INSERT INTO"
        " profile_search(profile_search, rowid, search) VALUES ('delete', old.id, old.search);"
        " END",
        "CREATE TRIGGER profiles_au AFTER UPDATE OF search ON profiles BEGIN INSERT INTO"
        " profile_search(profile_search, rowid, search) VALUES ('delete', old.id, old.search);"
        " INSERT INTO profile_search(rowid, search) VALUES (new.id, new.search); END",
    ):
        await db.execute(trigger)


async def m011_linked_chats(db: aiosqlite.Connection) -> None:
    """One city on several platforms (`/link`): each chat's title as it was when it
    was linked (for /settings), and one-time link codes, stored as a hash with their
    expiry; a code is used once (`used_at`)."""
    await _run(
        db,
        """
        ALTER TABLE chats ADD COLUMN title TEXT;
        CREATE TABLE link_codes (
            code_hash TEXT PRIMARY KEY,
            group_id INTEGER NOT NULL REFERENCES city_groups(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT
        )
        """,
    )


async def m012_pending_actions(db: aiosqlite.Connection) -> None:
    """The actions of handled updates until the platform took them (chatbot.runtime)."""
    await db.execute(
        """
        CREATE TABLE pending_actions (
            -- never reused: the id is the Matrix transaction id of the action
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            platform TEXT NOT NULL,
            lane TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """
    )
    await db.execute("CREATE INDEX pending_actions_platform ON pending_actions (platform, id)")


MIGRATIONS: tuple[Migration, ...] = (
    m001_city_groups_venues_sessions,
    m002_people_and_delivery_state,
    m003_polls_and_standing_sessions,
    m004_nearby,
    m005_pings_and_privacy,
    m006_geo_index,
    m007_stable_numbers,
    m008_seats_and_travel_margin,
    m009_web_page_and_calendar_tokens,
    m010_talent_and_projects,
    m011_linked_chats,
    m012_pending_actions,
)


async def migrate(db: aiosqlite.Connection, target: int | None = None) -> int:
    """Apply every migration after the database's version (up to `target`); return it."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    wanted = len(MIGRATIONS) if target is None else target
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"database schema version {version} is newer than this program ({len(MIGRATIONS)})"
        )
    for number in range(version + 1, wanted + 1):
        await db.execute("BEGIN IMMEDIATE")
        try:
            await MIGRATIONS[number - 1](db)
            await db.execute(f"PRAGMA user_version = {number}")
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        version = number
    return version
