"""`chatbot run`: every platform whose credentials are configured, in one process,
over one core and one database.

Each platform adapter package exposes `build(settings, bot, repo, runtime) ->
PlatformAdapter` (see `chatbot.adapters.base`). All of them share one `Runtime`
(`chatbot.runtime`): one ledger rule, and one router that sends every action to the
platform of its chat through that chat's queue, whichever platform's update (or the
clock, `Bot.tick`) caused it. The runner starts them and stops them on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from aiohttp.web import AppRunner

from chatbot.adapters.base import PlatformAdapter
from chatbot.checks import HEARTBEAT
from chatbot.config import Settings
from chatbot.core.bot import Bot
from chatbot.core.clock import SystemClock
from chatbot.delivery import OutboxSender
from chatbot.runtime import Runtime, sleep_or_stop
from chatbot.storage.sqlite import SqliteRepository

log = logging.getLogger(__name__)

Build = Callable[[Settings, Bot, SqliteRepository, Runtime], PlatformAdapter]


def configured_platforms(settings: Settings) -> dict[str, Build]:
    platforms: dict[str, Build] = {}
    for name in settings.platforms():
        if name == "telegram":
            from chatbot.adapters.telegram import build as build_telegram

            platforms[name] = build_telegram
        else:
            from chatbot.adapters.matrix import build as build_matrix

            platforms[name] = build_matrix
    return platforms


async def run_platforms(settings: Settings) -> int:
    builders = configured_platforms(settings)
    if not builders:
        log.error(
            "no platform configured: set CHATBOT_TELEGRAM_TOKEN, or CHATBOT_MATRIX_HOMESERVER,"
            " CHATBOT_MATRIX_USER_ID and CHATBOT_MATRIX_PASSWORD (or _ACCESS_TOKEN);"
            " `chatbot console` needs none"
        )
        return 2
    repo = await SqliteRepository.open(settings.database_url)
    bot = Bot(
        repo,
        SystemClock(),
        default_language=settings.default_language,
        default_timezone=settings.default_timezone,
        public_url=settings.public_url,
    )
    runtime = Runtime(bot, repo)
    adapters = {name: build(settings, bot, repo, runtime) for name, build in builders.items()}
    web_runner = await start_web_server(settings, bot, repo)
    stop = asyncio.Event()  # SIGTERM or SIGINT
    adapters_stop = asyncio.Event()  # once the senders and the tick loop are done
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("serving %s", ", ".join(adapters))
    try:
        senders = [OutboxSender(bot, adapter) for adapter in adapters.values()]
        workers = [asyncio.create_task(sender.run(stop)) for sender in senders]
        workers.append(asyncio.create_task(tick_until(bot, runtime, stop, senders)))

        async def stop_adapters_last() -> None:
            # the message a sender or a chat's queue has in hand goes out through a
            # running adapter (what is left waits, recorded, for the next start), and
            # only then do the adapters close their connections
            await stop.wait()
            await asyncio.gather(*workers, return_exceptions=True)
            await runtime.close()
            adapters_stop.set()

        await asyncio.gather(
            *(adapter.run(adapters_stop) for adapter in adapters.values()),
            *workers,
            stop_adapters_last(),
        )
    finally:
        if web_runner is not None:
            await web_runner.cleanup()
        await repo.close()
    return 0


async def start_web_server(
    settings: Settings, bot: Bot, repo: SqliteRepository, port: int | None = None
) -> AppRunner | None:
    """The city pages and feeds, when a port is configured. A web server that cannot
    start (a port in use) is logged and the bot runs without it."""
    port = port or settings.web_port
    if not port:
        return None
    try:
        from chatbot.web.app import create_app, start_web

        app = create_app(
            repo,
            bot.clock,
            public_url=bot.public_url,
            default_language=settings.default_language,
        )
        return await start_web(app, settings.web_listen, port)
    except Exception:
        log.exception("the web server could not start; the bot runs without it")
        return None


async def tick_until(
    bot: Bot,
    runtime: Runtime,
    stop: asyncio.Event,
    senders: list[OutboxSender],
    every: float = 20.0,
) -> None:
    """The work that time brings (polls, sessions ending, series, retention). Its
    actions are queued per chat, never awaited: a platform that is down delays only its
    own chats, and the next tick (and the heartbeat) comes on time."""
    while not stop.is_set():
        try:
            async with bot.repo.atomic():
                await bot.repo.ledger.set_platform_value(*HEARTBEAT, bot.clock.now().isoformat())
            await runtime.deliver(await bot.tick())
            for sender in senders:
                sender.wake.set()
        except Exception:
            log.exception("tick failed")
        await sleep_or_stop(every, stop)
