"""M_LIMIT_EXCEEDED: a burst past the bot's message rate still delivers every message,
in order per room, each room waiting on its own (retry_after_ms honoured)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from nio import RoomCreateResponse

from chatbot.core.actions import SendText
from chatbot.core.events import ChatRef
from tests.matrix.conftest import USER_PASSWORD
from tests.matrix.helpers import Member, body, start_bot
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
