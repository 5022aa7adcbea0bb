"""A real aiohttp server on a free loopback port over the real SQLite file the kit's
group chat writes to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from multidict import CIMultiDict

from chatbot.core.bot import Bot
from chatbot.core.clock import FakeClock
from chatbot.storage.sqlite import SqliteRepository
from chatbot.web.app import create_app, start_web
from tests.kit import GroupChat

PUBLIC_URL = "https://cowork.example.org"


@dataclass
class Web:
    base: str
    http: aiohttp.ClientSession

    async def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, CIMultiDict[str], bytes]:
        async with self.http.get(self.base + path, headers=headers or {}) as response:
            return response.status, CIMultiDict(response.headers), await response.read()

    async def text(self, path: str) -> str:
        status, _, body = await self.get(path)
        assert status == 200, (path, status)
        return body.decode("utf-8")


@pytest.fixture
def bot(repo: SqliteRepository, clock: FakeClock) -> Bot:
    # the bot links to the pages at their public address
    return Bot(
        repo, clock, default_language="de", default_timezone="Europe/Berlin", public_url=PUBLIC_URL
    )


@pytest.fixture
async def web(repo: SqliteRepository, clock: FakeClock) -> AsyncIterator[Web]:
    app = create_app(repo, clock, public_url=PUBLIC_URL, default_language="de")
    runner = await start_web(app, "127.0.0.1", 0)
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession(auto_decompress=True) as http:
        yield Web(f"http://127.0.0.1:{port}", http)
    await runner.cleanup()


@pytest.fixture
async def city(duisburg: GroupChat) -> GroupChat:
    """Duisburg with an invite link, a session with a topic and seats that two come
    to, and a weekly series."""
    await duisburg.say("Anna", "/einstellungen einladung https://t.me/+AbCdEf123")
    await duisburg.say("Ben", "/neu 10-14 Café Museum max 4 - Steuererklärung")
    await duisburg.say("Carla", "/dabei 1")
    await duisburg.say("Ben", "/neu jeden di 9-13 Kö Lounge - Buchhaltung")
    return duisburg
