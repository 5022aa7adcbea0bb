"""A Matrix world for adapter tests without Synapse: the fake homeserver
(tests/fakes/matrix_api.py) on a free loopback port, a real SQLite file, the real core
on a fake clock, and the real adapter built by the project's own ``build(...)``.

    async def test_x(mx: MatrixWorld) -> None:
        await mx.start()
        room = await mx.city()                      # invited, greeted, set up as Duisburg
        answer = await mx.ask(room, BEN, "!heute")  # the bot's reply to that message
        assert answer.body.startswith("Heute in Duisburg")

Waiting is on signals, never on fixed sleeps: the fake received the bot's send
(``reply``), the bot asked to sync past an event (it is handled: ``settle``), the
runtime's queues are empty (``settle``), an event is in the ledger (``handled``).
A restart is ``stop()`` then ``start()``: a new core, adapter and connection over the
same database file and homeserver.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from chatbot.adapters.matrix import MatrixAdapter, build
from chatbot.config import Settings
from chatbot.core.bot import Bot
from chatbot.core.clock import FakeClock
from chatbot.core.events import Event
from chatbot.storage.sqlite import SqliteRepository
from tests.fakes.matrix_api import FakeMatrixApi, Sent
from tests.kit import berlin
from tests.support.waiting import eventually

ANNA, BEN, CARLA = "@anna:fake.test", "@ben:fake.test", "@carla:fake.test"
SETUP = "!einrichten Duisburg | Europe/Berlin | de"
VENUES = ("!ort add Café Museum | 51.4344, 6.7623", "!ort add Kö Lounge | 51.4330, 6.7650")
GREETING = "Hallo!"


class MatrixWorld:
    def __init__(self, hs: FakeMatrixApi, tmp_path: Path) -> None:
        self.hs = hs
        self.tmp_path = tmp_path
        self.db_url = f"sqlite:///{tmp_path / 'matrix.db'}"
        self.clock = FakeClock(berlin("2026-11-30 08:30"))  # a Monday
        hs.now_ms = lambda: int(self.clock.now().timestamp() * 1000)
        self.repo: SqliteRepository | None = None
        self.core: Bot | None = None
        self._adapter: MatrixAdapter | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.events: list[Event] = []  # what reached the core, in order

    @property
    def adapter(self) -> MatrixAdapter:
        assert self._adapter is not None, "not started"
        return self._adapter

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": self.db_url,
            "matrix_homeserver": self.hs.base_url,
            "matrix_user_id": self.hs.bot_user,
            "matrix_password": self.hs.password,
            "matrix_crypto_store": str(self.tmp_path / "crypto"),
            "default_language": "de",
            "default_timezone": "Europe/Berlin",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    async def open_repo(self) -> SqliteRepository:
        """The database, as a process opens it."""
        return await SqliteRepository.open(self.db_url)

    async def start(self, *, timeline_limit: int | None = None, **overrides: Any) -> MatrixAdapter:
        """A fresh "process": database, core, adapter; returns once the first sync is
        handled. ``timeline_limit``: the adapter's, from its first sync on;
        ``overrides`` are settings."""
        assert self._task is None, "already running"
        settings = self.settings(**overrides)
        self.repo = await self.open_repo()
        self.core = Bot(
            self.repo,
            self.clock,
            default_language=settings.default_language,
            default_timezone=settings.default_timezone,
        )
        self._spy(self.core)
        self._adapter = build(settings, self.core, self.repo)
        if timeline_limit is not None:
            self._adapter.timeline_limit = timeline_limit
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._adapter.run(self._stop))
        synced = asyncio.ensure_future(self._adapter._synced.wait())
        await asyncio.wait({synced, self._task}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        synced.cancel()
        assert not self._task.done(), "the adapter stopped at its start"
        assert self._adapter._synced.is_set(), "no first sync"
        return self._adapter

    def _spy(self, core: Bot) -> None:
        handle = core.handle

        async def spying(event: Event, is_admin: Any) -> Any:
            self.events.append(event)
            return await handle(event, is_admin)

        core.handle = spying  # type: ignore[method-assign]

    async def stop(self) -> None:
        if self._task is not None and self._stop is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 15)
        self._task = self._stop = None
        if self.repo is not None:
            await self.repo.close()
            self.repo = None

    async def restart(self, **kwargs: Any) -> MatrixAdapter:
        await self.stop()
        return await self.start(**kwargs)

    # --- waiting on signals ------------------------------------------------------------

    async def settle(self, timeout: float = 5.0) -> None:
        """Until the bot has handled everything on the homeserver and sent all it
        decided (its queues are empty), including what its own sends bring back."""
        while True:
            target = self.hs.position
            await self.hs.wait_synced(target, timeout)
            await asyncio.wait_for(self.adapter.runtime.drain(), timeout)
            if self.hs.position == target:
                return

    async def handled(self, event_id: str, timeout: float = 5.0) -> None:
        """Until the event is in the ledger (handled_events)."""
        await eventually(lambda: self.adapter.seen(event_id), f"{event_id} handled", timeout)

    async def pending(self) -> int:
        """How many actions wait in pending_actions (a sent one's row goes a moment
        after it was sent: ``settle`` first)."""
        assert self.repo is not None
        return len(await self.repo.ledger.pending_of("matrix"))

    async def platform_value(self, key: str) -> str | None:
        """What the adapter keeps in platform_state (``next_batch``: the sync token)."""
        assert self.repo is not None
        return await self.repo.ledger.platform_value("matrix", key)

    async def set_platform_value(self, key: str, value: str) -> None:
        """Change what the adapter keeps, between two runs (as a crash would leave it)."""
        assert self.repo is None, "only while stopped"
        repo = await self.open_repo()
        try:
            async with repo.atomic():
                await repo.ledger.set_platform_value("matrix", key, value)
        finally:
            await repo.close()

    # --- people ------------------------------------------------------------------------

    def say(self, room: str, user: str, text: str, **kwargs: Any) -> str:
        """A person writes in a room; the event id."""
        return self.hs.say(room, user, text, **kwargs)

    async def reply(
        self, room: str, event_id: str | None = None, contains: str = "", **kw: Any
    ) -> Sent:
        """The bot's message in the room replying to ``event_id`` (if given) that
        contains ``contains``."""
        return await self.hs.wait_sent(room, contains, reply_to=event_id, **kw)

    async def ask(self, room: str, user: str, text: str, contains: str = "", **kw: Any) -> Sent:
        """Say something and wait for the bot's reply to it."""
        return await self.reply(room, self.say(room, user, text, **kw), contains)

    def texts(self, room: str) -> list[str]:
        return self.hs.texts(room)

    async def invite(self, room: str, by: str = ANNA, **kwargs: Any) -> None:
        """Invite the bot and wait for its greeting (``greet=False``: for its join)."""
        greet = kwargs.pop("greet", True)
        self.hs.invite_bot(room, by, **kwargs)
        if greet:
            await self.hs.wait_sent(room, GREETING)
        else:
            await self.hs.until(lambda: self.hs.rooms[room].membership(self.hs.bot_user) == "join")

    async def city(
        self,
        *,
        members: tuple[str, ...] = (BEN, CARLA),
        name: str = "Duisburg",
        venues: bool = False,
    ) -> str:
        """A room of Anna's (with ``members``), the bot invited and greeted, set up as a
        city group by Anna (the room's creator, so an admin); ``venues``: with Café
        Museum (1) and Kö Lounge (2)."""
        room = self.hs.add_room(ANNA, members=members, name=f"Coworking {name}")
        await self.invite(room)
        setup = SETUP.replace("Duisburg", name)
        await self.ask(room, ANNA, setup, "Stadtgruppe " + name)
        for venue in VENUES if venues else ():
            await self.ask(room, ANNA, venue, "hinzugefügt")
        return room
