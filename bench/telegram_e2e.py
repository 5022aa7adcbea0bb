"""Benchmark: /heute through the real Telegram adapter against a bare PTB echo bot.

    python bench/telegram_e2e.py [--updates 1000] [--rounds 3] [--sessions 20]
                                 [--latency-ms 25] [--latency-updates 200]

Both bots run in this process's event loop against the same fake Bot API server
(tests/fakes/telegram_api.py, in its own thread, real HTTP on 127.0.0.1), one after
the other, in the same run:

* the echo bot: a python-telegram-bot `Application` with one `MessageHandler` that
  replies to each text with the same text (`reply_text`, quoting it), long polling via
  PTB's Updater;
* the adapter: `chatbot.adapters.telegram.build(settings, bot, repo)` over a real SQLite
  file, in a city group with `--sessions` sessions today (each with a venue, a joiner
  and a join button), answering `/heute` with the full list and its inline keyboard.
  It is the adapter as deployed: PTB over its own aiohttp transport (transport.py),
  where the echo bot uses PTB's default (httpx).

Per round and bot, `--updates` messages are queued at once in one group chat (as a
burst: that measures throughput; latency then includes the wait in the queue). A
message counts as served when the server hands it out in a getUpdates answer, and as
answered when the bot's sendMessage replying to it reaches the server. Printed:
updates per second (first served -> last answer), p50/p99 of served -> answered, and
the adapter/echo ratio of the throughputs (goal: >= 0.8).

Two settings: "loopback", where a Bot API call costs only CPU (bot, server and the
SQLite thread share one interpreter, so this measures the work per update: the core's
/heute with its database reads and a 20-button message, against an echo of six
characters), and "latency", where the server answers each sendMessage after
`--latency-ms` (api.telegram.org is tens of milliseconds away from most servers), which
is what a deployed bot waits for. The fake server enforces no
flood limits here and the adapter's proactive throttling is off
(CHATBOT_TELEGRAM_FLOOD_LIMITS=false): with it, a group gets 20 messages a minute, which
would measure Telegram's limit, not the adapter.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import Update  # noqa: E402
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters  # noqa: E402

from chatbot.adapters.telegram import build  # noqa: E402
from chatbot.config import Settings  # noqa: E402
from chatbot.core.bot import Bot  # noqa: E402
from chatbot.core.clock import FakeClock  # noqa: E402
from chatbot.core.events import ChatRef, CommandEvent, Origin, Person, PersonRef  # noqa: E402
from chatbot.storage.sqlite import SqliteRepository  # noqa: E402
from tests.fakes.telegram_api import ThreadedFakeTelegramServer  # noqa: E402

ECHO_GROUP = -1001000000001
BOT_GROUP = -1001000000002
USER = 4242
GOAL = 0.8


@dataclass
class Result:
    name: str
    updates: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.updates / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def measure(
    tg: ThreadedFakeTelegramServer, chat_id: int, text: str, n: int, name: str
) -> Result:
    """Queue n messages at once and wait for n replies; timings from the server's log."""
    tg.clear_calls()

    def push_all() -> tuple[float, dict[int, int]]:
        server = tg.server
        messages: dict[int, int] = {}  # update_id -> message_id
        pushed = time.monotonic()
        for _ in range(n):
            update = server.message_update(chat_id, USER, text)
            update_id = server.push_update(update)
            messages[update_id] = update["message"]["message_id"]
        return pushed, messages

    def answers() -> int:
        return sum(
            1
            for c in tg.server.calls
            if c.method == "sendMessage" and c.ok and c.chat_id == chat_id
        )

    pushed, messages = tg.call(push_all)
    # look every 20 ms (a wait_for on every call would rescan the log in the server's
    # thread for each answer and slow down whichever bot is measured)
    deadline = time.monotonic() + 600
    while tg.call(answers) < n:
        assert time.monotonic() < deadline, f"{name}: timed out"
        await asyncio.sleep(0.02)
    calls = tg.calls
    served: dict[int, float] = {}  # message_id -> when it was handed out
    for call in calls:
        if call.method == "getUpdates" and call.ok:
            for update in call.result or []:
                message_id = messages.get(update["update_id"])
                if message_id is not None and message_id not in served:
                    served[message_id] = max(pushed, call.time)
    answered: dict[int, float] = {}
    for call in calls:
        if call.method == "sendMessage" and call.ok and call.chat_id == chat_id:
            reply = call.params.get("reply_parameters") or {}
            message_id = reply.get("message_id")
            if message_id in served and message_id not in answered:
                answered[message_id] = call.time
    assert len(answered) == n, f"{name}: {len(answered)} of {n} answered"
    latencies = [answered[m] - served[m] for m in answered]
    seconds = max(answered.values()) - min(served.values())
    return Result(name, n, seconds, latencies)


async def echo_round(tg: ThreadedFakeTelegramServer, n: int) -> Result:
    app = ApplicationBuilder().token(tg.token).base_url(tg.base_url).build()

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text, do_quote=True)

    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(allowed_updates=["message"])
        await measure(tg, ECHO_GROUP, "/heute", 20, "echo warm-up")
        result = await measure(tg, ECHO_GROUP, "/heute", n, "echo bot")
        await app.updater.stop()
        await app.stop()
    return result


async def prepare_group(repo: SqliteRepository, clock: FakeClock, sessions: int) -> None:
    """A city group with `sessions` sessions today, each with a joiner (via the core)."""
    core = Bot(repo, clock)
    chat = ChatRef("telegram", str(BOT_GROUP))

    async def everyone_is_admin(chat: ChatRef, person: Person) -> bool:
        return True

    async def say(user: int, name: str, text: str) -> None:
        command, _, args = text[1:].partition(" ")
        person = Person(PersonRef("telegram", str(user)), name)
        origin = Origin(chat=chat, sender=person, is_private=False)
        await core.handle(CommandEvent(origin, command, args), everyone_is_admin)

    await say(1, "Anna", "/einrichten Duisburg | Europe/Berlin | de")
    for n in range(sessions):
        lat, lon = 51.40 + n * 0.002, 6.70 + n * 0.002
        await say(1, "Anna", f"/ort add Café Nummer {n + 1} | {lat:.4f}, {lon:.4f} | | wlan")
    for n in range(sessions):
        start = 9 + n % 8
        await say(100 + n, f"Person {n + 1}", f"/neu {start}-{start + 4} Café Nummer {n + 1}")
        await say(200 + n, f"Gast {n + 1}", f"/dabei {n + 1}")


def start_adapter(
    tg: ThreadedFakeTelegramServer,
    repo: SqliteRepository,
    clock: FakeClock,
    db_url: str,
    stop: asyncio.Event,
    *,
    flood_limits: bool,
) -> asyncio.Task[None]:
    """The project's Telegram adapter against the fake server, running until `stop`."""
    settings = Settings(
        telegram_token=tg.token,  # type: ignore[arg-type]
        telegram_api_url=tg.base_url,
        database_url=db_url,
        telegram_flood_limits=flood_limits,
    )
    adapter = build(settings, Bot(repo, clock), repo)
    return asyncio.create_task(adapter.run(stop))


async def adapter_round(
    tg: ThreadedFakeTelegramServer, n: int, sessions: int, folder: Path, number: int
) -> Result:
    clock = FakeClock(datetime(2026, 11, 30, 8, 30, tzinfo=ZoneInfo("Europe/Berlin")))
    db_url = f"sqlite:///{folder / f'bench-{time.monotonic_ns()}-{number}.db'}"
    repo = await SqliteRepository.open(db_url)
    await prepare_group(repo, clock, sessions)
    stop = asyncio.Event()
    task = start_adapter(tg, repo, clock, db_url, stop, flood_limits=False)
    try:
        warm = await measure(tg, BOT_GROUP, "/heute", 20, "adapter warm-up")
        assert warm.updates == 20
        sample = tg.calls_to("sendMessage")[-1].params
        assert sample["text"].startswith("Heute in Duisburg"), sample["text"][:80]
        buttons = sum(len(row) for row in sample["reply_markup"]["inline_keyboard"])
        assert buttons == sessions, buttons
        result = await measure(tg, BOT_GROUP, "/heute", n, "adapter")
    finally:
        stop.set()
        await task
        await repo.close()
    return result


def show(result: Result) -> str:
    return (
        f"{result.name:<8} {result.per_second:8.1f} updates/s   "
        f"p50 {result.percentile(50) * 1000:8.1f} ms   p99 {result.percentile(99) * 1000:8.1f} ms"
    )


async def scenario(
    tg: ThreadedFakeTelegramServer,
    title: str,
    updates: int,
    rounds: int,
    sessions: int,
    folder: Path,
    latency: float,
) -> float:
    print(f"{title}: {updates} updates queued at once, {rounds} rounds")
    tg.delay("sendMessage", latency)
    ratios = []
    try:
        for number in range(rounds):
            echo = await echo_round(tg, updates)
            ours = await adapter_round(tg, updates, sessions, folder, number)
            ratio = ours.per_second / echo.per_second
            ratios.append(ratio)
            print(f"  round {number + 1}")
            print("    " + show(echo))
            print("    " + show(ours))
            print(f"    throughput ratio adapter/echo: {ratio:.2f}")
    finally:
        tg.delay("sendMessage", 0)
    median = statistics.median(ratios)
    verdict = "met" if median >= GOAL else "NOT met"
    print(f"  {title}: ratio median {median:.2f}; goal >= {GOAL}: {verdict}")
    return median


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=25.0)
    parser.add_argument("--latency-updates", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"/heute in a group with {args.sessions} sessions (Python {sys.version.split()[0]})")
    with tempfile.TemporaryDirectory() as tmp, ThreadedFakeTelegramServer() as tg:
        folder = Path(tmp)
        await scenario(tg, "loopback", args.updates, args.rounds, args.sessions, folder, 0.0)
        if args.latency_ms > 0:
            await scenario(
                tg,
                f"latency {args.latency_ms:g} ms per sendMessage",
                args.latency_updates,
                args.rounds,
                args.sessions,
                folder,
                args.latency_ms / 1000,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
