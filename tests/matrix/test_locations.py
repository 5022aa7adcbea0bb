"""Shared locations on Matrix against a real Synapse: Element's ``m.location`` (a
position with accuracy, a dropped pin), a visitor in a direct room, coordinates off
the map, a live location (MSC3672 beacons) answered once, and a venue added by
sharing a named place after ``!ort add``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from nio import RoomCreateResponse, RoomPutStateResponse

from chatbot.core.clock import FakeClock
from tests.kit import berlin
from tests.matrix.conftest import USER_PASSWORD
from tests.matrix.helpers import Member, element_location, element_pin, replied_to, start_bot
from tests.matrix.test_polls import city_room
from tests.support.synapse import SynapseServer

if TYPE_CHECKING:
    from .conftest import MakeClient, MakeUser

BEACON_INFO = "org.matrix.msc3672.beacon_info"
BEACON = "org.matrix.msc3672.beacon"
# 0.0074° of latitude south of Café Museum (51.4344, 6.7623): 823 m, shown as "820 m"
NEAR = (51.427, 6.7623)
LISTED = "1. Café Museum (Duisburg), 10:00–14:00 · 820 m"


async def test_locations_are_answered_with_sessions_nearby(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    users = [matrix_user(name) for name in ("bot", "anna", "ben", "carla")]
    anna, ben, carla = [Member(await matrix_client(u)) for u in users[1:]]
    clock = FakeClock(berlin("2026-11-30 09:00"))
    bot = await start_bot(
        synapse, users[0], f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD, clock=clock
    )
    try:
        room = await city_room(anna, [ben], bot)
        await ben.say(room, "!neu 10-14 Café Museum")
        await ben.notice(room, bot.user_id, "Neue Session 1: Café Museum")

        # a position as Element shares it (geo URI with ;u=), and a dropped pin (without)
        for content in (element_location(*NEAR, 35), element_pin(*NEAR)):
            shared = await ben.send(room, content)
            answer = await ben.reply_to(room, bot.user_id, shared)
            assert answer.startswith("Heutige Sessions im Umkreis von 5 km"), answer
            assert LISTED in answer
            assert "→ !dabei" in answer

        # off the map: the reason, in German
        off = await ben.send(room, element_pin(91, 6))
        assert "außerhalb der Karte" in await ben.reply_to(room, bot.user_id, off)

        # a visitor in a direct room with the bot finds the public group's session
        created = await carla.client.room_create(is_direct=True, invite=[bot.user_id])
        assert isinstance(created, RoomCreateResponse), created
        direct = created.room_id
        await carla.notice(direct, bot.user_id, "Hallo!")
        visiting = await carla.send(direct, element_location(*NEAR, 20))
        assert LISTED in await carla.reply_to(direct, bot.user_id, visiting)

        # a live location (MSC3672, as Element sends it): only its first point is answered
        ts = int(time.time() * 1000)
        info = {
            BEACON_INFO: {"description": "Anna", "timeout": 3_600_000, "live": True},
            "org.matrix.msc3488.ts": ts,
            "org.matrix.msc3488.asset": {"type": "m.self"},
        }
        put = await anna.client.room_put_state(room, BEACON_INFO, info, state_key=anna.user_id)
        assert isinstance(put, RoomPutStateResponse), put
        points = []
        for n in range(3):
            uri = f"geo:{NEAR[0]},{NEAR[1] + n / 10_000};u=10"
            point = {
                "org.matrix.msc3488.location": {"uri": uri},
                "org.matrix.msc3488.ts": ts + n * 5000,
                "m.relates_to": {"rel_type": "m.reference", "event_id": put.event_id},
            }
            points.append(await anna.send(room, point, BEACON))
        assert LISTED in await anna.reply_to(room, bot.user_id, points[0])

        # an admin shares a named place after "!ort add": the venue is added
        asked = await anna.ask(room, bot.user_id, "!ort add")
        assert "Teile den Ort" in asked, asked
        place = await anna.send(room, element_pin(51.4330, 6.7650, "Altes Bahnhöfchen"))
        added = await anna.reply_to(room, bot.user_id, place)
        assert "hinzugefügt: Altes Bahnhöfchen" in added, added
        venues = await anna.ask(room, bot.user_id, "!orte")  # everything before is in
        assert "Altes Bahnhöfchen" in venues
        replies_to_points = [
            e for e in anna.from_user(room, bot.user_id) if replied_to(e) in points
        ]
        assert len(replies_to_points) == 1
    finally:
        await bot.stop()
