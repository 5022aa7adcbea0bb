"""Benchmark: the city page and the calendar feed of a city with 1,000 sessions and 50
weekly series, against a static file served by the same aiohttp server (the baseline),
in the same run.

    python bench/web.py [--rounds 500]

A SQLite file in a temporary directory gets a city group with 20 venues, 1,000
sessions over the next 8 weeks (some with joiners, seats and topics; a few cancelled)
and 50 weekly series. The web app runs on a free loopback port; one aiohttp client
asks, one request at a time, for:

- the stylesheet (`/static/style.css`, aiohttp's static files): the baseline
- the city page and the feed (cached between changes: the usual case)
- the city page and the feed rendered anew for every request (the cache is cleared:
  what the first request after a change costs)
- the city page with its ETag (If-None-Match): a 304
- once: the first page and the first feed after the start (nothing cached yet)

Printed: p50/p99 in ms of each, the ratio of each p99 to the baseline's, and the
goals (page p99 <= 50 ms, 304 p99 <= 10 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatbot.core.clock import FakeClock, wall_clock_range  # noqa: E402
from chatbot.core.events import ChatRef, Person, PersonRef  # noqa: E402
from chatbot.core.model import (  # noqa: E402
    GroupSettings,
    NewSession,
    SessionState,
    StandingSession,
    Venue,
)
from chatbot.storage.sqlite import SqliteRepository  # noqa: E402
from chatbot.web.app import SITE, create_app, start_web  # noqa: E402

BERLIN = ZoneInfo("Europe/Berlin")
GOAL_PAGE_MS = 50.0
GOAL_304_MS = 10.0
SESSIONS = 1000
SERIES = 50


async def build(path: Path) -> tuple[SqliteRepository, FakeClock]:
    repo = await SqliteRepository.open(f"sqlite:///{path}")
    now = datetime(2026, 11, 30, 7, 0, tzinfo=BERLIN)
    clock = FakeClock(now)
    group = await repo.cities.create_group(
        ChatRef("bench", "g"), "Duisburg", GroupSettings(), clock.now()
    )
    venues = []
    async with repo.atomic():
        for n in range(20):
            venue = Venue(0, group.id, f"Café {n:02d}", 51.43 + n / 1000, 6.76, f"Straße {n}")
            venues.append(await repo.venues.add_venue(venue, clock.now()))
    today = now.date()
    async with repo.atomic():
        for n in range(SERIES):
            venue = venues[n % 20]
            opener = Person(PersonRef("bench", f"s{n}"), f"Series {n}")
            start = clock_time(7 + n % 10)
            await repo.sessions.add_standing(
                StandingSession(
                    0, group.id, n % 7, venue.name, venue.id, venue.latitude,
                    venue.longitude, start, clock_time(start.hour + 3), opener,
                    topic="Buchhaltung" if n % 4 == 0 else "",
                ),
                clock.now(),
            )  # fmt: skip
        for n in range(SESSIONS):
            day = today + timedelta(days=n % 56)
            venue = venues[n % 20]
            start = clock_time(8 + (n // 56) % 12)
            end = clock_time(start.hour + 2)
            starts_at, ends_at = wall_clock_range(day, start, end, BERLIN)
            opener = Person(PersonRef("bench", f"p{n}"), f"Person {n}")
            joiners = tuple(
                Person(PersonRef("bench", f"j{n}-{j}"), f"Joiner {j}") for j in range(n % 4)
            )
            session = await repo.sessions.add_session(
                NewSession(
                    group.id, venue.name, venue.id, venue.latitude, venue.longitude, day,
                    start, end, starts_at, ends_at, opener,
                    topic="Steuern" if n % 3 == 0 else "", joiners=joiners, today=today,
                    seats=6 if n % 5 == 0 else None, created_at=clock.now(),
                )
            )  # fmt: skip
            assert session is not None
            if n % 25 == 0:
                await repo.sessions.set_session_state(session.id, SessionState.CANCELLED)
    return repo, clock


async def timed(rounds: int, request: Callable[[], Awaitable[int]], status: int) -> list[float]:
    for _ in range(20):  # warm up
        assert await request() == status
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        got = await request()
        samples.append((time.perf_counter() - started) * 1000)
        assert got == status, got
    return samples


def p(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1]


async def main(rounds: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        repo, clock = await build(Path(tmp) / "bench.db")
        app = create_app(repo, clock, public_url="https://cowork.example.org")
        site = app[SITE]
        runner = await start_web(app, "127.0.0.1", 0)
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            async with aiohttp.ClientSession() as http:

                def get(path: str, headers: dict[str, str] | None = None, fresh: bool = False):
                    async def request() -> int:
                        if fresh:
                            site._cache.clear()
                        async with http.get(base + path, headers=headers or {}) as response:
                            await response.read()
                            return response.status

                    return request

                started = time.perf_counter()
                async with http.get(base + "/duisburg") as response:
                    page_bytes = len(await response.read())
                    etag = response.headers["ETag"]
                first_page = (time.perf_counter() - started) * 1000
                started = time.perf_counter()
                async with http.get(base + "/duisburg.ics") as response:
                    feed_bytes = len(await response.read())
                first_feed = (time.perf_counter() - started) * 1000
                results = {
                    "static file (baseline)": await timed(rounds, get("/static/style.css"), 200),
                    "city page": await timed(rounds, get("/duisburg"), 200),
                    "city page, 304": await timed(
                        rounds, get("/duisburg", {"If-None-Match": etag}), 304
                    ),
                    "feed": await timed(rounds, get("/duisburg.ics"), 200),
                    "city page, rendered anew": await timed(
                        rounds, get("/duisburg", fresh=True), 200
                    ),
                    "feed, rendered anew": await timed(
                        max(20, rounds // 10), get("/duisburg.ics", fresh=True), 200
                    ),
                }
        finally:
            await runner.cleanup()
            await repo.close()
    print(
        f"city with {SESSIONS} sessions and {SERIES} series; page {page_bytes:,} bytes,"
        f" feed {feed_bytes:,} bytes; {rounds} requests each, one at a time"
    )
    print(
        f"first requests after the start (the week's series materialized, every event"
        f" written): page {first_page:.0f} ms, feed {first_feed:.0f} ms (in a thread)"
    )
    baseline = p(results["static file (baseline)"], 99)
    print(f"{'':28} {'p50 ms':>8} {'p99 ms':>8} {'p99 / baseline':>15}")
    for name, samples in results.items():
        p99 = p(samples, 99)
        print(f"{name:28} {p(samples, 50):8.2f} {p99:8.2f} {p99 / baseline:14.1f}x")
    page99 = p(results["city page"], 99)
    fresh99 = p(results["city page, rendered anew"], 99)
    not_modified99 = p(results["city page, 304"], 99)
    ok = page99 <= GOAL_PAGE_MS and fresh99 <= GOAL_PAGE_MS and not_modified99 <= GOAL_304_MS
    print(
        f"goals: page p99 <= {GOAL_PAGE_MS:.0f} ms (cached {page99:.2f}, rendered anew"
        f" {fresh99:.2f}), 304 p99 <= {GOAL_304_MS:.0f} ms ({not_modified99:.2f}):"
        f" {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500)
    raise SystemExit(asyncio.run(main(parser.parse_args().rounds)))
