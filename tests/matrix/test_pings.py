"""Pings on Matrix against a real Synapse: the outbox is drained by ``OutboxSender``
through the adapter into direct rooms (m.direct); a ping is answered there; a sender
killed in the middle of a fan-out is followed by a new adapter and sender on the same
database, and every subscriber gets the ping exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from nio import JoinResponse, RoomCreateResponse

from chatbot.adapters.matrix import build
from chatbot.adapters.matrix.rooms import localpart
from chatbot.core.actions import Action, DirectMessage, SendText
from chatbot.core.bot import Bot
from chatbot.core.clock import FakeClock
from chatbot.core.events import ChatRef, Person, PersonRef
from chatbot.core.model import Subscription
from chatbot.delivery import STALE_CLAIM, OutboxSender
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import berlin
from tests.matrix.conftest import USER_PASSWORD
from tests.matrix.helpers import Member, RunningBot, body, bot_settings, start_bot
from tests.matrix.test_polls import SETUP
from tests.support.synapse import SynapseServer

if TYPE_CHECKING:
    from chatbot.adapters.matrix import MatrixAdapter

    from .conftest import MakeClient, MakeUser

PING = "Neue Session in Duisburg: Café Museum, 10:00–14:00, eröffnet von"


async def group_room(admin: Member, others: list[Member], bot: RunningBot) -> str:
    created = await admin.client.room_create(
        name="Coworking Duisburg", invite=[bot.user_id, *(m.user_id for m in others)]
    )
    assert isinstance(created, RoomCreateResponse), created
    room: str = created.room_id
    await asyncio.gather(*(m.accept_invite(room) for m in others))
    await admin.notice(room, bot.user_id, "Hallo!")
    assert "Stadtgruppe Duisburg" in await admin.ask(room, bot.user_id, SETUP)
    venue = "!ort add Café Museum | 51.4344, 6.7623"
    assert "hinzugefügt" in await admin.ask(room, bot.user_id, venue)
    return room


async def test_ping_in_a_direct_room_and_joining_from_there(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    users = [matrix_user(name) for name in ("bot", "anna", "ben")]
    anna, ben = [Member(await matrix_client(u)) for u in users[1:]]
    clock = FakeClock(berlin("2026-11-30 09:00"))
    bot = await start_bot(
        synapse, users[0], f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD, clock=clock
    )
    stop = asyncio.Event()
    sender = asyncio.create_task(OutboxSender(bot.bot, bot.adapter).run(stop))
    try:
        room = await group_room(anna, [ben], bot)
        subscribed = await ben.ask(room, bot.user_id, "!abo")
        assert "Direktnachricht" in subscribed, subscribed

        await anna.say(room, "!neu 10-14 Café Museum")
        direct = await ben.accept_invite()
        assert direct != room
        ping = await ben.notice(direct, bot.user_id, PING)
        assert body(ping).startswith(f"{PING} {localpart(anna.user_id)}.")
        join_line = body(ping).splitlines()[-1]
        assert join_line.startswith("→ !dabei s"), join_line
        assert (await bot.adapter.api.account_data("m.direct")) == {ben.user_id: [direct]}

        # the command of the ping, answered in the direct room, joins the session
        joined = await ben.ask(direct, bot.user_id, join_line.removeprefix("→ "))
        assert f"{localpart(ben.user_id)} ist dabei: Café Museum" in joined, joined
        today = await anna.ask(room, bot.user_id, "!heute")
        assert f"2 dabei: {localpart(anna.user_id)}, {localpart(ben.user_id)}" in today, today
    finally:
        stop.set()
        await sender
        await bot.stop()


class KilledAfter:
    """Performs through the adapter; after ``count`` delivered messages the process
    "dies" right there: the message went out, the outbox does not know it yet."""

    platform = "matrix"

    def __init__(self, adapter: MatrixAdapter, count: int) -> None:
        self.adapter = adapter
        self.count = count
        self.dead = asyncio.Event()

    async def perform(self, action: Action) -> None:
        await self.adapter.perform(action)
        self.count -= 1
        if self.count == 0:
            self.dead.set()
            await asyncio.Event().wait()  # cancelled here


async def outbox_states(repo: SqliteRepository) -> dict[str, int]:
    cursor = await repo.db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state")
    rows: Any = await cursor.fetchall()
    return {state: count for state, count in rows}


async def test_fan_out_killed_midway_delivers_every_ping_once(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    bot_user, anna_user = matrix_user("bot"), matrix_user("anna")
    anna = Member(await matrix_client(anna_user))
    subscribers = [Member(await matrix_client(matrix_user(f"sub{n}"))) for n in range(10)]
    db = f"sqlite:///{tmp_path / 'bot.db'}"
    started = berlin("2026-11-30 09:00")
    first = await start_bot(synapse, bot_user, db, USER_PASSWORD, clock=FakeClock(started))
    try:
        room = await group_room(anna, [], first)
        group = await first.repo.cities.group_for_chat(ChatRef("matrix", room))
        assert group is not None
        async with first.repo.atomic():
            for member in subscribers:
                person = Person(PersonRef("matrix", member.user_id), localpart(member.user_id))
                await first.repo.people.subscribe(Subscription(group.id, person), started)
        await anna.say(room, "!neu 10-14 Café Museum")
        await anna.notice(room, first.user_id, "Neue Session 1: Café Museum")
        assert await outbox_states(first.repo) == {"pending": 10}

        # the sender dies after the 4th ping went out, before it could mark it sent
        killed = KilledAfter(first.adapter, 4)
        sender = asyncio.create_task(OutboxSender(first.bot, killed).run(asyncio.Event()))
        await asyncio.wait_for(killed.dead.wait(), timeout=30)
        sender.cancel()
        first.task.cancel()
        await asyncio.gather(sender, first.task, return_exceptions=True)
        assert await outbox_states(first.repo) == {"sent": 3, "sending": 1, "pending": 6}
    finally:
        first.task.cancel()
        await asyncio.gather(first.task, return_exceptions=True)
        await first.repo.close()

    # a new process on the same database, a minute later: the stale claim is retried
    # with the same transaction id in the same direct room, the rest is sent
    repo = await SqliteRepository.open(db)
    settings = bot_settings(synapse, bot_user, db, USER_PASSWORD)
    bot = Bot(repo, FakeClock(started + STALE_CLAIM + timedelta(seconds=1)))
    adapter = build(settings, bot, repo)
    stop = asyncio.Event()
    running = asyncio.create_task(adapter.run(stop))
    try:
        assert await OutboxSender(bot, adapter).drain() == 7
        assert await outbox_states(repo) == {"sent": 10}

        async def received(member: Member) -> tuple[int, int]:
            await member.sync_once(0)
            invited = list(member.invites)
            for room_id in invited:
                assert isinstance(await member.client.join(room_id), JoinResponse)
                member.invites.pop(room_id)
            await member.sync_once(0)
            pings = [
                e
                for events in member.timeline.values()
                for e in events
                if e.get("sender") == bot_user.user_id and PING in body(e)
            ]
            return len(invited), len(pings)

        counts = await asyncio.gather(*(received(m) for m in subscribers))
        assert counts == [(1, 1)] * len(subscribers)  # one direct room, one ping each
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=15)
        await repo.close()


async def test_a_stopped_adapter_hands_a_direct_message_back_to_the_outbox(
    synapse: SynapseServer, matrix_user: MakeUser, tmp_path: Path
) -> None:
    """After the adapter stopped, an action raises (the outbox, or the runtime's
    recorded row, keeps it for the next start) instead of returning as if it had been
    sent."""
    bot_user, anna_user = matrix_user("bot"), matrix_user("anna")
    bot = await start_bot(synapse, bot_user, f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD)
    bot.stopper.set()
    await bot.task
    try:
        ping = DirectMessage(PersonRef("matrix", anna_user.user_id), "Neue Session")
        with pytest.raises(RuntimeError, match="stopped"):
            await bot.adapter.perform(ping)
        # a message to a room too: its row stays in pending_actions for the next run
        with pytest.raises(RuntimeError, match="stopped"):
            await bot.adapter.perform(SendText(ChatRef("matrix", "!room:example.org"), "Hallo"))
    finally:
        await bot.repo.close()
