"""Benchmark: a ping fan-out to N subscribers through the real Telegram adapter, against
the fake Bot API server enforcing Telegram's flood limits.

    python bench/fanout.py [--sizes 100,1000,10000]

For each N: a city group with N subscribers (stored directly), then someone opens a
session in the group (a real update through the adapter), which queues N pings in the
same transaction; `OutboxSender` drains them through the adapter. Printed per N: the
total time from the first to the last ping, the floor set by Telegram's limits (N/30 s:
30 messages per second overall, each subscriber a chat of their own), the ratio
(goal: at most 1.05), the number of 429 answers (goal: 0), and how long a `/heute`
sent in the group halfway through the fan-out waited for its answer (goal: under 1 s).
The fake server (tests/fakes/telegram_api.py) runs in its own thread and answers 429
with retry_after when a limit is broken: 3 sends per chat within 1 s, 20 per group
within 60 s, 30 in total within 1 s (sliding windows).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatbot.adapters.telegram import build  # noqa: E402
from chatbot.config import Settings  # noqa: E402
from chatbot.core.bot import Bot  # noqa: E402
from chatbot.core.clock import SystemClock  # noqa: E402
from chatbot.core.events import ChatRef, Person, PersonRef  # noqa: E402
from chatbot.core.model import Subscription  # noqa: E402
from chatbot.delivery import OutboxSender  # noqa: E402
from chatbot.storage.sqlite import SqliteRepository  # noqa: E402
from tests.fakes.telegram_api import ThreadedFakeTelegramServer  # noqa: E402

GROUP = -1001000000001
ADMIN, OPENER, ASKER = 1, 2, 3
FIRST_SUBSCRIBER = 100_000


async def wait_for(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step did not finish in time")
        await asyncio.sleep(0.01)


async def run_size(n: int, workdir: Path) -> dict[str, float]:
    with ThreadedFakeTelegramServer(enforce_limits=True) as server:
        server.add_chat(GROUP, "supergroup", title="Fan-out")
        server.set_member(GROUP, ADMIN, "administrator")
        repo = await SqliteRepository.open(f"sqlite:///{workdir / f'fanout-{n}.db'}")
        bot = Bot(repo, SystemClock(), default_language="de")
        settings = Settings(
            telegram_token=server.token,
            telegram_api_url=server.base_url,
            database_url="sqlite:///unused.db",
            telegram_poll_timeout=1,
        )
        adapter = build(settings, bot, repo)
        stop = asyncio.Event()
        runner = asyncio.create_task(adapter.run(stop))
        server.push_update(
            server.message_update(GROUP, ADMIN, "/einrichten Fan | Europe/Berlin | de")
        )
        server.push_update(server.message_update(GROUP, ADMIN, "/ort add Café | 51.43, 6.76"))
        await wait_for(lambda: any("Ort 1" in t for t in server.sent_texts(GROUP)), 30)
        group = await repo.cities.group_for_chat(ChatRef("telegram", str(GROUP)))
        assert group is not None
        async with repo.atomic():
            for i in range(n):
                person = Person(PersonRef("telegram", str(FIRST_SUBSCRIBER + i)), f"S{i}")
                await repo.people.subscribe(Subscription(group.id, person), bot.clock.now())
        sender = OutboxSender(bot, adapter)
        sending = asyncio.create_task(sender.run(stop))
        before_429 = server.too_many_requests

        def pings() -> list[float]:
            return [
                c.time
                for c in server.calls_to("sendMessage")
                if c.ok and isinstance(c.chat_id, int) and c.chat_id >= FIRST_SUBSCRIBER
            ]

        server.push_update(server.message_update(GROUP, OPENER, "/neu 23:00-23:59 Café"))
        await wait_for(lambda: len(pings()) >= max(1, n // 2), n / 10 + 60)
        asked = time.monotonic()
        answers_before = len(server.sent_texts(GROUP))
        server.push_update(server.message_update(GROUP, ASKER, "/heute"))
        await wait_for(lambda: len(server.sent_texts(GROUP)) > answers_before, 30)
        command_wait = time.monotonic() - asked
        await wait_for(lambda: len(pings()) >= n, n / 10 + 120)
        times = pings()
        total = max(times) - min(times)
        stop.set()
        await asyncio.gather(runner, sending)
        await repo.close()
        floor = (n - 1) / 30
        return {
            "n": n,
            "total": total,
            "floor": floor,
            "ratio": total / floor if floor else float("nan"),
            "429": server.too_many_requests - before_429,
            "command": command_wait,
            "delivered": len(times),
        }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000,10000")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        ok = True
        for n in (int(s) for s in args.sizes.split(",")):
            r = await run_size(n, Path(tmp))
            met = r["ratio"] <= 1.05 and r["429"] == 0 and r["command"] < 1.0
            ok = ok and met
            print(
                f"N={n:>6}: {r['delivered']:.0f} pings in {r['total']:.2f} s, floor {r['floor']:.2f} s,"
                f" ratio {r['ratio']:.3f} (goal <= 1.05), 429s: {r['429']:.0f} (goal 0),"
                f" /heute answered after {r['command'] * 1000:.0f} ms (goal < 1000)"
                f" -> {'met' if met else 'NOT met'}",
                flush=True,
            )
        print("all goals met" if ok else "some goals not met")


if __name__ == "__main__":
    asyncio.run(main())
