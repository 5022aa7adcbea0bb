"""Benchmark: /who over 100,000 profiles, the trigram FTS5 index against a LIKE scan of
the same table, in the same run.

    python bench/talent.py [--profiles 100000] [--cities 1] [--rounds 400]

A SQLite file in a temporary directory gets one city group (or `--cities` groups, the
profiles spread over them) and the profiles, written with executemany (the triggers
keep the index in step): each with 1 to 5 skills drawn from about 600 German and
English compounds ("Videoschnitt", "Webentwicklung", "copywriting" …). The queries are
word parts, whole skills and English names ("video", "schnitt", "entwicklung",
"photography" …), as /who reads them (folded, with synonyms).

Measured, alternately and `--rounds` times each:
- the storage query /who runs (`find_profiles`: one statement that reads the levels of
  match from the term and trigram indexes, best first, the recently active first
  within a level, and stops at the first 11);
- the same query with `instr()` on every profile of the city instead of the index (the
  LIKE scan: the baseline);
- the whole command: `Bot.handle` answering `/wer QUERY` in the city's chat.

Printed: p50/p99 of each, the ratios of the scan's p99 to the index query's and to the
whole command's, and the goals (p99 <= 5 ms, >= 20x faster than the scan), checked for
the query and for the whole command. The first round of each query is measured too:
it prepares the statement, as the first /wer after a start does.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatbot.core.bot import Bot  # noqa: E402
from chatbot.core.clock import FakeClock  # noqa: E402
from chatbot.core.talent import search_form, search_text, skill_terms, synonyms_of  # noqa: E402
from chatbot.storage.sqlite import SqliteRepository  # noqa: E402
from chatbot.storage.talent import ACTIVE, QUALITY, RECENT  # noqa: E402
from tests.kit import FakeAdmins, GroupChat, berlin  # noqa: E402

GOAL_P99_MS = 5.0
GOAL_RATIO = 20.0

FIRST = (
    "Video Foto Grafik Web Text Daten Steuer Buch Marketing Sozial Ton Licht Möbel Garten"
    " Innen Programm Software Kunst Mode Event Presse Lern Spiel Bau Energie Reise Musik"
    " Film Schmuck Keramik Holz Druck Logo Kommunikation Finanz Rechts"
).split()
SECOND = (
    "schnitt design entwicklung beratung analyse bearbeitung produktion haltung planung"
    " management technik redaktion übersetzung coaching gestaltung"
).split()
ENGLISH = (
    "copywriting|photography|web development|graphic design|translation|accounting|"
    "video editing|illustration|UX research|project management|social media|"
    "data science|sound engineering|interior design|3D modelling|voice over"
).split("|")
QUERIES = [
    *"video schnitt entwicklung webentwicklung photography grafik keramik holzdesign".split(),
    *"übersetzung buchhaltung translation copywriting design beratung musikproduktion".split(),
    *["eventplanung", "ux research", "sound", "ux", "3d"],
]


def vocabulary() -> list[str]:
    return [a + b for a in FIRST for b in SECOND] + ENGLISH


async def build(path: Path, profiles: int, cities: int) -> tuple[Bot, GroupChat, list[int]]:
    repo = await SqliteRepository.open(f"sqlite:///{path}")
    clock = FakeClock(berlin("2026-11-30 07:00"))
    bot = Bot(repo, clock)
    chat = GroupChat(bot, clock, FakeAdmins({"Anna"}))
    await chat.say("Anna", "/einrichten Duisburg | Europe/Berlin | de")
    await chat.say("Anna", "/ort add Café Museum | 51.43, 6.76")
    await chat.say("P1", "/neu 10-14 Café Museum")  # someone recently active
    groups = [1]
    for n in range(2, cities + 1):
        cursor = await repo.db.execute(
            "INSERT INTO city_groups (name, language, timezone, created_at)"
            " VALUES (?, 'de', 'Europe/Berlin', '2026-01-01T00:00:00+00:00')",
            (f"City {n}",),
        )
        assert cursor.lastrowid is not None
        groups.append(cursor.lastrowid)
    words = vocabulary()
    rnd = random.Random(18)
    rows = []
    for n in range(profiles):
        skills = tuple(rnd.sample(words, rnd.randint(1, 5)))
        rows.append(
            (
                groups[n % len(groups)],
                "test",
                f"p{n}",
                f"P{n}",
                "\n".join(skills),
                search_text(skills),
                "2026-11-01T00:00:00+00:00",
            )
        )
    await repo.db.execute("BEGIN")
    await repo.db.executemany(
        "INSERT INTO profiles (group_id, platform, person_id, name, skills, search, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    ids = {
        person: profile_id
        for profile_id, person in await repo.db.execute_fetchall(
            "SELECT id, person_id FROM profiles"
        )
    }
    await repo.db.executemany(
        "INSERT INTO profile_terms (profile_id, group_id, kind, term) VALUES (?, ?, ?, ?)",
        [
            (ids[row[2]], row[0], kind, term)
            for row in rows
            for kind, term in skill_terms(tuple(row[4].split("\n")))
        ],
    )
    await repo.db.commit()
    await repo.db.execute("INSERT INTO profile_search(profile_search) VALUES ('optimize')")
    await repo.db.execute("ANALYZE")
    return bot, chat, groups


async def scan(repo: SqliteRepository, group_id: int, query: str, since: date) -> list[object]:
    """The baseline: the same ranking, every profile of the city tested with LIKE."""
    terms = [query, *synonyms_of(query)]
    likes = " OR ".join(f"p.search LIKE '%' || ?{5 + i} || '%'" for i in range(len(terms)))
    sql = (
        f"{RECENT} SELECT p.*, {QUALITY} AS quality, {ACTIVE} AS active FROM profiles p"
        f" WHERE p.group_id IN (SELECT value FROM json_each(?2)) AND ({likes})"
        " ORDER BY quality DESC, active DESC, p.id LIMIT ?4"
    )
    rows = await repo.db.execute_fetchall(
        sql, (query, f"[{group_id}]", since.isoformat(), 11, *terms)
    )
    return list(rows)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(profiles: int, cities: int, rounds: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        bot, chat, groups = await build(Path(folder) / "talent.db", profiles, cities)
        built = time.perf_counter() - started
        gc.collect()
        gc.freeze()  # the bot's long-lived objects: not walked again by every collection
        repo = bot.repo
        assert isinstance(repo, SqliteRepository)
        since = date(2026, 10, 31)
        index: list[float] = []
        like: list[float] = []
        command: list[float] = []
        hits: dict[str, int] = {}
        for r in range(rounds):
            query = QUERIES[r % len(QUERIES)]
            folded = search_form(query)
            t0 = time.perf_counter()
            found = await repo.talent.find_profiles(
                [groups[0]], folded, synonyms_of(folded), active_since=since, limit=11
            )
            t1 = time.perf_counter()
            baseline = await scan(repo, groups[0], folded, since)
            t2 = time.perf_counter()
            await chat.say("P1", f"/wer {query}")
            t3 = time.perf_counter()
            index.append((t1 - t0) * 1000)
            like.append((t2 - t1) * 1000)
            command.append((t3 - t2) * 1000)
            hits[query] = len(found)
            # the same levels of match (within a level the index orders by the term)
            assert [f.quality for f in found] == [b["quality"] for b in baseline]  # type: ignore[index]
        await repo.close()
    per_city = profiles // cities
    print(
        f"{profiles:,} profiles in {cities} {'city' if cities == 1 else 'cities'}"
        f" ({per_city:,} in the one searched), built in {built:.1f} s;"
        f" {rounds} rounds over {len(QUERIES)} queries"
    )
    rows = (("/who query (FTS5 trigram)", index), ("LIKE scan (baseline)", like))
    for label, values in (*rows, ("/wer through Bot.handle", command)):
        print(
            f"  {label:28} p50 {statistics.median(values):7.2f} ms   p99 {pct(values, 0.99):7.2f} ms"
        )
    ok = True
    for label, values in (("index", index), ("command", command)):
        ratio = pct(like, 0.99) / pct(values, 0.99)
        ratio50 = statistics.median(like) / statistics.median(values)
        met = pct(values, 0.99) <= GOAL_P99_MS and ratio >= GOAL_RATIO
        ok = ok and met
        print(
            f"  scan / {label}: p99 {ratio:.1f}x, p50 {ratio50:.1f}x;"
            f" goal p99 <= {GOAL_P99_MS} ms and >= {GOAL_RATIO:.0f}x the scan:"
            f" {'met' if met else 'NOT met'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--cities", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.profiles, args.cities, args.rounds)))
