"""Random walks through a group's life: commands from several people (valid, invalid,
admin-only, private), votes, and clock jumps from minutes to months, across the DST
change. Whatever happens, nothing may fail inside the bot: no handler and no scheduled
work logs an error. (Such a walk found a late poll close that failed on a later day.)"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

import pytest

from chatbot.core.bot import Bot
from chatbot.core.clock import FakeClock
from chatbot.core.events import ChatRef
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import PLATFORM, FakeAdmins, GroupChat, berlin

COMMANDS = [
    "/heute", "/neu 10-14 Café Museum", "/neu Kö Lounge", "/neu 9-12 Finkenkrug - Thema",
    "/neu 23:50-23:59 Café Museum", "/neu 0:00-1:00 Finkenkrug", "/neu 25:99 Café Museum",
    "/neu jeden di 9-13 Café Museum", "/neu jeden mi 18-22 Kö Lounge", "/streichen jeden di",
    "/dabei", "/dabei 1", "/dabei 2", "/dabei 9", "/absagen", "/absagen 1", "/streichen 1",
    "/streichen", "/umfrage", "/stimme 1", "/stimme 2", "/stimme 0", "/schliessen", "/abo",
    "/abo 5", "/abbestellen", "/orte", "/naehe", "/hilfe", "/datenschutz", "/vergessen",
    "/einstellungen", "/einstellungen umfrage 8:30", "/einstellungen schluss 11:00",
    "/einstellungen tage mo-fr", "/einstellungen stunden 9-13", "/einstellungen stunden jetzt",
    "/einstellungen sprache en", "/settings language de", "/einstellungen zeitzone Europe/London",
    "/einstellungen zeitzone Europe/Berlin", "/ort edit 1 | 51.43, 6.76", "/ort remove 3",
    "/ort add Neues Café | 51.44, 6.77", "/ort add Kaputt | 95, 6.7", "/neu hier 10-14",
    "/neu hier", "/naehe 2", "/naehe 0", "/naehe 500", "/einstellungen oeffentlich ja",
    "/einstellungen oeffentlich nein", "/ort add", "/ort edit 9 | 1, 2", "/abo 0,5",
]  # fmt: skip
PEOPLE = ["Anna", "Ben", "Carla", "Dana"]
JUMPS = [
    timedelta(minutes=7), timedelta(hours=1), timedelta(hours=5), timedelta(hours=23, minutes=50),
    timedelta(days=1), timedelta(days=3), timedelta(days=9),
]  # fmt: skip
SKIPS = [timedelta(hours=30), timedelta(days=2), timedelta(days=100)]  # the bot was down


@pytest.mark.parametrize("seed", range(12))
async def test_a_random_walk_logs_no_error(
    seed: int, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    walk = random.Random(seed)
    repo = await SqliteRepository.open(db_url)
    clock = FakeClock(berlin("2026-10-20 07:00"))  # the DST change comes on 25 October
    group = GroupChat(Bot(repo, clock), clock, FakeAdmins({"Anna"}))
    try:
        await group.say("Anna", "/einrichten Duisburg | Europe/Berlin | de")
        for venue in ("Café Museum | 51.4344, 6.7623", "Kö Lounge | 51.4330, 6.7650"):
            await group.say("Anna", f"/ort add {venue}")
        await group.say("Anna", "/ort add Finkenkrug | 51.4290, 6.7900")
        # a second city group on the same bot, listed publicly (found from elsewhere)
        other = GroupChat(group.bot, clock, group.admins, chat=ChatRef(PLATFORM, "group-2"))
        await other.say("Anna", "/einrichten Köln | Europe/Berlin | de")
        await other.say("Anna", "/einstellungen oeffentlich ja")
        await other.say("Anna", "/ort add Café Köln | 51.4340, 6.7620")
        replies = 0
        for _ in range(300):
            roll = walk.random()
            if roll < 0.15:
                await group.advance(clock.now() + walk.choice(JUMPS))
            elif roll < 0.2:
                clock.set(clock.now() + walk.choice(SKIPS))
                await group.bot.tick()
            elif roll < 0.3:  # a shared location, in the group or privately
                latitude = walk.choice([51.43, 51.4344, 48.13, -89.9, 0.0])
                longitude = walk.choice([6.76, 6.7623, 11.57, 179.9, 0.0])
                private = walk.random() < 0.3
                await group.share(walk.choice(PEOPLE), latitude, longitude, private=private)
            elif roll < 0.35:
                polls = await repo.polls.open_polls()
                if polls:
                    await group.vote(walk.choice(PEOPLE), str(polls[0].id), walk.randint(0, 2))
            else:
                private = walk.random() < 0.1
                chat = other if walk.random() < 0.2 else group
                said = await chat.say(walk.choice(PEOPLE), walk.choice(COMMANDS), private=private)
                replies += bool(said)
        assert replies > 150  # the walk talked to the bot, and it answered
    finally:
        await repo.close()
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == []
