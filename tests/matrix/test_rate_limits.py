"""M_LIMIT_EXCEEDED: a burst past the bot's message rate still delivers every message,
in order per room, each room waiting on its own (retry_after_ms honoured); and on a
homeserver with Synapse's default limits (nobody raised them for the bot), pings in
new direct rooms and replies in a group all arrive, paced, in order."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from nio import RoomCreateResponse

from chatbot.core.actions import SendText
from chatbot.core.events import ChatRef, PersonRef
from chatbot.delivery import OutboxSender
from tests.matrix.conftest import USER_PASSWORD
from tests.matrix.helpers import Member, body, replied_to, start_bot
from tests.support.synapse import SynapseServer

MESSAGES = 5


async def test_burst_is_delivered_in_order_per_room(
    throttled_synapse: SynapseServer, tmp_path: Path
) -> None:
    server = throttled_synapse
    bot_user = server.register(f"bot-{uuid.uuid4().hex[:10]}", USER_PASSWORD)
    anna_user = server.register(f"anna-{uuid.uuid4().hex[:10]}", USER_PASSWORD)
    server.exempt_from_ratelimits(anna_user.user_id)
    # the server's 0.1/s would make this test wait 10 s per message: 4/s, burst 3
    server.override_message_rate(bot_user.user_id, 4, 3)
    anna = Member(await server.new_client(*anna_user))
    bot = await start_bot(server, bot_user, f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD)
    try:
        rooms = []
        for name in ("A", "B"):
            created = await anna.client.room_create(name=name, invite=[bot.user_id])
            assert isinstance(created, RoomCreateResponse), created
            rooms.append(created.room_id)
        for room in rooms:
            await anna.notice(room, bot.user_id, "Hallo!")

        actions = [
            SendText(ChatRef("matrix", room), f"Nachricht {n} in {name}")
            for n in range(MESSAGES)
            for room, name in zip(rooms, "AB", strict=True)
        ]
        # as replies and scheduled posts go: through the runtime, a queue per room
        await bot.adapter.runtime.deliver(actions)
        await asyncio.wait_for(bot.adapter.runtime.drain(), timeout=30)

        limited = bot.adapter.rate_limited
        assert limited > 0, "the burst never met the rate limit: the test proves nothing"
        for room, name in zip(rooms, "AB", strict=True):
            last = f"Nachricht {MESSAGES - 1} in {name}"
            await anna.notice(room, bot.user_id, last)
            sent = [
                body(e)
                for e in anna.from_user(room, bot.user_id)
                if e["type"] == "m.room.message" and body(e).startswith("Nachricht")
            ]
            assert sent == [f"Nachricht {n} in {name}" for n in range(MESSAGES)]
    finally:
        await bot.stop()
        await anna.client.close()


COMMANDS = ("!heute", "!orte", "!hilfe", "!heute morgen")
PINGS = 3  # per person: one that must wait is not overtaken by the next


async def test_default_synapse_limits_pace_pings_and_replies_losing_nothing(
    default_limits_synapse: SynapseServer, tmp_path: Path
) -> None:
    """The bot's account has Synapse's default ``rc_message`` (0.2/s, burst 10) and
    ``rc_room_creation``: its join, greeting, replies, two new direct rooms (create,
    invite) and their pings are more than a burst, so the homeserver makes it wait;
    every message still arrives, replies in the order of the commands, each person's
    pings in the order they were queued."""
    server = default_limits_synapse
    bot_user = server.register(f"bot-{uuid.uuid4().hex[:10]}", USER_PASSWORD)
    people = []
    for name in ("anna", "ben", "carla"):
        user = server.register(f"{name}-{uuid.uuid4().hex[:10]}", USER_PASSWORD)
        server.exempt_from_ratelimits(user.user_id)  # the people are not under test
        people.append(Member(await server.new_client(*user)))
    anna, ben, carla = people
    bot = await start_bot(server, bot_user, f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD)
    stop = asyncio.Event()
    sender = asyncio.create_task(OutboxSender(bot.bot, bot.adapter).run(stop))
    try:
        created = await anna.client.room_create(name="Coworking Duisburg", invite=[bot.user_id])
        assert isinstance(created, RoomCreateResponse), created
        room = created.room_id
        await anna.notice(room, bot.user_id, "Hallo!")
        now = bot.bot.clock.now()
        async with bot.repo.atomic():
            for n in range(PINGS):
                for person in (ben, carla):
                    await bot.repo.outbox.enqueue(
                        "notice", PersonRef("matrix", person.user_id), f"Ping {n}", due_at=now
                    )
        commands = [await anna.say(room, command) for command in COMMANDS]

        for person in (ben, carla):
            direct = await person.accept_invite()

            def pings(member: Member = person, room: str = direct) -> list[str]:
                sent = [body(e) for e in member.from_user(room, bot.user_id)]
                return [text for text in sent if text.startswith("Ping")]

            await person.until(lambda p=pings: len(p()) == PINGS, "all pings", 90)
            assert pings() == [f"Ping {n}" for n in range(PINGS)]
        for command in commands:
            await anna.until(lambda c=command: anna.replies(room, bot.user_id, c), "reply", 60)
        answered = [replied_to(e) for e in anna.from_user(room, bot.user_id) if replied_to(e)]
        assert answered == commands
        assert bot.adapter.rate_limited > 0, "the homeserver never made the bot wait"
    finally:
        stop.set()
        await sender
        await bot.stop()
        for member in people:
            await member.client.close()
