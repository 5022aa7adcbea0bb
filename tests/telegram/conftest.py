"""A Telegram world for end-to-end tests: the fake Bot API server, a real SQLite
database, the real core on a fake clock, and the real adapter built by the project's
own `build(settings, bot, repo)`.

    async def test_x(tg: TelegramWorld) -> None:
        await tg.start()
        tg.say(GROUP, ANNA, "/einrichten Duisburg")
        call = await tg.reply(GROUP, "Stadtgruppe")

`start(outbox=True)` also runs the project's `OutboxSender` over the adapter (as
`chatbot run` does), woken after every handled event, so pings go out at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatbot.adapters.telegram import TelegramAdapter, build
from chatbot.config import Settings
from chatbot.core.bot import Bot
from chatbot.core.clock import FakeClock
from chatbot.core.events import Event
from chatbot.delivery import OutboxSender
from chatbot.storage.sqlite import SqliteRepository
from tests.fakes.telegram_api import Call, FakeTelegramServer
from tests.kit import berlin
from tests.support.waiting import eventually as eventually  # for the tests here

GROUP = -1001234567890
OTHER_GROUP = -1009876543210
ANNA, BEN, CARLA, DANA = 1001, 2002, 3003, 4004
NAMES = {ANNA: "Anna", BEN: "Ben", CARLA: "Carla", DANA: "Dana"}


class TelegramWorld:
    def __init__(self, server: FakeTelegramServer, tmp_path: Path) -> None:
        self.server = server
        self.db_url = f"sqlite:///{tmp_path / 't.db'}"
        self.clock = FakeClock(berlin("2026-11-30 08:30"))  # a Monday
        self.repo: SqliteRepository | None = None
        self.core: Bot | None = None
        self.adapter: TelegramAdapter | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.outbox: OutboxSender | None = None
        self._outbox_task: asyncio.Task[None] | None = None
        self._outbox_stop: asyncio.Event | None = None
        self.events: list[Event] = []
        for user_id, name in NAMES.items():
            server.set_user(user_id, first_name=name, language_code="de")
        server.add_chat(GROUP, "supergroup", title="Coworking Duisburg")
        server.set_member(GROUP, ANNA, "administrator")

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "telegram_token": self.server.token,
            "telegram_api_url": self.server.base_url,
            "database_url": self.db_url,
            "telegram_flood_limits": False,
        }
        values.update(overrides)
        return Settings(**values)

    async def start(self, *, outbox: bool = False, **overrides: Any) -> TelegramAdapter:
        """Open the database, build a core and the adapter, and run it (a fresh
        "process" each time: a restart is stop() then start()); with `outbox`, the
        outbox sender too. `overrides` are settings."""
        assert self._task is None, "already running"
        self.repo = await SqliteRepository.open(self.db_url)
        self.core = Bot(self.repo, self.clock, default_language="de")
        self._spy(self.core)
        self.adapter = build(self.settings(**overrides), self.core, self.repo)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.adapter.run(self._stop))
        if outbox:
            self.outbox = OutboxSender(self.core, self.adapter)
            self._outbox_stop = asyncio.Event()
            self._outbox_task = asyncio.create_task(self.outbox.run(self._outbox_stop))
        # polling starts after getWebhookInfo; webhook mode after setWebhook
        ready = "setWebhook" if overrides.get("telegram_webhook_url") else "getWebhookInfo"
        before = len(self.server.calls_to(ready))
        await self.server.wait_for(ready, lambda c: self.server.calls_to(ready).index(c) >= before)
        return self.adapter

    def _spy(self, core: Bot) -> None:
        handle = core.handle

        async def spying(event: Event, is_admin: Any) -> Any:
            self.events.append(event)
            try:
                return await handle(event, is_admin)
            finally:
                if self.outbox is not None:
                    self.outbox.wake.set()  # what the event queued goes out now

        core.handle = spying  # type: ignore[method-assign]

    async def stop(self) -> None:
        """As `chatbot run` stops: the outbox sender first (it finishes the message in
        hand through the running adapter), then the adapter."""
        if self._outbox_task is not None and self._outbox_stop is not None:
            self._outbox_stop.set()
            await asyncio.wait_for(self._outbox_task, 10)
        if self._task is not None and self._stop is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 10)
        self._task = self._outbox_task = self.outbox = self._outbox_stop = None
        if self.repo is not None:
            await self.repo.close()
            self.repo = None

    # --- talking --------------------------------------------------------------------

    def say(self, chat_id: int, user_id: int, text: str, **kwargs: Any) -> int:
        """A user writes in a chat; returns the update id."""
        return self.server.push_update(self.server.message_update(chat_id, user_id, text, **kwargs))

    async def reply(
        self, chat_id: int, contains: str = "", *, timeout: float = 5.0, count: int = 1
    ) -> Any:
        """The bot's sendMessage to the chat whose text contains `contains`."""
        return await self.server.wait_for(
            "sendMessage",
            lambda c: c.ok and c.chat_id == chat_id and contains in c.params.get("text", ""),
            timeout=timeout,
            count=count,
        )

    async def ask(
        self, chat_id: int, user_id: int, text: str, contains: str = "", **kw: Any
    ) -> Call:
        """Say something and wait for the answer (a reply to that message)."""
        update = self.server.message_update(chat_id, user_id, text, **kw)
        return await self.push(update, chat_id, contains)

    async def push(self, update: dict[str, Any], chat_id: int, contains: str = "") -> Call:
        """Push any update (a location, a venue, a button press) and wait for the bot's
        next sendMessage to `chat_id` that contains `contains`."""
        before = len(self.server.calls)
        self.server.push_update(update)

        def fresh(c: Call) -> bool:
            return (
                c.ok
                and c.chat_id == chat_id
                and contains in c.params.get("text", "")
                and self.server.calls.index(c) >= before
            )

        call: Call = await self.server.wait_for("sendMessage", fresh, timeout=5)
        return call

    def texts(self, chat_id: int) -> list[str]:
        return self.server.sent_texts(chat_id)

    async def setup_group(self, chat_id: int = GROUP, admin: int = ANNA) -> None:
        self.server.set_member(chat_id, admin, "administrator")
        await self.ask(chat_id, admin, "/einrichten Duisburg | Europe/Berlin | de", "Stadtgruppe")
        await self.ask(chat_id, admin, "/ort add Café Museum | 51.4344, 6.7623", "Café Museum")
        await self.ask(chat_id, admin, "/ort add Kö Lounge | 51.4330, 6.7650", "Kö Lounge")


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as fake:
        yield fake


@pytest.fixture
async def tg(server: FakeTelegramServer, tmp_path: Path) -> AsyncIterator[TelegramWorld]:
    world = TelegramWorld(server, tmp_path)
    try:
        yield world
    finally:
        await world.stop()
