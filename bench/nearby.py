"""Benchmark: "find a session nearby" through the geo index against a full scan.

    python bench/nearby.py [--sizes 10000,100000,1000000] [--queries 2000] [--box]

Per size, a SQLite file in a temporary directory gets the project's schema (migrations
plus the geo index) and N live sessions: half clustered around five cities (a normal
spread of 4 km, so tens of thousands lie within 5 km of a city centre at 1M), half
uniform over Europe (35..70 N, -10..40 E), across 200 groups of which about two thirds
are publicly listed. Then the same query points (half in the cities, half anywhere in
Europe; each as a member of a random group: that group plus the public ones; 5 km,
nearest 10, and the nearest up to 200 km where nothing lies within 5 km, as the bot
asks) go through `geo.nearest` and through a full scan of the same table:

    SELECT id, distance FROM sessions WHERE state = 'open' AND ends_at > ? AND <groups>
    AND distance <= ? ORDER BY distance LIMIT 10

with the haversine distance computed for every row in SQL (SQLite's math functions
where the build has them, else a registered Python function). The scan is run on a
prefix of the same queries within a time budget, since one scan of 1M rows takes
about a second. `--box` also measures the box fallback (its own copy of the data).

Printed: p50/p99 of both, the ratio of the medians and of the p99s, the goals.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatbot.core.parsing import haversine_m  # noqa: E402
from chatbot.storage import geo  # noqa: E402
from chatbot.storage.sqlite import SqliteRepository  # noqa: E402

CITIES = [  # (lat, lon): Berlin, Paris, Madrid, Rome, Warsaw
    (52.5200, 13.4050),
    (48.8566, 2.3522),
    (40.4168, -3.7038),
    (41.9028, 12.4964),
    (52.2297, 21.0122),
]
CITY_SPREAD_KM = 4.0
GROUPS = 200
PUBLIC_SHARE = 0.65
RADIUS_M = 5_000
CAP_M = 200_000
LIMIT = 10
NOW = "2026-11-30T11:00:00+00:00"
ENDS = "2026-11-30T17:00:00+00:00"
SCAN_BUDGET_S = 25.0
GOAL_P99_MS = 2.0
GOAL_RATIO = 20.0


def city_point(rng: random.Random) -> tuple[float, float]:
    lat, lon = rng.choice(CITIES)
    dy = rng.gauss(0, CITY_SPREAD_KM) / 111.2
    dx = rng.gauss(0, CITY_SPREAD_KM) / (111.2 * math.cos(math.radians(lat)))
    return lat + dy, lon + dx


def europe_point(rng: random.Random) -> tuple[float, float]:
    return rng.uniform(35, 70), rng.uniform(-10, 40)


async def build(path: Path, n: int, *, use_rtree: bool, seed: int) -> float:
    """The project's schema (migrations, then the geo index), then N sessions in one
    transaction through the triggers; returns the seconds the load took."""
    repo = await SqliteRepository.open(f"sqlite:///{path}")
    await repo.db.execute("BEGIN IMMEDIATE")
    await geo.drop_schema(repo.db)  # (once the migrations create one: this kind instead)
    await geo.ensure_schema(repo.db, use_rtree=use_rtree)
    await repo.db.commit()
    await repo.close()

    rng = random.Random(seed)
    groups = [
        (g, f"City {g}", "de", "Europe/Berlin", int(rng.random() < PUBLIC_SHARE), NOW)
        for g in range(1, GROUPS + 1)
    ]

    def sessions() -> object:
        for i in range(n):
            lat, lon = city_point(rng) if i % 2 == 0 else europe_point(rng)
            yield (
                rng.randint(1, GROUPS),
                f"Café Nummer {i % 977}",
                lat,
                lon,
                "2026-11-30",
                "09:00",
                "17:00",
                "2026-11-30T08:00:00+00:00",
                ENDS,
                "telegram",
                str(100000 + i),
                f"Person {i % 5003}",
                "open",
                NOW,
            )

    start = time.perf_counter()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO city_groups (id, name, language, timezone, public, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        groups,
    )
    con.executemany(
        "INSERT INTO sessions (group_id, place, latitude, longitude, local_date,"
        " start_local, end_local, starts_at, ends_at, opener_platform, opener_id,"
        " opener_name, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        sessions(),  # type: ignore[arg-type]
    )
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.close()
    return time.perf_counter() - start


def make_queries(count: int, seed: int) -> list[tuple[float, float, int]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        lat, lon = city_point(rng) if i % 2 == 0 else europe_point(rng)
        out.append((lat, lon, rng.randint(1, GROUPS)))
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def run_index(
    path: Path, queries: list[tuple[float, float, int]], *, warm_up: bool = True
) -> tuple[list[float], list[list[tuple[int, float]]]]:
    repo = await SqliteRepository.open(f"sqlite:///{path}")
    db = repo.db
    index = await geo.detect(db)
    # warm up: statement cache, page cache
    for lat, lon, g in queries[:50] if warm_up else ():
        await index.nearest(db, lat, lon, RADIUS_M, now_iso=NOW, group_ids={g}, include_public=True)
    times = []
    answers = []
    for lat, lon, g in queries:
        t0 = time.perf_counter()
        found = await index.nearest(
            db, lat, lon, RADIUS_M, now_iso=NOW, group_ids={g}, include_public=True, limit=LIMIT
        )
        if not found:
            far = await index.nearest_beyond(
                db,
                lat,
                lon,
                now_iso=NOW,
                group_ids={g},
                include_public=True,
                cap_m=CAP_M,
                empty_m=RADIUS_M,
            )
            found = [far] if far else []
        times.append((time.perf_counter() - t0) * 1000)
        answers.append(found)
    await repo.close()
    return times, answers


SCAN_SQL_MATH = """
SELECT id, d FROM (
  SELECT id, 2 * 6371008.8 * asin(sqrt(min(1.0,
      power(sin(radians(latitude - :lat) / 2), 2)
      + cos(radians(:lat)) * cos(radians(latitude))
        * power(sin(radians(longitude - :lon) / 2), 2)))) AS d
  FROM sessions
  WHERE state = 'open' AND ends_at > :now
    AND (group_id = :g OR group_id IN (SELECT id FROM city_groups WHERE public = 1))
) WHERE d <= :radius ORDER BY d, id LIMIT :limit
"""

SCAN_SQL_PY = """
SELECT id, d FROM (
  SELECT id, haversine(:lat, :lon, latitude, longitude) AS d
  FROM sessions
  WHERE state = 'open' AND ends_at > :now
    AND (group_id = :g OR group_id IN (SELECT id FROM city_groups WHERE public = 1))
) WHERE d <= :radius ORDER BY d, id LIMIT :limit
"""


async def run_scan(
    path: Path, queries: list[tuple[float, float, int]]
) -> tuple[list[float], list[list[tuple[int, float]]], str]:
    repo = await SqliteRepository.open(f"sqlite:///{path}")
    db = repo.db
    try:
        await db.execute_fetchall("SELECT sin(radians(1.0)), power(2, 2)")
        sql, how = SCAN_SQL_MATH, "SQL math functions"
    except sqlite3.OperationalError:
        await db.create_function("haversine", 4, haversine_m, deterministic=True)
        sql, how = SCAN_SQL_PY, "registered Python haversine"
    times: list[float] = []
    answers = []
    began = time.perf_counter()
    for lat, lon, g in queries:
        params = {"lat": lat, "lon": lon, "now": NOW, "g": g}
        t0 = time.perf_counter()
        rows = await db.execute_fetchall(sql, {**params, "radius": RADIUS_M, "limit": LIMIT})
        found = [(r[0], r[1]) for r in rows]
        if not found:
            rows = await db.execute_fetchall(sql, {**params, "radius": CAP_M, "limit": 1})
            found = [(r[0], r[1]) for r in rows]
        times.append((time.perf_counter() - t0) * 1000)
        answers.append(found)
        if time.perf_counter() - began > SCAN_BUDGET_S and len(times) >= 20:
            break
    await repo.close()
    return times, answers, how


def same(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> bool:
    return len(a) == len(b) and all(
        x[0] == y[0] and abs(x[1] - y[1]) < 0.01 for x, y in zip(a, b, strict=True)
    )


def evict(path: Path) -> bool:
    """Ask the OS to drop the file from its page cache (clean pages only; no root)."""
    if not hasattr(os, "posix_fadvise"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return True


def warm(path: Path) -> None:
    """Read the whole file once: the OS page cache holds it, as on a running server."""
    with path.open("rb") as f:
        while f.read(1 << 20):
            pass


def line(label: str, times: list[float]) -> str:
    return (
        f"{label}: p50 {pct(times, 50):.3f} ms  p99 {pct(times, 99):.3f} ms"
        f"  max {max(times):.2f} ms"
    )


async def bench(n: int, queries: list[tuple[float, float, int]], box: bool) -> bool:
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        kinds = [True, False] if box else [True]
        for use_rtree in kinds:
            name = "rtree" if use_rtree else "box"
            path = Path(tmp) / f"nearby-{name}.db"
            load = await build(path, n, use_rtree=use_rtree, seed=n)
            print(f"  {name}: loaded in {load:.1f} s, {path.stat().st_size / 1e6:.0f} MB")
            if evict(path):
                t_cold, _ = await run_index(path, queries, warm_up=False)
                print("    " + line("nearest, file not in the OS cache (first pass)", t_cold))
            warm(path)
            t_idx, a_idx = await run_index(path, queries)
            answered = sum(1 for a in a_idx if a)
            print(
                "    "
                + line("nearest, file in the OS cache", t_idx)
                + f"  ({len(t_idx)} queries, {answered} answered)"
            )
            if not use_rtree:
                continue
            t_scan, a_scan, how = await run_scan(path, queries)
            k = len(t_scan)
            mismatches = sum(not same(a_idx[i], a_scan[i]) for i in range(k))
            t_idx_k = t_idx[:k]
            r50 = pct(t_scan, 50) / pct(t_idx_k, 50)
            r99 = pct(t_scan, 99) / pct(t_idx_k, 99)
            print(
                "    "
                + line(f"full scan ({how})", t_scan)
                + f"  ({k} queries; answers differing from the index: {mismatches})"
            )
            print(f"    ratio scan/index on the same {k} queries: p50 {r50:.0f}x, p99 {r99:.0f}x")
            ratio_ok = min(r50, r99) >= GOAL_RATIO
            p99_ok = pct(t_idx, 99) <= GOAL_P99_MS
            binding = n >= 1_000_000
            print(
                f"    goals{'' if binding else ' (they apply at 1M; shown for reference)'}:"
                f" p99 <= {GOAL_P99_MS} ms: {'met' if p99_ok else 'NOT met'};"
                f" >= {GOAL_RATIO:.0f}x faster than the scan: {'met' if ratio_ok else 'NOT met'}"
            )
            ok = ok and mismatches == 0 and (not binding or (ratio_ok and p99_ok))
    return ok


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--box", action="store_true", help="also measure the box fallback")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    queries = make_queries(args.queries, seed=7)
    print(
        f"SQLite {sqlite3.sqlite_version}; {len(queries)} queries per size;"
        f" radius {RADIUS_M / 1000:.0f} km, nearest {LIMIT}, beyond up to {CAP_M / 1000:.0f} km"
    )
    ok = True
    for n in sizes:
        print(f"N = {n:,}")
        ok = await bench(n, queries, args.box) and ok
    print("all goals met" if ok else "some goal NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
