from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatbot.core.bot import Bot
from chatbot.core.clock import FakeClock
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import FakeAdmins, GroupChat, berlin


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'chatbot.db'}"


@pytest.fixture
async def repo(db_url: str) -> AsyncIterator[SqliteRepository]:
    repository = await SqliteRepository.open(db_url)
    yield repository
    await repository.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(berlin("2026-11-30 08:30"))  # a Monday


@pytest.fixture
def admins() -> FakeAdmins:
    return FakeAdmins({"Anna"})


@pytest.fixture
def bot(repo: SqliteRepository, clock: FakeClock) -> Bot:
    return Bot(repo, clock, default_language="de", default_timezone="Europe/Berlin")


@pytest.fixture
def group(bot: Bot, clock: FakeClock, admins: FakeAdmins) -> GroupChat:
    return GroupChat(bot, clock, admins)


@pytest.fixture
async def duisburg(group: GroupChat) -> GroupChat:
    """A German city group with three venues."""
    await group.say("Anna", "/einrichten Duisburg | Europe/Berlin | de")
    await group.say("Anna", "/ort add Café Museum | 51.4344, 6.7623 | Königstraße 1 | wlan")
    await group.say("Anna", "/ort add Kö Lounge | 51.4330, 6.7650")
    await group.say("Anna", "/ort add Finkenkrug | 51.4290, 6.7900 | | ruhig, essen")
    return group
