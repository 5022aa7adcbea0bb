"""The runtime's one rule (chatbot/runtime/runtime.py), on a real SQLite file, with the
process "killed" at each step: an update's effects, its mark and its actions commit
together or not at all; what was decided is sent after a restart; a chat or a platform
that cannot be reached holds up only itself."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from chatbot.adapters.base import RetryAfter
from chatbot.core.actions import Action, SendText
from chatbot.core.bot import Bot
from chatbot.core.clock import FakeClock
from chatbot.core.events import ChatRef, CommandEvent, Origin, Person, PersonRef
from chatbot.runtime import RetryPolicy, Runtime
from chatbot.storage import base
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import berlin

T = "tg"
M = "mx"
GROUP = ChatRef(T, "g1")
CALM = ChatRef(T, "g2")
ROOM = ChatRef(M, "r1")
ANNA = Person(PersonRef(T, "anna"), "Anna")
BEN = Person(PersonRef(T, "ben"), "Ben")


class Killed(BaseException):
    """The process dies here (not an Exception: nothing catches it on the way)."""


@dataclass
class Platform:
    """A platform that records what it was given; `blocked` chats wait, `down` fails."""

    platform: str
    sent: list[Action] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)
    down: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # a call came or went
    calls: int = 0

    async def perform(self, action: Action, *, key: str | None = None) -> None:
        try:
            await self._perform(action)
        finally:
            self.changed.set()

    async def _perform(self, action: Action) -> None:
        self.calls += 1
        if self.down:
            raise ConnectionError("the homeserver is down")
        chat = getattr(action, "chat", None)
        if chat is not None and chat.id in self.blocked:
            await self.release.wait()
        self.sent.append(action)

    def texts(self, chat: ChatRef) -> list[str]:
        return [a.text for a in self.sent if isinstance(a, SendText) and a.chat == chat]


async def admins(chat: ChatRef, person: Person) -> bool:
    return person == ANNA


def command(chat: ChatRef, person: Person, text: str, **origin: object) -> CommandEvent:
    name, _, args = text[1:].partition(" ")
    return CommandEvent(Origin(chat, person, False, **origin), name, args)  # type: ignore[arg-type]


class Process:
    """One run of the bot over the database file: a core, a runtime, two platforms."""

    def __init__(self, db: Path, clock: FakeClock) -> None:
        self.db, self.clock = db, clock

    async def __aenter__(self) -> Process:
        self.repo = await SqliteRepository.open(f"sqlite:///{self.db}")
        self.bot = Bot(self.repo, self.clock)
        self.runtime = Runtime(self.bot, self.repo, policy=RetryPolicy(first=0.01, cap=0.05))
        self.tg, self.mx = Platform(T), Platform(M)
        self.runtime.register(self.tg)
        self.runtime.register(self.mx)
        await self.runtime.resume(T)
        await self.runtime.resume(M)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runtime.close(grace=0.1)
        await self.repo.close()

    async def handle(self, key: str, event: CommandEvent) -> bool:
        return await self.runtime.handle(T, key, event, admins)

    async def sessions(self) -> int:
        rows = await self.repo.db.execute_fetchall("SELECT count(*) FROM sessions")
        return int(list(rows)[0][0])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(berlin("2026-11-30 08:30"))


async def set_up(p: Process) -> None:
    await p.handle("u1", command(GROUP, ANNA, "/setup Duisburg | Europe/Berlin | de"))
    await p.handle("u2", command(GROUP, ANNA, "/venue add Café Museum | 51.4344, 6.7623"))


class KilledInTheDatabaseThread(Exception):  # aiosqlite's thread passes on Exceptions only
    pass


@pytest.mark.parametrize("moment", ["before the last trip", "in the last trip, before COMMIT"])
async def test_a_crash_while_handling_leaves_no_trace_and_the_update_is_applied_once(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, moment: str
) -> None:
    db = tmp_path / "bot.db"
    async with Process(db, clock) as p:
        await set_up(p)
        await p.runtime.drain()
        if moment == "before the last trip":
            # the process dies after the session was written, before its mark and replies

            async def dies(*args: object, **kwargs: object) -> list[int]:
                raise Killed

            monkeypatch.setattr(p.repo.ledger, "commit_actions", dies)
            expected: type[BaseException] = Killed
        else:
            # the session, the mark and the replies are written; the process dies before
            # COMMIT (no ROLLBACK runs either: closing the file discards the transaction)

            def dies_before_commit(
                connection: sqlite3.Connection,
                statements: Callable[[sqlite3.Connection], object],
                begin: bool,
            ) -> object:
                if begin:
                    connection.execute("BEGIN IMMEDIATE")
                statements(connection)
                raise KilledInTheDatabaseThread

            monkeypatch.setattr(base, "_commit", dies_before_commit)
            expected = KilledInTheDatabaseThread
        with pytest.raises(expected):
            await p.handle("u3", command(GROUP, BEN, "/open 10-14 Café Museum"))
        monkeypatch.undo()
    async with Process(db, clock) as p:
        assert await p.repo.ledger.is_handled(T, "u3") is False
        assert await p.sessions() == 0  # rolled back with the rest
        rows = await p.repo.db.execute_fetchall("SELECT count(*) FROM pending_actions")
        assert list(rows)[0][0] == 0
        # the platform brings the update again: applied now, once
        assert await p.handle("u3", command(GROUP, BEN, "/open 10-14 Café Museum"))
        assert not await p.handle("u3", command(GROUP, BEN, "/open 10-14 Café Museum"))
        await p.runtime.drain()
        assert await p.sessions() == 1
        assert len([t for t in p.tg.texts(GROUP) if "Neue Session" in t]) == 1


async def test_a_crash_after_the_commit_sends_the_replies_at_the_next_start(
    tmp_path: Path, clock: FakeClock
) -> None:
    db = tmp_path / "bot.db"
    async with Process(db, clock) as p:
        await set_up(p)
        await p.runtime.drain()
        p.tg.blocked.add(GROUP.id)  # the reply is decided, not sent, when the process dies
        await p.handle("u3", command(GROUP, BEN, "/open 10-14 Café Museum"))
        assert not any("Neue Session" in t for t in p.tg.texts(GROUP))
    async with Process(db, clock) as p:
        await p.runtime.drain()
        announced = [t for t in p.tg.texts(GROUP) if "Neue Session" in t]
        assert len(announced) == 1  # sent after the restart, once
        assert not await p.handle("u3", command(GROUP, BEN, "/open 10-14 Café Museum"))
        rows = await p.repo.db.execute_fetchall("SELECT count(*) FROM pending_actions")
        assert list(rows)[0][0] == 0


async def test_a_blocked_chat_holds_up_only_itself(tmp_path: Path, clock: FakeClock) -> None:
    async with Process(tmp_path / "bot.db", clock) as p:
        await set_up(p)
        await p.handle("c1", command(CALM, ANNA, "/setup Essen | Europe/Berlin | de"))
        await p.runtime.drain()
        p.tg.blocked.add(GROUP.id)  # this group is over its flood limit
        for n in range(30):
            await p.handle(f"h{n}", command(GROUP, BEN, "/help"))
        before = len(p.tg.sent)
        await p.handle("c2", command(CALM, BEN, "/today"))
        await asyncio.wait_for(_until(p.tg, lambda: len(p.tg.sent) > before), 2)
        assert p.tg.texts(CALM)[-1].startswith("Heute")
        p.tg.release.set()
        await asyncio.wait_for(p.runtime.drain(), 5)
        assert len([a for a in p.tg.sent if getattr(a, "chat", None) == GROUP]) >= 32


async def test_a_platform_that_is_down_delays_only_itself(tmp_path: Path, clock: FakeClock) -> None:
    async with Process(tmp_path / "bot.db", clock) as p:
        p.mx.down = True
        await p.runtime.deliver([SendText(ROOM, "to Matrix"), SendText(GROUP, "to Telegram")])
        await asyncio.wait_for(_until(p.tg, lambda: bool(p.tg.sent)), 2)
        assert p.tg.texts(GROUP) == ["to Telegram"]
        await asyncio.wait_for(_until(p.mx, lambda: p.mx.calls >= 3), 2)  # retried, backing off
        assert p.mx.sent == []
        p.mx.down = False
        await asyncio.wait_for(p.runtime.drain(), 2)
        assert p.mx.texts(ROOM) == ["to Matrix"]


async def test_an_action_is_given_up_an_hour_after_it_was_decided(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with Process(tmp_path / "bot.db", clock) as p:
        p.mx.down = True
        await p.runtime.deliver([SendText(ROOM, "late")])
        await asyncio.wait_for(_until(p.mx, lambda: p.mx.calls >= 2), 2)
        clock.set(clock.now() + timedelta(hours=1, minutes=1))
        await asyncio.wait_for(p.runtime.drain(), 2)
        assert p.mx.sent == []
        rows = await p.repo.db.execute_fetchall("SELECT count(*) FROM pending_actions")
        assert list(rows)[0][0] == 0


async def test_a_rate_limit_is_waited_as_asked(tmp_path: Path, clock: FakeClock) -> None:
    async with Process(tmp_path / "bot.db", clock) as p:
        asked = [0.05]

        async def limited(action: Action, *, key: str | None = None) -> None:
            if asked:
                raise RetryAfter(asked.pop())
            p.tg.sent.append(action)

        p.tg.perform = limited  # type: ignore[method-assign]
        await p.runtime.deliver([SendText(GROUP, "after the wait")])
        await asyncio.wait_for(p.runtime.drain(), 2)
        assert p.tg.texts(GROUP) == ["after the wait"]


async def test_a_late_command_is_not_applied_and_the_chat_is_told_once(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with Process(tmp_path / "bot.db", clock) as p:
        await set_up(p)
        sent = clock.now() - timedelta(hours=20)  # written yesterday, while the bot was down
        await p.handle("l1", command(GROUP, BEN, "/open 10-14 Café Museum", sent_at=sent))
        await p.handle("l2", command(GROUP, BEN, "/join 1", sent_at=sent))
        await p.handle("l3", command(GROUP, BEN, "/today", sent_at=sent))  # only shows: dropped
        await p.runtime.deliver(p.bot.late_notes())
        await p.runtime.drain()
        assert await p.sessions() == 0
        notes = [t for t in p.tg.texts(GROUP) if "nicht erreichbar" in t]
        assert len(notes) == 1
        assert "/open 10-14 Café Museum, /join 1" in notes[0] and "/today" not in notes[0]
        assert not any(t.startswith("Heute") for t in p.tg.texts(GROUP))
        assert p.bot.late_notes() == []  # told once
        # nine minutes late is not late
        recent = clock.now() - timedelta(minutes=9)
        await p.handle("l4", command(GROUP, BEN, "/open 10-14 Café Museum", sent_at=recent))
        assert await p.sessions() == 1


async def _until(platform: Platform, condition: Callable[[], bool]) -> None:
    """Wait for the platform's calls to make `condition` true (no polling)."""
    while not condition():
        platform.changed.clear()
        await platform.changed.wait()


def test_every_kind_of_action_survives_being_recorded() -> None:
    from chatbot.core.actions import (
        Button,
        ClosePoll,
        DirectMessage,
        EditText,
        SendPoll,
        SendVenue,
    )
    from chatbot.runtime import codec

    actions: list[Action] = [
        SendText(GROUP, "Heute „1“ ✓", (Button("Dabei", "join", "s1", "dabei"),), "7", "42"),
        SendText(GROUP, "📍", ask_location=True, location_label="Standort teilen", rejected=True),
        EditText(GROUP, "5", "neu", (Button("Wo?", "where", "s2", "wo"),)),
        SendPoll(GROUP, "Wohin?", ("1. Café", "2. Kö"), "9", thread="3"),
        ClosePoll(ROOM, "9", "Die Umfrage ist geschlossen."),
        SendVenue(ROOM, "Café", 51.43, 6.76, "Königstraße 1"),
        DirectMessage(PersonRef(M, "@anna:x"), "Ping", (Button("Dabei", "join", "s1"),), "o-1"),
    ]
    for action in actions:
        assert codec.decode(codec.encode(action)) == action
