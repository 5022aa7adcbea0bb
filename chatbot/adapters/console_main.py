"""Wiring for `chatbot console`: the database, the core, the runtime and the console
adapter."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from chatbot.adapters.console import ConsoleAdapter, ConsoleClock
from chatbot.config import Settings
from chatbot.core.bot import Bot
from chatbot.runner import start_web_server
from chatbot.runtime import Runtime
from chatbot.storage.sqlite import SqliteRepository

INTERACTIVE_NAME = "me"


async def run_console(
    settings: Settings,
    *,
    script: str | None,
    admins: list[str],
    database: str | None,
    echo: bool,
    web: int | None = None,
) -> int:
    repo = await SqliteRepository.open(database or settings.database_url)
    clock = ConsoleClock()
    public_url = settings.public_url
    if web and not public_url:
        public_url = f"http://{settings.web_listen}:{web}"
    bot = Bot(
        repo,
        clock,
        default_language=settings.default_language,
        default_timezone=settings.default_timezone,
        public_url=public_url,
    )
    runtime = Runtime(bot, repo)
    web_runner = await start_web_server(settings, bot, repo, web) if web else None
    try:
        if script is None and sys.stdin.isatty():
            await _interactive(bot, clock, runtime, admins)
        else:
            text = await asyncio.to_thread(_read_script, script)
            adapter = ConsoleAdapter(bot, clock, runtime, admins=admins, echo=echo)
            await adapter.run(text.splitlines())
    finally:
        await runtime.close()
        if web_runner is not None:
            await web_runner.cleanup()
        await repo.close()
    return 0


def _read_script(script: str | None) -> str:
    return Path(script).read_text(encoding="utf-8") if script else sys.stdin.read()


async def _interactive(bot: Bot, clock: ConsoleClock, runtime: Runtime, admins: list[str]) -> None:
    admins = admins or [INTERACTIVE_NAME]
    adapter = ConsoleAdapter(bot, clock, runtime, admins=admins, default_sender=INTERACTIVE_NAME)
    print(
        "A local group chat with the coworking bot. Type a command such as /hilfe or /help.\n"
        f"You write as '{INTERACTIVE_NAME}'; `NAME: TEXT` writes as someone else,"
        " `NAME (dm): TEXT` privately.\n"
        f"Admins: {', '.join(admins)}. Ctrl-D quits.\n"
    )
    await adapter.start()
    loop = asyncio.get_running_loop()
    while True:
        try:
            line = await loop.run_in_executor(None, input, "> ")
        except EOFError:
            print()
            return
        await adapter.handle_line(line)
