"""Planning ahead and stable references in a Matrix room against a real Synapse: a
session for tomorrow with seats, the week with its commands, a join by the id the
command line carries, a waiting list, and a change that keeps the number."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot.adapters.matrix.rooms import localpart
from chatbot.core.clock import FakeClock
from tests.kit import berlin
from tests.matrix.conftest import USER_PASSWORD
from tests.matrix.helpers import Member, body, start_bot
from tests.matrix.test_polls import city_room
from tests.support.synapse import SynapseServer

if TYPE_CHECKING:
    from .conftest import MakeClient, MakeUser


async def test_plan_tomorrow_see_the_week_join_by_id_and_change(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    users = [matrix_user(name) for name in ("bot", "anna", "ben", "carla")]
    anna, ben, carla = [Member(await matrix_client(u)) for u in users[1:]]
    clock = FakeClock(berlin("2026-11-30 08:30"))  # a Monday
    bot = await start_bot(
        synapse, users[0], f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD, clock=clock
    )
    try:
        room = await city_room(anna, [ben, carla], bot)
        await ben.say(room, "!neu 14-18 Kö Lounge")
        await anna.notice(room, bot.user_id, "Neue Session 1: Kö Lounge")
        await ben.say(room, "!neu morgen 10-14 Café Museum max 2")
        planned = body(await anna.notice(room, bot.user_id, "Neue Session 2"))
        assert "Neue Session 2 am Dienstag, 1. Dezember" in planned, planned
        assert "→ !dabei s2" in planned  # the command line carries the session's id

        week = await carla.ask(room, bot.user_id, "!woche")
        assert "Morgen, Dienstag, 1. Dezember" in week, week
        assert "2. 10:00–14:00 Café Museum" in week and "→ !dabei s2" in week

        joined = await carla.ask(room, bot.user_id, "!dabei s2")
        assert f"{localpart(carla.user_id)} ist dabei" in joined, joined
        full = await anna.ask(room, bot.user_id, "!dabei 2")
        assert "Warteliste" in full, full

        await ben.say(room, "!aendern 2 11-15")
        changed = body(await anna.notice(room, bot.user_id, "Session 2 geändert"))
        assert "11:00–15:00" in changed, changed
        tomorrow = await anna.ask(room, bot.user_id, "!morgen")
        assert "2. Café Museum, 11:00–15:00" in tomorrow, tomorrow
        assert "2/2 dabei" in tomorrow and "Warteliste" in tomorrow
    finally:
        await bot.stop()


async def test_where_sends_the_place_as_a_location(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    users = [matrix_user(name) for name in ("bot", "anna", "ben")]
    anna, ben = [Member(await matrix_client(u)) for u in users[1:]]
    bot = await start_bot(
        synapse,
        users[0],
        f"sqlite:///{tmp_path / 'bot.db'}",
        USER_PASSWORD,
        clock=FakeClock(berlin("2026-11-30 08:30")),
    )
    try:
        room = await city_room(anna, [ben], bot)
        await ben.say(room, "!neu 10-14 Café Museum")
        announced = body(await anna.notice(room, bot.user_id, "Neue Session 1"))
        assert "→ !wo s1" in announced, announced
        await anna.say(room, "!wo s1")
        location: dict[str, Any] = await anna.until(
            lambda: next(
                (
                    e
                    for e in anna.from_user(room, bot.user_id)
                    if e["content"].get("msgtype") == "m.location"
                ),
                None,
            ),
            "m.location",
        )
        assert location["content"]["geo_uri"] == "geo:51.434400,6.762300"
    finally:
        await bot.stop()
