"""The geo index behind "find a session nearby": live sessions by distance from a point.

Two implementations on SQLite behind one small interface (`GeoIndex`), so that another
backend (PostGIS: a GiST index and `ST_DWithin` / `<->`) can serve the same calls later:

* `RtreeIndex`: SQLite's R*Tree module, a virtual table
  `session_rtree(id, min_lat, max_lat, min_lon, max_lon)` with one point (a degenerate box)
  per indexed session. Used where the SQLite build has the module (almost all do).
* `BoxIndex`: the fallback, a plain table `session_points(id, lat, lon)` with an index on
  `(lat, lon)`: a range scan on latitude with longitude checked in the (covering) index.

Which one a database uses is decided once, by the migration (`m006_geo_index`), which
tries to create a temporary R*Tree; afterwards `detect(db)` picks the implementation
that matches the table that exists.

Keeping the index in step: the migration installs triggers on `sessions`, so every
insert of an open session adds its point, and every change of state, position or end
(and every delete) re-indexes or drops it -- the repository's own SQL needs no extra
calls and no write path can forget one. `add`/`remove`/`remove_ended` exist for the
interface (a backend without triggers) and for sweeping; they are idempotent.

The query: the index holds only candidates. The state ('open'), the end (`ends_at >
now`) and the group filter come from `sessions` and `city_groups`, joined by primary
key; the distance is the exact great-circle (haversine) distance on the coordinates
stored in `sessions`, computed in Python. To touch few rows of `sessions` even in a
dense city, each round asks the index alone for the candidates in a box, ordered by a
cheap key, and joins only the first few (2 × limit + 8) with `sessions`; a provable
lower bound on the distance of everything not fetched says which results are final
(details at `_SqliteIndex`). Boxes start 250 m around the point and grow with the
density seen (2x..8x per round) until `limit` allowed sessions are final or the box
has reached the radius. Typically one to three statements per query.

Boxes on the sphere: a box contains the whole spherical cap of the radius. Its
longitude half-width is asin(sin(d) / cos(lat)) (d the angular radius), which grows
towards the poles; when the cap reaches a pole, the box spans all longitudes. A cap
that crosses the ±180° meridian is searched as two boxes (one each side), so a point
at 179.99° finds a session at -179.99° a few hundred metres away.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import aiosqlite

from chatbot.core.parsing import haversine_m

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG), as elsewhere in the project

RTREE_TABLE = "session_rtree"
BOX_TABLE = "session_points"

_START_M = 250.0  # the first box: 250 m around the point
_MAX_GROWTH = 8.0  # a box grows at most this much from one round to the next
_BOX_ROWS = 4000  # a grown box should be expected to hold at most this many candidates
_MAX_ROUNDS = 24  # (the last round fetches without a limit)
_EDGE_DEG = 1e-7  # boxes are widened by this (about 1 cm) against rounding
# The R*Tree keeps 32-bit floats: a stored point is off by at most one float32 step
# (1.5e-5° at 180°, under 2 m), so bounds computed from index coordinates give way by:
_SLACK_M = 5.0
_DEG2 = (math.pi / 180.0) ** 2

Box = tuple[float, float, float, float]  # min_lat, max_lat, min_lon, max_lon (degrees)


def _wrap_lon(lon: float) -> float:
    """A longitude in [-180, 180]."""
    if -180.0 <= lon <= 180.0:
        return lon
    return (lon + 180.0) % 360.0 - 180.0


@dataclass(frozen=True)
class _Plan:
    """Where to look for everything within `radius_m`: one box, or two where the ±180°
    meridian is crossed (each with the longitude of the query point on its side, so that
    `lon - centre` is the true difference), plus what the cheap sort key needs: the
    smallest cos(latitude) in the boxes and the largest angular offset (radians)."""

    boxes: tuple[tuple[Box, float], ...]  # (box, the query longitude as seen from it)
    cos_min: float
    reach: float

    def lower_bound_m(self, key_deg2: float) -> float:
        """A distance no point with this sort key can be closer than (see `_search`)."""
        half = self.reach / 2
        shrink = math.sin(half) / half if half > 0 else 1.0
        arc = 2 * math.asin(min(1.0, shrink * math.sqrt(max(0.0, key_deg2 * _DEG2)) / 2))
        return EARTH_RADIUS_M * arc - _SLACK_M


def _plan(lat: float, lon: float, radius_m: float) -> _Plan:
    lat = min(90.0, max(-90.0, lat))
    lon = _wrap_lon(lon)
    delta = max(0.0, radius_m) / EARTH_RADIUS_M  # angular radius, radians
    phi = math.radians(lat)
    lat_lo = max(-90.0, math.degrees(phi - delta) - _EDGE_DEG)
    lat_hi = min(90.0, math.degrees(phi + delta) + _EDGE_DEG)
    dlon = 180.0
    if lat_hi < 90.0 and lat_lo > -90.0 and delta < math.pi / 2:
        ratio = math.sin(delta) / math.cos(phi)
        if ratio < 1.0:
            dlon = min(180.0, math.degrees(math.asin(ratio)) + _EDGE_DEG)
    boxes: tuple[tuple[Box, float], ...]
    if dlon >= 180.0:  # the cap holds a pole (or is huge): every longitude
        # (lon - centre may then be off by 360°: cos_min = 0 leaves longitude out of
        # the sort key, which keeps the bound true)
        boxes = (((lat_lo, lat_hi, -180.0, 180.0), lon),)
        cos_min = 0.0
        reach = math.pi
    else:
        lon_lo, lon_hi = lon - dlon, lon + dlon
        if lon_lo < -180.0:
            boxes = (
                ((lat_lo, lat_hi, lon_lo + 360.0, 180.0), lon + 360.0),
                ((lat_lo, lat_hi, -180.0, lon_hi), lon),
            )
        elif lon_hi > 180.0:
            boxes = (
                ((lat_lo, lat_hi, lon_lo, 180.0), lon),
                ((lat_lo, lat_hi, -180.0, lon_hi - 360.0), lon - 360.0),
            )
        else:
            boxes = (((lat_lo, lat_hi, lon_lo, lon_hi), lon),)
        cos_min = max(0.0, min(math.cos(math.radians(lat_lo)), math.cos(math.radians(lat_hi))))
        reach = math.radians(max(lat_hi - lat, lat - lat_lo, dlon))
    return _Plan(boxes, cos_min, min(reach, math.pi))


def bounding_boxes(lat: float, lon: float, radius_m: float) -> list[Box]:
    """One or two boxes (two where the ±180° meridian is crossed) that together contain
    every point within `radius_m` of (lat, lon); all longitudes where a pole is inside."""
    return [box for box, _ in _plan(lat, lon, radius_m).boxes]


class GeoIndex(Protocol):
    """What the bot needs from a geo index (SQLite R*Tree or box table; PostGIS later).

    `now_iso` is an ISO-8601 UTC instant as stored in `sessions` ('2026-11-30T09:00:00+00:00').
    Which groups count: a session's group must be in `group_ids`, or be publicly listed
    when `include_public` is true. `group_ids=None` means *no* extra groups (never "all"):
    a visitor in a private chat asks `group_ids=None, include_public=True`; a member in
    a group `group_ids={group.id}, include_public=True`.
    """

    kind: str

    async def add(
        self, db: aiosqlite.Connection, session_id: int, lat: float, lon: float
    ) -> None: ...

    async def remove(self, db: aiosqlite.Connection, session_id: int) -> None: ...

    async def remove_ended(self, db: aiosqlite.Connection, now_iso: str) -> int: ...

    async def nearest(
        self,
        db: aiosqlite.Connection,
        lat: float,
        lon: float,
        radius_m: float,
        *,
        now_iso: str,
        group_ids: set[int] | None,
        include_public: bool,
        limit: int = 10,
    ) -> list[tuple[int, float]]: ...

    async def nearest_beyond(
        self,
        db: aiosqlite.Connection,
        lat: float,
        lon: float,
        *,
        now_iso: str,
        group_ids: set[int] | None,
        include_public: bool,
        cap_m: float = 200_000,
        empty_m: float = 0.0,
    ) -> tuple[int, float] | None: ...


class _SqliteIndex:
    """The search shared by both SQLite implementations; they differ in the table and in
    the SQL of one box's candidates.

    One round, in one statement: the index alone yields the candidates in the boxes
    with a cheap sort key (no trigonometry: Δlat² + cos_min²·Δlon², in degrees², from
    the index's own coordinates), keeps the `take` smallest, and only those are joined
    with `sessions` by primary key -- a LEFT JOIN whose ON clause carries the filter
    (open, not past its end, an allowed group), so that rejected candidates come back
    as NULL and the round knows how many candidates it saw. Python then measures the
    exact distances on the coordinates in `sessions`.

    Why that is exact: sin²(d/2) = sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2), both
    cosines are ≥ cos_min inside the boxes, and sin(x/2) ≥ (x/2)·sinc(reach/2) for
    |x| ≤ reach; so d ≥ 2·asin(sinc(reach/2)·√key/2) (`_Plan.lower_bound_m`). Every
    candidate left out by `take` has a key ≥ the largest fetched, hence lies at least
    that bound away; everything outside the boxes lies beyond the radius. Results
    closer than min(radius, bound) are therefore complete, and a round stops when
    `limit` of them are allowed sessions; otherwise it fetches more (a larger `take`)
    or looks in a larger box (sized from the density seen, 2x..8x).
    """

    kind = ""
    table = ""
    _candidates_sql = ""  # one box: SELECT id, key ... with named parameters (suffix {n})

    def __init__(self) -> None:
        self._sql_cache: dict[tuple[int, int], str] = {}

    def _sql(self, boxes: int, groups: int) -> str:
        sql = self._sql_cache.get((boxes, groups))
        if sql is None:
            union = " UNION ALL ".join(self._candidates_sql.format(n=n) for n in range(boxes))
            listed = ", ".join(f":g{n}" for n in range(groups))
            sql = (
                "SELECT c.k, s.id, s.latitude, s.longitude"
                f" FROM (SELECT id, k FROM ({union}) ORDER BY k LIMIT :take) AS c"
                " LEFT JOIN sessions AS s ON s.id = c.id AND s.state = 'open'"
                f" AND s.ends_at > :now AND (s.group_id IN ({listed}) OR :public"
                " AND s.group_id IN (SELECT id FROM city_groups WHERE public = 1))"
            )
            self._sql_cache[(boxes, groups)] = sql
        return sql

    async def add(self, db: aiosqlite.Connection, session_id: int, lat: float, lon: float) -> None:
        raise NotImplementedError

    async def remove(self, db: aiosqlite.Connection, session_id: int) -> None:
        await db.execute(f"DELETE FROM {self.table} WHERE id = ?", (session_id,))

    async def remove_ended(self, db: aiosqlite.Connection, now_iso: str) -> int:
        """Drop the entries of sessions that are no longer live (ended, cancelled, past
        their end, or deleted); return how many. The triggers already drop ended and
        cancelled ones; this also sweeps those past their end that are still 'open'."""
        cursor = await db.execute(
            f"DELETE FROM {self.table} WHERE id IN (SELECT x.id FROM {self.table} x"
            " LEFT JOIN sessions s ON s.id = x.id"
            " WHERE s.id IS NULL OR s.state != 'open' OR s.ends_at <= ?)",
            (now_iso,),
        )
        return max(0, cursor.rowcount)

    async def _fetch(
        self,
        db: aiosqlite.Connection,
        lat: float,
        plan: _Plan,
        take: int,
        common: dict[str, Any],
        groups: int,
    ) -> list[tuple[float, int | None, float, float]]:
        """One round: (key, session id or None if not allowed, latitude, longitude)."""
        params = dict(common, take=take, lat0=lat, c2=plan.cos_min * plan.cos_min)
        for n, ((lat_lo, lat_hi, lon_lo, lon_hi), lon0) in enumerate(plan.boxes):
            params.update(
                {f"a{n}": lat_lo, f"b{n}": lat_hi, f"c{n}": lon_lo, f"d{n}": lon_hi, f"o{n}": lon0}
            )
        sql = self._sql(len(plan.boxes), groups)
        rows: Iterable[Any] = await db.execute_fetchall(sql, params)
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    async def _search(
        self,
        db: aiosqlite.Connection,
        lat: float,
        lon: float,
        radius_m: float,
        now_iso: str,
        group_ids: set[int] | None,
        include_public: bool,
        limit: int,
        empty_m: float = 0.0,
    ) -> list[tuple[int, float]]:
        if limit <= 0 or radius_m < 0 or not (group_ids or include_public):
            return []
        lat = min(90.0, max(-90.0, lat))
        lon = _wrap_lon(lon)
        common: dict[str, Any] = {"now": now_iso, "public": int(include_public)}
        listed = sorted(group_ids or ())
        common.update({f"g{n}": g for n, g in enumerate(listed)})
        take = 2 * limit + 8
        r = min(radius_m, max(_START_M, 2.0 * empty_m))
        for round_ in range(_MAX_ROUNDS):
            last = round_ == _MAX_ROUNDS - 1
            if last:  # (never seen: a last round over the whole radius, unlimited)
                r = radius_m
            plan = _plan(lat, lon, r)
            rows = await self._fetch(db, lat, plan, -1 if last else take, common, len(listed))
            complete = last or len(rows) < take  # every candidate in the boxes came back
            bound = r if complete else min(r, plan.lower_bound_m(max(row[0] for row in rows)))
            found = sorted(
                (haversine_m(lat, lon, s_lat, s_lon), session_id)
                for _, session_id, s_lat, s_lon in rows
                if session_id is not None
            )
            within = [(session_id, d) for d, session_id in found if d <= bound]
            if len(within) >= limit or (complete and r >= radius_m):
                return within[:limit]
            if not complete:
                take *= 4  # many candidates were not allowed, or lie in the corners
                continue
            # the density of allowed sessions seen -> a radius whose inner circle
            # should hold about twice `limit` (box 4r², circle πr²); none counts as half
            # a one, so a search for one grows gently, one for ten faster. But the box
            # should not be expected to hold over _BOX_ROWS candidates in all.
            allowed = max(len(found), 0.5)
            wanted = r * math.sqrt(2.0 * limit * 4.0 / (math.pi * allowed))
            affordable = r * math.sqrt(_BOX_ROWS / max(len(rows), 1))
            r = min(max(min(wanted, affordable), 2.0 * r), _MAX_GROWTH * r, radius_m)
        return []  # not reached: the last round is complete

    async def nearest(
        self,
        db: aiosqlite.Connection,
        lat: float,
        lon: float,
        radius_m: float,
        *,
        now_iso: str,
        group_ids: set[int] | None,
        include_public: bool,
        limit: int = 10,
    ) -> list[tuple[int, float]]:
        """Live sessions within `radius_m` of (lat, lon), nearest first (ties by id),
        at most `limit`, as (session id, distance in metres)."""
        return await self._search(db, lat, lon, radius_m, now_iso, group_ids, include_public, limit)

    async def nearest_beyond(
        self,
        db: aiosqlite.Connection,
        lat: float,
        lon: float,
        *,
        now_iso: str,
        group_ids: set[int] | None,
        include_public: bool,
        cap_m: float = 200_000,
        empty_m: float = 0.0,
    ) -> tuple[int, float] | None:
        """The single nearest live session at any distance up to `cap_m`, or None.

        `empty_m`: a radius already known to hold none (the radius `nearest` just found
        empty, with the same filters); the search then starts beyond it."""
        found = await self._search(
            db, lat, lon, cap_m, now_iso, group_ids, include_public, 1, empty_m
        )
        return found[0] if found else None


class RtreeIndex(_SqliteIndex):
    kind = "rtree"
    table = RTREE_TABLE
    # Overlap tests (not containment): the R*Tree rounds each stored point's box
    # outwards to 32-bit floats, so it overlaps the query box whenever the exact point
    # lies inside. The key takes the middle of the stored box.
    _candidates_sql = (
        "SELECT id, ((min_lat + max_lat) / 2 - :lat0) * ((min_lat + max_lat) / 2 - :lat0)"
        " + ((min_lon + max_lon) / 2 - :o{n}) * ((min_lon + max_lon) / 2 - :o{n}) * :c2 AS k"
        " FROM session_rtree WHERE max_lat >= :a{n} AND min_lat <= :b{n}"
        " AND max_lon >= :c{n} AND min_lon <= :d{n}"
    )

    async def add(self, db: aiosqlite.Connection, session_id: int, lat: float, lon: float) -> None:
        await db.execute(
            "INSERT OR REPLACE INTO session_rtree (id, min_lat, max_lat, min_lon, max_lon)"
            " VALUES (?, ?, ?, ?, ?)",
            (session_id, lat, lat, lon, lon),
        )


class BoxIndex(_SqliteIndex):
    kind = "box"
    table = BOX_TABLE
    # a range on lat in the (lat, lon) index, lon checked in the index (it covers id too)
    _candidates_sql = (
        "SELECT id, (lat - :lat0) * (lat - :lat0) + (lon - :o{n}) * (lon - :o{n}) * :c2 AS k"
        " FROM session_points WHERE lat BETWEEN :a{n} AND :b{n} AND lon BETWEEN :c{n} AND :d{n}"
    )

    async def add(self, db: aiosqlite.Connection, session_id: int, lat: float, lon: float) -> None:
        await db.execute(
            "INSERT OR REPLACE INTO session_points (id, lat, lon) VALUES (?, ?, ?)",
            (session_id, lat, lon),
        )


# --- schema ------------------------------------------------------------------------------

_OPEN = "new.state = 'open'"
_TRIGGERS = ("on_insert", "on_update", "on_close", "on_delete")


def _schema(kind: str) -> list[str]:
    """The statements that create one implementation's table, its triggers and its
    back-fill (open sessions). One statement per string: no executescript, so they run
    inside the migration's transaction."""
    if kind == "rtree":
        table = RTREE_TABLE
        create = [
            f"CREATE VIRTUAL TABLE {table} USING rtree(id, min_lat, max_lat, min_lon, max_lon)"
        ]
        columns = "(id, min_lat, max_lat, min_lon, max_lon)"
        values = "new.id, new.latitude, new.latitude, new.longitude, new.longitude"
        backfill = "id, latitude, latitude, longitude, longitude"
    else:
        table = BOX_TABLE
        create = [
            f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, lat REAL NOT NULL, lon REAL NOT NULL)",
            f"CREATE INDEX {table}_by_position ON {table}(lat, lon)",
        ]
        columns = "(id, lat, lon)"
        values = "new.id, new.latitude, new.longitude"
        backfill = "id, latitude, longitude"
    insert = f"INSERT OR REPLACE INTO {table} {columns} VALUES ({values})"
    return [
        *create,
        f"CREATE TRIGGER {table}_on_insert AFTER INSERT ON sessions WHEN {_OPEN}"
        f" BEGIN {insert}; END",
        f"CREATE TRIGGER {table}_on_update AFTER UPDATE OF state, latitude, longitude, ends_at"
        f" ON sessions WHEN {_OPEN} BEGIN {insert}; END",
        f"CREATE TRIGGER {table}_on_close AFTER UPDATE OF state ON sessions"
        f" WHEN NOT ({_OPEN}) BEGIN DELETE FROM {table} WHERE id = old.id; END",
        f"CREATE TRIGGER {table}_on_delete AFTER DELETE ON sessions"
        f" BEGIN DELETE FROM {table} WHERE id = old.id; END",
        f"INSERT OR REPLACE INTO {table} {columns}"
        f" SELECT {backfill} FROM sessions WHERE state = 'open'",
    ]


async def rtree_available(db: aiosqlite.Connection) -> bool:
    """Whether this SQLite build has the R*Tree module (tried on a temporary table)."""
    try:
        await db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp._geo_rtree_probe USING rtree(id, a, b)"
        )
        await db.execute("DROP TABLE IF EXISTS temp._geo_rtree_probe")
    except aiosqlite.OperationalError:
        return False
    return True


async def _existing(db: aiosqlite.Connection) -> set[str]:
    rows: Iterable[Any] = await db.execute_fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
        (RTREE_TABLE, BOX_TABLE),
    )
    return {row[0] for row in rows}


async def ensure_schema(db: aiosqlite.Connection, *, use_rtree: bool | None = None) -> GeoIndex:
    """Create the index (table, triggers, back-fill) unless one exists; return it.

    `use_rtree=None` decides by trying the module; False forces the box fallback (and
    True insists on the R*Tree). Works inside an open transaction."""
    existing = await _existing(db)
    if not existing:
        if use_rtree is None:
            use_rtree = await rtree_available(db)
        for statement in _schema("rtree" if use_rtree else "box"):
            await db.execute(statement)
    return await detect(db, rtree=use_rtree)


async def drop_schema(db: aiosqlite.Connection) -> None:
    """Remove the index, whichever it is (its triggers with it): for tests, benchmarks,
    and a later migration that switches implementations (drop, then `ensure_schema`)."""
    for table in await _existing(db):
        for suffix in _TRIGGERS:  # they live on sessions: dropping the table keeps them
            await db.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix}")
        await db.execute(f"DROP TABLE {table}")
    _detected.pop(db, None)


async def m006_geo_index(db: aiosqlite.Connection) -> None:
    """The geo index of live sessions (R*Tree where SQLite has it, else a box table),
    kept in step by triggers, back-filled with the open sessions."""
    await ensure_schema(db)


_detected: weakref.WeakKeyDictionary[aiosqlite.Connection, GeoIndex] = weakref.WeakKeyDictionary()


async def detect(db: aiosqlite.Connection, *, rtree: bool | None = None) -> GeoIndex:
    """The implementation that matches the table this database has.

    `rtree=False` simulates a build without the R*Tree module: a database with a box
    table gets `BoxIndex`, one with an R*Tree table is an error (it cannot be read)."""
    existing = await _existing(db)
    index: GeoIndex
    if RTREE_TABLE in existing:
        if rtree is False or (rtree is None and not await rtree_available(db)):
            raise RuntimeError(
                f"this database's geo index ({RTREE_TABLE}) needs SQLite's R*Tree module,"
                " which this SQLite build lacks"
            )
        index = RtreeIndex()
    elif BOX_TABLE in existing:
        index = BoxIndex()
    else:
        raise RuntimeError("no geo index in this database: run the migrations first")
    _detected[db] = index
    return index


async def _index(db: aiosqlite.Connection) -> GeoIndex:
    index = _detected.get(db)
    return index if index is not None else await detect(db)


# --- module-level calls (the implementation detected for this connection) ---------------


async def add(db: aiosqlite.Connection, session_id: int, lat: float, lon: float) -> None:
    await (await _index(db)).add(db, session_id, lat, lon)


async def remove(db: aiosqlite.Connection, session_id: int) -> None:
    await (await _index(db)).remove(db, session_id)


async def remove_ended(db: aiosqlite.Connection, now_iso: str) -> int:
    return await (await _index(db)).remove_ended(db, now_iso)


async def nearest(
    db: aiosqlite.Connection,
    lat: float,
    lon: float,
    radius_m: float,
    *,
    now_iso: str,
    group_ids: set[int] | None,
    include_public: bool,
    limit: int = 10,
) -> list[tuple[int, float]]:
    return await (await _index(db)).nearest(
        db,
        lat,
        lon,
        radius_m,
        now_iso=now_iso,
        group_ids=group_ids,
        include_public=include_public,
        limit=limit,
    )


async def nearest_beyond(
    db: aiosqlite.Connection,
    lat: float,
    lon: float,
    *,
    now_iso: str,
    group_ids: set[int] | None,
    include_public: bool,
    cap_m: float = 200_000,
    empty_m: float = 0.0,
) -> tuple[int, float] | None:
    return await (await _index(db)).nearest_beyond(
        db,
        lat,
        lon,
        now_iso=now_iso,
        group_ids=group_ids,
        include_public=include_public,
        cap_m=cap_m,
        empty_m=empty_m,
    )
