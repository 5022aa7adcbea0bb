"""Benchmark: the core's time for /week with 200 sessions in the week, against /today
with 20 sessions (the baseline), in the same run.

    python bench/week.py [--rounds 300]

A SQLite file in a temporary directory gets a city group with 20 venues, 20 sessions
today and 180 more over the next six days (some with joiners, seats and topics), and
two weekly series. Then `Bot.handle` answers `/woche` and `/heute` alternately, each
`--rounds` times, through the real repository (with the memoized row reading the bot
uses); the clock stands still, so every answer does the full work.

Printed: p50/p99 of both, the ratio of the p99s, and the goal (/week p99 <= 20 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatbot.core.actions import SendText  # noqa: E402
from chatbot.core.bot import Bot  # noqa: E402
from chatbot.core.clock import FakeClock  # noqa: E402
from chatbot.core.events import ChatRef, CommandEvent, Origin, Person, PersonRef  # noqa: E402
from chatbot.storage.sqlite import SqliteRepository  # noqa: E402
from tests.kit import FakeAdmins, GroupChat, berlin  # noqa: E402

GOAL_P99_MS = 20.0


async def build(path: Path) -> tuple[Bot, GroupChat]:
    repo = await SqliteRepository.open(f"sqlite:///{path}")
    clock = FakeClock(berlin("2026-11-30 07:00"))
    bot = Bot(repo, clock)
    chat = GroupChat(bot, clock, FakeAdmins({"Anna"}))
    await chat.say("Anna", "/einrichten Duisburg | Europe/Berlin | de")
    for n in range(20):
        await chat.say("Anna", f"/ort add Café {chr(65 + n)}{chr(65 + n)} | 51.43, 6.76")
    await chat.say("Anna", "/neu jeden mi 7-8 Café AA")
    await chat.say("Anna", "/neu jeden fr 7-8 Café BB")
    days = ["30.11.", "1.12.", "2.12.", "3.12.", "4.12.", "5.12.", "6.12."]
    for d, day in enumerate(days):
        for n in range(20 if d == 0 else 30):
            venue = f"Café {chr(65 + n % 20)}{chr(65 + n % 20)}"
            hours = "9-12" if n < 20 else "13-17"
            extra = " max 6 - Buchhaltung" if n % 3 == 0 else ""
            await chat.say(f"P{n}", f"/neu {day} {hours} {venue}{extra}")
            if n % 2 == 0:
                await chat.say("Joiner", f"/dabei s{await _last_id(repo)}")
    return bot, chat


async def _last_id(repo: SqliteRepository) -> int:
    rows = await repo.db.execute_fetchall("SELECT MAX(id) FROM sessions")
    return int(list(rows)[0][0])


async def timed(bot: Bot, name: str) -> float:
    origin = Origin(ChatRef("test", "group-1"), Person(PersonRef("test", "emil"), "Emil"), False)
    started = time.perf_counter()
    actions = await bot.handle(CommandEvent(origin, name, ""), FakeAdmins())
    elapsed = (time.perf_counter() - started) * 1000
    assert isinstance(actions[0], SendText) and "Sorry" not in actions[0].text
    return elapsed


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        bot, chat = await build(Path(folder) / "week.db")
        rows = await bot.repo.db.execute_fetchall(  # type: ignore[attr-defined]
            "SELECT COUNT(*) FROM sessions WHERE state = 'open'"
        )
        count = list(rows)[0][0]
        week_text = [a for a in await chat.say("Emil", "/woche") if isinstance(a, SendText)][0]
        week_ms, today_ms = [], []
        for _ in range(rounds):
            week_ms.append(await timed(bot, "woche"))
            today_ms.append(await timed(bot, "heute"))
        await bot.repo.close()  # type: ignore[attr-defined]
    print(
        f"sessions in the week: {count} (today 20 + series); /week answer {len(week_text.text)} chars"
    )
    print(
        f"/today (20 sessions, baseline): p50 {statistics.median(today_ms):.2f} ms,"
        f" p99 {pct(today_ms, 0.99):.2f} ms"
    )
    print(
        f"/week (200+ sessions):          p50 {statistics.median(week_ms):.2f} ms,"
        f" p99 {pct(week_ms, 0.99):.2f} ms"
    )
    print(f"ratio p99 week/today: {pct(week_ms, 0.99) / pct(today_ms, 0.99):.2f}")
    verdict = "met" if pct(week_ms, 0.99) <= GOAL_P99_MS else "NOT met"
    print(f"goal: /week p99 <= {GOAL_P99_MS:.0f} ms: {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    asyncio.run(main(parser.parse_args().rounds))
