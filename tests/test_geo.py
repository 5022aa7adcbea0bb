"""The geo index (chatbot/storage/geo.py) on real SQLite files: distances, filters, both
implementations against each other and against a plain scan, migration and detection."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time

import aiosqlite
import pytest

from chatbot.core.events import ChatRef, Person, PersonRef
from chatbot.core.model import GroupSettings, NewSession, SessionState
from chatbot.core.parsing import haversine_m, round_position
from chatbot.storage import geo
from chatbot.storage.sqlite import SqliteRepository

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
NOW_ISO = "2026-11-30T10:00:00+00:00"
LATER_ISO = "2026-11-30T16:00:00+00:00"
EARLIER_ISO = "2026-11-30T09:00:00+00:00"
BEN = Person(PersonRef("test", "ben"), "Ben")

HBF = (51.4297, 6.7755)  # Duisburg Hauptbahnhof
CAFE_MUSEUM = (51.4344, 6.7623)
KOE_LOUNGE = (51.4330, 6.7650)
FINKENKRUG = (51.4290, 6.7900)
ESSEN = (51.4556, 7.0116)


def reference_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance by another formula (Vincenty's, for the sphere)."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    y = math.hypot(
        math.cos(p2) * math.sin(dl),
        math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl),
    )
    x = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return geo.EARTH_RADIUS_M * math.atan2(y, x)


async def open_index(url: str, kind: str) -> tuple[SqliteRepository, geo.GeoIndex]:
    """A migrated database with the geo index of this kind (whatever the migrations
    made, so that the tests hold before and after m006 is in MIGRATIONS)."""
    repo = await SqliteRepository.open(url)
    async with repo.atomic():
        found = await geo._existing(repo.db)
        wanted = geo.RTREE_TABLE if kind == "rtree" else geo.BOX_TABLE
        if found and wanted not in found:
            await geo.drop_schema(repo.db)
        index = await geo.ensure_schema(repo.db, use_rtree=kind == "rtree")
    assert index.kind == kind
    return repo, index


@pytest.fixture(params=["rtree", "box"])
async def indexed(
    request: pytest.FixtureRequest, db_url: str
) -> AsyncIterator[tuple[SqliteRepository, geo.GeoIndex]]:
    repo, index = await open_index(db_url, request.param)
    yield repo, index
    await repo.close()


async def add_group(db: aiosqlite.Connection, group_id: int, *, public: bool) -> None:
    await db.execute(
        "INSERT INTO city_groups (id, name, language, timezone, public, created_at)"
        " VALUES (?, ?, 'de', 'Europe/Berlin', ?, ?)",
        (group_id, f"Group {group_id}", int(public), NOW_ISO),
    )


async def add_session(
    db: aiosqlite.Connection,
    group_id: int,
    lat: float,
    lon: float,
    *,
    ends_at: str = LATER_ISO,
    state: str = "open",
) -> int:
    cursor = await db.execute(
        "INSERT INTO sessions (group_id, place, latitude, longitude, local_date, start_local,"
        " end_local, starts_at, ends_at, opener_platform, opener_id, opener_name, state,"
        " created_at) VALUES (?, 'Somewhere', ?, ?, '2026-11-30', '09:00', '17:00', ?, ?,"
        " 'test', 'ben', 'Ben', ?, ?)",
        (group_id, lat, lon, EARLIER_ISO, ends_at, state, NOW_ISO),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def index_ids(db: aiosqlite.Connection, index: geo.GeoIndex) -> set[int]:
    table = geo.RTREE_TABLE if index.kind == "rtree" else geo.BOX_TABLE
    return {row[0] for row in await db.execute_fetchall(f"SELECT id FROM {table}")}


def new_session(group_id: int, place: str, lat: float, lon: float) -> NewSession:
    return NewSession(
        group_id=group_id,
        place=place,
        venue_id=None,
        latitude=lat,
        longitude=lon,
        local_date=date(2026, 11, 30),
        start=time(10, 0),
        end=time(17, 0),
        starts_at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        ends_at=datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
        opener=BEN,
        created_at=NOW,
    )


# --- distances and positions ------------------------------------------------------------


def test_haversine_against_known_distances() -> None:
    # Ed Williams' Aviation Formulary: LAX (33°57'N 118°24'W) to JFK (40°38'N 73°47'W)
    # is 0.623585 radians of a great circle
    lax_jfk = haversine_m(33 + 57 / 60, -(118 + 24 / 60), 40 + 38 / 60, -(73 + 47 / 60))
    assert lax_jfk / geo.EARTH_RADIUS_M == pytest.approx(0.623585, abs=1e-6)
    assert haversine_m(*HBF, *CAFE_MUSEUM) == pytest.approx(1053.8, abs=0.5)
    for place in (CAFE_MUSEUM, KOE_LOUNGE, FINKENKRUG, ESSEN):
        assert haversine_m(*HBF, *place) == pytest.approx(reference_m(*HBF, *place), abs=0.01)
    assert haversine_m(0, 179.9995, 0, -179.9995) == pytest.approx(111.2, abs=0.1)
    assert haversine_m(90, 0, 90, 120) == pytest.approx(0, abs=1e-6)
    assert haversine_m(0, 0, 0, 180) == pytest.approx(math.pi * geo.EARTH_RADIUS_M)


def test_round_position_keeps_about_100_m() -> None:
    assert round_position(51.434449, 6.762351) == (51.434, 6.762)
    assert round_position(-0.0001, -0.0004) == (0.0, 0.0)
    assert str(round_position(-0.0001, 0.0)[0]) == "0.0"  # not -0.0
    lat, lon = 51.43449, 6.76249
    assert haversine_m(lat, lon, *round_position(lat, lon)) < 100
    assert round_position(95, 190) == (90.0, -170.0)


def test_boxes_hold_the_circle_at_the_poles_and_across_180_degrees() -> None:
    [box] = geo.bounding_boxes(*HBF, 5000)
    assert box[0] < HBF[0] - 0.0449 and box[1] > HBF[0] + 0.0449
    assert box[2] < HBF[1] - 0.0719 < box[2] + 0.001  # wider in longitude: 1/cos(51°)
    [polar] = geo.bounding_boxes(89.99, 10, 5000)  # the pole is inside: every longitude
    assert polar[0] == pytest.approx(89.945, abs=1e-3) and polar[1:] == (90.0, -180.0, 180.0)
    east, west = geo.bounding_boxes(10, 179.99, 5000)  # split at 180°
    assert east[2] == pytest.approx(179.944, abs=1e-3) and east[3] == 180.0
    assert west[2] == -180.0 and west[3] == pytest.approx(-179.964, abs=1e-3)
    assert geo.bounding_boxes(0, 0, 30_000_000) == [(-90.0, 90.0, -180.0, 180.0)]


# --- queries --------------------------------------------------------------------------


async def test_nearest_first_with_exact_distances(
    indexed: tuple[SqliteRepository, geo.GeoIndex],
) -> None:
    repo, index = indexed
    group = await repo.cities.create_group(ChatRef("test", "g1"), "Duisburg", GroupSettings(), NOW)
    ids = {}
    async with repo.atomic():  # through the repository: the triggers index them
        for name, (lat, lon) in {
            "Finkenkrug": FINKENKRUG,
            "Café Museum": CAFE_MUSEUM,
            "Kö Lounge": KOE_LOUNGE,
            "Essen": ESSEN,
        }.items():
            session = await repo.sessions.add_session(new_session(group.id, name, lat, lon))
            assert session is not None
            ids[name] = session.id
    found = await index.nearest(
        repo.db, *HBF, 5000, now_iso=NOW_ISO, group_ids={group.id}, include_public=False
    )
    assert [session_id for session_id, _ in found] == [
        ids["Kö Lounge"],
        ids["Finkenkrug"],
        ids["Café Museum"],
    ]
    for (_, distance), place in zip(found, (KOE_LOUNGE, FINKENKRUG, CAFE_MUSEUM), strict=True):
        assert distance == pytest.approx(reference_m(*HBF, *place), abs=0.01)
    assert [round(d) for _, d in found] == [815, 1008, 1054]
    # the radius and the limit
    near = await index.nearest(
        repo.db, *HBF, 1000, now_iso=NOW_ISO, group_ids={group.id}, include_public=True
    )
    assert near == found[:1]
    two = await index.nearest(
        repo.db, *HBF, 50_000, now_iso=NOW_ISO, group_ids={group.id}, include_public=True, limit=2
    )
    assert two == found[:2]
    everything = await index.nearest(
        repo.db, *HBF, 50_000, now_iso=NOW_ISO, group_ids={group.id}, include_public=True
    )
    assert [i for i, _ in everything] == [i for i, _ in found] + [ids["Essen"]]
    assert everything[-1][1] == pytest.approx(reference_m(*HBF, *ESSEN), abs=0.01)
    # the module-level calls find the same through the implementation detected
    assert (
        await geo.nearest(
            repo.db, *HBF, 5000, now_iso=NOW_ISO, group_ids={group.id}, include_public=False
        )
        == found
    )


async def test_ended_cancelled_and_expired_sessions_are_not_found(
    indexed: tuple[SqliteRepository, geo.GeoIndex],
) -> None:
    repo, index = indexed
    db = repo.db
    async with repo.atomic():
        await add_group(db, 1, public=True)
        live = await add_session(db, 1, *KOE_LOUNGE)
        ended = await add_session(db, 1, *FINKENKRUG)
        cancelled = await add_session(db, 1, *CAFE_MUSEUM)
        expired = await add_session(db, 1, 51.43, 6.77, ends_at=NOW_ISO)  # ends right now
        never = await add_session(db, 1, 51.431, 6.771, state="ended")
        await repo.sessions.set_session_state(ended, SessionState.ENDED)
        await repo.sessions.set_session_state(cancelled, SessionState.CANCELLED)
    # ending and cancelling drop the entries (triggers); an ended one was never added
    assert await index_ids(db, index) == {live, expired}
    assert never not in await index_ids(db, index)
    found = await index.nearest(
        db, *HBF, 5000, now_iso=NOW_ISO, group_ids=None, include_public=True
    )
    assert [i for i, _ in found] == [live]
    assert (
        await index.nearest_beyond(db, *HBF, now_iso=NOW_ISO, group_ids=None, include_public=True)
        == found[0]
    )
    # the sweep drops the expired one (still 'open', past its end)
    async with repo.atomic():
        assert await index.remove_ended(db, NOW_ISO) == 1
    assert await index_ids(db, index) == {live}
    # the tick ends it later: no harm; the live one ends at its time
    async with repo.atomic():
        await repo.sessions.end_sessions_before(datetime(2026, 11, 30, 16, 0, tzinfo=UTC))
    assert await index_ids(db, index) == set()


async def test_the_index_follows_every_write_to_sessions(
    indexed: tuple[SqliteRepository, geo.GeoIndex],
) -> None:
    repo, index = indexed
    db = repo.db
    async with repo.atomic():
        await add_group(db, 1, public=True)
        moved = await add_session(db, 1, *KOE_LOUNGE)
        deleted = await add_session(db, 1, *FINKENKRUG)
        await db.execute(
            "UPDATE sessions SET latitude = ?, longitude = ? WHERE id = ?", (*ESSEN, moved)
        )
        await db.execute("DELETE FROM sessions WHERE id = ?", (deleted,))
    assert await index_ids(db, index) == {moved}
    found = await index.nearest(
        db, *ESSEN, 100, now_iso=NOW_ISO, group_ids={1}, include_public=False
    )
    assert found == [(moved, 0.0)]
    # re-opened (or extended) sessions come back
    async with repo.atomic():
        await repo.sessions.set_session_state(moved, SessionState.CANCELLED)
        assert await index_ids(db, index) == set()
        await repo.sessions.set_session_state(moved, SessionState.OPEN)
    assert await index_ids(db, index) == {moved}
    # add and remove by hand are idempotent
    async with repo.atomic():
        await index.add(db, moved, *ESSEN)
        await index.add(db, moved, *ESSEN)
        await geo.remove(db, moved)
        await geo.remove(db, moved)
    assert await index_ids(db, index) == set()
    async with repo.atomic():
        await geo.add(db, moved, *ESSEN)
    assert await index_ids(db, index) == {moved}


async def test_private_groups_are_found_only_by_their_members(
    indexed: tuple[SqliteRepository, geo.GeoIndex],
) -> None:
    repo, index = indexed
    db = repo.db
    async with repo.atomic():
        await add_group(db, 1, public=True)
        await add_group(db, 2, public=False)
        await add_group(db, 3, public=False)
        public = await add_session(db, 1, *FINKENKRUG)
        private = await add_session(db, 2, *KOE_LOUNGE)
        other = await add_session(db, 3, *CAFE_MUSEUM)

    async def ids(group_ids: set[int] | None, include_public: bool) -> list[int]:
        found = await index.nearest(
            db, *HBF, 5000, now_iso=NOW_ISO, group_ids=group_ids, include_public=include_public
        )
        return [i for i, _ in found]

    assert await ids(None, True) == [public]  # a visitor in a private chat
    assert await ids({2}, True) == [private, public]  # a member of group 2 in its chat
    assert await ids({2}, False) == [private]
    assert await ids({2, 3}, False) == [private, other]
    assert await ids({3}, True) == [public, other]
    assert await ids(None, False) == []  # None is "no groups", never "all"
    assert await ids(set(), False) == []
    beyond = await index.nearest_beyond(
        db, *ESSEN, now_iso=NOW_ISO, group_ids=None, include_public=True
    )
    assert beyond is not None and beyond[0] == public


async def test_nearest_beyond_the_radius(
    indexed: tuple[SqliteRepository, geo.GeoIndex],
) -> None:
    repo, index = indexed
    db = repo.db
    # 40 km due north of the Hauptbahnhof, and one 120 km away
    north = (HBF[0] + 40_000 / geo.EARTH_RADIUS_M * 180 / math.pi, HBF[1])
    async with repo.atomic():
        await add_group(db, 1, public=True)
        far = await add_session(db, 1, *north)
        await add_session(db, 1, HBF[0] - 1.08, HBF[1])
    kwargs = {"now_iso": NOW_ISO, "group_ids": {1}, "include_public": False}
    assert await index.nearest(db, *HBF, 5000, **kwargs) == []  # type: ignore[arg-type]
    found = await index.nearest_beyond(db, *HBF, **kwargs)  # type: ignore[arg-type]
    assert found is not None
    assert found[0] == far and found[1] == pytest.approx(40_000, abs=0.5)
    again = await index.nearest_beyond(db, *HBF, empty_m=5000, **kwargs)  # type: ignore[arg-type]
    assert again == found
    assert await index.nearest_beyond(db, *HBF, cap_m=30_000, **kwargs) is None  # type: ignore[arg-type]
    assert await geo.nearest_beyond(db, *HBF, cap_m=40_001, **kwargs) == found  # type: ignore[arg-type]
    async with repo.atomic():
        await db.execute("DELETE FROM sessions")
    assert await index.nearest_beyond(db, *HBF, **kwargs) is None  # type: ignore[arg-type]


# --- both implementations, random data --------------------------------------------------


def random_points(rng: random.Random, count: int) -> list[tuple[float, float]]:
    """Points everywhere, and many where boxes are awkward: near the poles, along ±180°,
    and a dense cluster (so that searches grow, shrink and fetch more)."""
    points: list[tuple[float, float]] = []
    for i in range(count):
        kind = i % 6
        if kind == 0:
            points.append((rng.uniform(-90, 90), rng.uniform(-180, 180)))
        elif kind == 1:
            points.append((rng.choice((1, -1)) * rng.uniform(89.0, 90.0), rng.uniform(-180, 180)))
        elif kind == 2:
            points.append((rng.uniform(-70, 70), rng.choice((1, -1)) * rng.uniform(179.0, 180.0)))
        elif kind == 3:
            points.append((rng.gauss(HBF[0], 0.01), rng.gauss(HBF[1], 0.015)))
        else:
            points.append((rng.uniform(35, 70), rng.uniform(-10, 40)))
    return points


def brute_force(
    rows: list[tuple[int, int, float, float, str]],
    public: set[int],
    lat: float,
    lon: float,
    radius_m: float,
    group_ids: set[int] | None,
    include_public: bool,
    limit: int,
) -> list[tuple[int, float]]:
    allowed = (group_ids or set()) | (public if include_public else set())
    found = sorted(
        (haversine_m(lat, lon, s_lat, s_lon), session_id)
        for session_id, group_id, s_lat, s_lon, ends_at in rows
        if group_id in allowed and ends_at > NOW_ISO
    )
    return [(session_id, d) for d, session_id in found if d <= radius_m][:limit]


async def test_rtree_and_box_agree_with_each_other_and_with_a_scan(tmp_path: object) -> None:
    rng = random.Random(20261130)
    points = random_points(rng, 600)
    groups = {g: rng.random() < 0.5 for g in range(1, 9)}
    public = {g for g, is_public in groups.items() if is_public}
    rows = [
        (
            number,
            rng.randint(1, 8),
            lat,
            lon,
            LATER_ISO if rng.random() < 0.9 else EARLIER_ISO,  # some expired
        )
        for number, (lat, lon) in enumerate(points, start=1)
    ]
    # a queue of sessions at exactly the same point, and many private ones around it
    rows += [(700 + i, 8 if i % 5 else 1, HBF[0], HBF[1], LATER_ISO) for i in range(60)]
    indexes = []
    for kind in ("rtree", "box"):
        repo, index = await open_index(f"sqlite:///{tmp_path}/{kind}.db", kind)
        async with repo.atomic():
            for g, is_public in groups.items():
                await add_group(repo.db, g, public=is_public)
            for session_id, group_id, lat, lon, ends_at in rows:
                await repo.db.execute(
                    "INSERT INTO sessions (id, group_id, place, latitude, longitude, local_date,"
                    " start_local, end_local, starts_at, ends_at, opener_platform, opener_id,"
                    " opener_name, created_at) VALUES (?, ?, 'x', ?, ?, '2026-11-30', '09:00',"
                    " '17:00', ?, ?, 'test', 'ben', 'Ben', ?)",
                    (session_id, group_id, lat, lon, EARLIER_ISO, ends_at, NOW_ISO),
                )
        indexes.append((repo, index))
    try:
        queries = random_points(rng, 240) + [
            (90.0, 0.0),
            (-90.0, 45.0),
            (0.0, 180.0),
            (0.0, -180.0),
            (89.9999, 179.9999),
            HBF,
        ]
        checked = 0
        for lat, lon in queries:
            radius = rng.choice((300.0, 5_000.0, 60_000.0, 400_000.0, 3_000_000.0))
            group_ids = rng.choice((None, {1}, {2, 3}, {8}, set(groups)))
            include_public = rng.random() < 0.6
            limit = rng.choice((1, 3, 10, 50))
            expected = brute_force(rows, public, lat, lon, radius, group_ids, include_public, limit)
            for repo, index in indexes:
                found = await index.nearest(
                    repo.db,
                    lat,
                    lon,
                    radius,
                    now_iso=NOW_ISO,
                    group_ids=group_ids,
                    include_public=include_public,
                    limit=limit,
                )
                assert found == expected, (index.kind, lat, lon, radius, group_ids, limit)
                beyond = await index.nearest_beyond(
                    repo.db,
                    lat,
                    lon,
                    now_iso=NOW_ISO,
                    group_ids=group_ids,
                    include_public=include_public,
                    cap_m=radius * 3,
                )
                first = brute_force(
                    rows, public, lat, lon, radius * 3, group_ids, include_public, 1
                )
                assert beyond == (first[0] if first else None), (index.kind, lat, lon)
            checked += bool(expected)
        assert checked > 100  # most queries found something to compare
    finally:
        for repo, _ in indexes:
            await repo.close()


async def test_across_180_degrees_and_at_the_pole(
    indexed: tuple[SqliteRepository, geo.GeoIndex],
) -> None:
    repo, index = indexed
    db = repo.db
    async with repo.atomic():
        await add_group(db, 1, public=True)
        west = await add_session(db, 1, -16.5, -179.998)  # Fiji, on the other side of 180°
        pole = await add_session(db, 1, 89.999, -120.0)
    kwargs = {"now_iso": NOW_ISO, "group_ids": None, "include_public": True}
    found = await index.nearest(db, -16.5, 179.998, 5000, **kwargs)  # type: ignore[arg-type]
    assert [i for i, _ in found] == [west]
    assert found[0][1] == pytest.approx(reference_m(-16.5, 179.998, -16.5, -179.998), abs=0.01)
    found = await index.nearest(db, 89.999, 60.0, 5000, **kwargs)  # type: ignore[arg-type]
    assert [i for i, _ in found] == [pole]
    assert found[0][1] == pytest.approx(222.4, abs=0.1)  # across the pole


# --- migration and detection ------------------------------------------------------------


async def test_the_migration_back_fills_open_sessions(db_url: str) -> None:
    repo = await SqliteRepository.open(db_url)
    try:
        async with repo.atomic():
            await geo.drop_schema(repo.db)  # as before the migration
            await add_group(repo.db, 1, public=True)
            open_one = await add_session(repo.db, 1, *KOE_LOUNGE)
            await add_session(repo.db, 1, *FINKENKRUG, state="ended")
            await add_session(repo.db, 1, *CAFE_MUSEUM, state="cancelled")
        # as migrate() runs it: inside BEGIN IMMEDIATE, committed after
        await repo.db.execute("BEGIN IMMEDIATE")
        await geo.m006_geo_index(repo.db)
        await repo.db.commit()
        index = await geo.detect(repo.db)
        assert index.kind == "rtree"  # this SQLite has the module
        assert await index_ids(repo.db, index) == {open_one}
        found = await index.nearest(
            repo.db, *HBF, 5000, now_iso=NOW_ISO, group_ids=None, include_public=True
        )
        assert [i for i, _ in found] == [open_one]
        # and new sessions are indexed from now on
        async with repo.atomic():
            newer = await add_session(repo.db, 1, *ESSEN)
        assert await index_ids(repo.db, index) == {open_one, newer}
        # running it again changes nothing
        async with repo.atomic():
            await geo.m006_geo_index(repo.db)
        assert await index_ids(repo.db, index) == {open_one, newer}
    finally:
        await repo.close()


async def test_a_rolled_back_migration_leaves_nothing(db_url: str) -> None:
    repo = await SqliteRepository.open(db_url)
    try:
        async with repo.atomic():
            await geo.drop_schema(repo.db)
        await repo.db.execute("BEGIN IMMEDIATE")
        await geo.m006_geo_index(repo.db)
        await repo.db.rollback()
        assert await geo._existing(repo.db) == set()
        with pytest.raises(RuntimeError, match="no geo index"):
            await geo.detect(repo.db)
    finally:
        await repo.close()


async def test_detect_picks_the_box_fallback_without_rtree(db_url: str) -> None:
    repo = await SqliteRepository.open(db_url)
    try:
        assert await geo.rtree_available(repo.db)
        async with repo.atomic():
            await geo.drop_schema(repo.db)
            # "no R*Tree in this build", simulated
            index = await geo.ensure_schema(repo.db, use_rtree=False)
        assert isinstance(index, geo.BoxIndex)
        assert await geo._existing(repo.db) == {geo.BOX_TABLE}
        assert isinstance(await geo.detect(repo.db), geo.BoxIndex)
        assert isinstance(await geo.detect(repo.db, rtree=False), geo.BoxIndex)
        # the table decides, not the build: a box database stays a box database
        async with repo.atomic():
            assert isinstance(await geo.ensure_schema(repo.db), geo.BoxIndex)
        # an R*Tree database on a build without the module cannot be read
        async with repo.atomic():
            await geo.drop_schema(repo.db)
            await geo.ensure_schema(repo.db, use_rtree=True)
        assert isinstance(await geo.detect(repo.db), geo.RtreeIndex)
        with pytest.raises(RuntimeError, match="R\\*Tree module"):
            await geo.detect(repo.db, rtree=False)
    finally:
        await repo.close()
