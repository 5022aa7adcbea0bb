"""Native venue polls on Matrix (MSC3381) against a real Synapse: the bot posts
``org.matrix.msc3381.poll.start``, people answer with the events Element sends (and the
stable ``m.poll.response``), ``!schliessen`` or the schedule ends the poll with
``org.matrix.msc3381.poll.end`` and announces the winner."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nio import RoomCreateResponse

from chatbot.adapters.matrix.rooms import localpart
from chatbot.core.clock import FakeClock
from chatbot.runner import tick_until
from tests.kit import berlin
from tests.matrix.conftest import USER_PASSWORD
from tests.matrix.helpers import (
    POLL_END,
    POLL_RESPONSE,
    POLL_START,
    Member,
    RunningBot,
    body,
    poll_response,
    start_bot,
)
from tests.support.synapse import SynapseServer

if TYPE_CHECKING:
    from .conftest import MakeClient, MakeUser

SETUP = "!einrichten Duisburg | Europe/Berlin | de"
VENUES = (
    "!ort add Café Museum | 51.4344, 6.7623",
    "!ort add Kö Lounge | 51.4330, 6.7650",
    "!ort add Finkenkrug | 51.4290, 6.7900",
)


async def city_room(admin: Member, others: list[Member], bot: RunningBot) -> str:
    """A room with the bot and everyone in it, set up as the city group Duisburg with
    three venues (the admin created the room, so may set it up)."""
    created = await admin.client.room_create(
        name="Coworking Duisburg", invite=[bot.user_id, *(m.user_id for m in others)]
    )
    assert isinstance(created, RoomCreateResponse), created
    room: str = created.room_id
    await asyncio.gather(*(m.accept_invite(room) for m in others))
    await admin.notice(room, bot.user_id, "Hallo!")
    assert "Stadtgruppe Duisburg" in await admin.ask(room, bot.user_id, SETUP)
    for venue in VENUES:
        assert "hinzugefügt" in await admin.ask(room, bot.user_id, venue)
    return room


def answers_of(start: dict[str, Any]) -> dict[str, str]:
    """answer id -> text of a poll start event."""
    poll = start["content"][POLL_START]
    return {a["id"]: a["org.matrix.msc1767.text"] for a in poll["answers"]}


async def test_native_poll_votes_close_and_today(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    users = [matrix_user(name) for name in ("bot", "anna", "ben", "carla", "dana")]
    anna, ben, carla, dana = [Member(await matrix_client(u)) for u in users[1:]]
    clock = FakeClock(berlin("2026-11-30 08:30"))  # a Monday
    bot = await start_bot(
        synapse, users[0], f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD, clock=clock
    )
    try:
        room = await city_room(anna, [ben, carla, dana], bot)

        # !umfrage: a native poll with the venues as answers, ids 1..3 as for !stimme N
        await ben.say(room, "!umfrage")
        start = await anna.event_of_type(room, bot.user_id, POLL_START)
        poll = start["content"][POLL_START]
        assert poll["kind"] == "org.matrix.msc3381.poll.disclosed"
        assert poll["max_selections"] == 1
        # each answer shows the venue's own number, which !stimme N takes
        assert answers_of(start) == {
            "1": "1. Café Museum",
            "2": "2. Kö Lounge",
            "3": "3. Finkenkrug",
        }
        question = poll["question"]["org.matrix.msc1767.text"]
        assert "Wo arbeiten wir heute?" in question and "!stimme N" in question
        fallback = start["content"]["org.matrix.msc1767.text"]
        assert fallback == start["content"]["body"]
        assert fallback.endswith("\n1. Café Museum\n2. Kö Lounge\n3. Finkenkrug")
        poll_id = start["event_id"]

        # ben votes Café Museum, then changes to Finkenkrug (Element's unstable shape)
        await ben.send(room, poll_response(poll_id, ["1"]), POLL_RESPONSE)
        changed = await ben.send(room, poll_response(poll_id, ["3"]), POLL_RESPONSE)
        # anna: the stable shape
        await anna.send(room, poll_response(poll_id, ["3"], stable=True), "m.poll.response")
        # carla votes Kö Lounge and takes it back (empty answers)
        await carla.send(room, poll_response(poll_id, ["2"]), POLL_RESPONSE)
        await carla.send(room, poll_response(poll_id, []), POLL_RESPONSE)
        # dana votes by text; then answers a poll the bot does not know (ignored)
        vote = await dana.say(room, "!stimme 1")
        voted = await dana.reply_to(room, bot.user_id, vote)
        assert "stimmt für Café Museum" in voted, voted
        await dana.send(room, poll_response(vote, ["3"]), POLL_RESPONSE)

        # the starter closes it: a poll end referencing the start, then the result
        await ben.say(room, "!schliessen")
        announcement = await anna.notice(room, bot.user_id, "Die Umfrage ist geschlossen:")
        closed = body(announcement)
        assert "Die Umfrage ist geschlossen: Finkenkrug gewinnt mit 2 Stimmen." in closed
        assert "Stimmen: Finkenkrug 2, Café Museum 1, Kö Lounge 0" in closed
        assert "Heutige Session 1: Finkenkrug" in closed and "→ !dabei s1" in closed
        end = await anna.event_of_type(room, bot.user_id, POLL_END)
        assert end["content"]["m.relates_to"] == {"rel_type": "m.reference", "event_id": poll_id}
        assert end["content"][POLL_END] == {}
        assert end["content"]["org.matrix.msc1767.text"] == "Die Umfrage ist geschlossen."
        order = [e["event_id"] for e in anna.from_user(room, bot.user_id)]
        assert order.index(end["event_id"]) < order.index(announcement["event_id"])

        # today: the winner's session with those who voted for it
        today = await dana.ask(room, bot.user_id, "!heute")
        assert "Finkenkrug" in today, today
        assert localpart(ben.user_id) in today and localpart(anna.user_id) in today
        assert localpart(carla.user_id) not in today and localpart(dana.user_id) not in today

        # the responses went through the exactly-once path (recorded as handled)
        assert await bot.repo.ledger.is_handled("matrix", changed)
    finally:
        await bot.stop()


async def test_scheduled_poll_opens_and_closes_by_the_clock(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    bot_user, anna_user = matrix_user("bot"), matrix_user("anna")
    anna = Member(await matrix_client(anna_user))
    clock = FakeClock(berlin("2026-11-30 07:30"))  # the poll is turned on for 08:00-10:00
    bot = await start_bot(
        synapse, bot_user, f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD, clock=clock
    )
    stop = asyncio.Event()
    ticker = asyncio.create_task(tick_until(bot.bot, bot.adapter.runtime, stop, [], every=0.1))
    try:
        room = await city_room(anna, [], bot)
        saved = await anna.ask(room, bot.user_id, "!einstellungen umfrage 8:00")
        assert "Gespeichert: Umfrage um 08:00" in saved  # off for a new group
        clock.set(berlin("2026-11-30 08:00") + timedelta(seconds=5))
        start = await anna.event_of_type(room, bot.user_id, POLL_START)
        assert set(answers_of(start).values()) == {
            "1. Café Museum",
            "2. Kö Lounge",
            "3. Finkenkrug",
        }

        clock.set(berlin("2026-11-30 10:00") + timedelta(seconds=5))
        end = await anna.event_of_type(room, bot.user_id, POLL_END)
        assert end["content"]["m.relates_to"]["event_id"] == start["event_id"]
        # nobody voted: the poll just ends, no message; !heute says it closed
        assert "ohne Stimmen geschlossen" in await anna.ask(room, bot.user_id, "!heute")
        said = [e for e in anna.from_user(room, bot.user_id) if "ohne Stimmen" in body(e)]
        assert len(said) == 1  # only the answer to !heute
        polls = [e for e in anna.from_user(room, bot.user_id) if e["type"] == POLL_START]
        assert len(polls) == 1  # ticking on does not post it again
    finally:
        stop.set()
        await ticker
        await bot.stop()


async def test_a_poll_closed_after_its_day_ends_the_poll_and_opens_no_session(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    """Down through Monday's close, back on Tuesday: the poll is ended (a poll end
    event) and the room is told that no session comes from it."""
    bot_user, anna_user, ben_user = matrix_user("bot"), matrix_user("anna"), matrix_user("ben")
    anna, ben = Member(await matrix_client(anna_user)), Member(await matrix_client(ben_user))
    clock = FakeClock(berlin("2026-11-30 08:30"))  # a Monday
    bot = await start_bot(
        synapse, bot_user, f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD, clock=clock
    )
    try:
        room = await city_room(anna, [ben], bot)
        await ben.say(room, "!umfrage")
        start = await anna.event_of_type(room, bot.user_id, POLL_START)
        voted = await ben.ask(room, bot.user_id, "!stimme 3")
        assert "stimmt für Finkenkrug" in voted, voted

        clock.set(berlin("2026-12-01 10:30"))  # Tuesday
        for action in await bot.bot.tick():
            await bot.adapter.perform(action)
        end = await anna.event_of_type(room, bot.user_id, POLL_END)
        assert end["content"]["m.relates_to"]["event_id"] == start["event_id"]
        late = body(await anna.notice(room, bot.user_id, "erst jetzt geschlossen"))
        assert late.splitlines() == [
            "Die Umfrage vom Montag, 30. November wird erst jetzt geschlossen, nach ihrem Tag;"
            " darum wird keine Session daraus eröffnet.",
            "Stimmen: Finkenkrug 1, Café Museum 0, Kö Lounge 0",
        ]
        today = await ben.ask(room, bot.user_id, "!heute")
        assert "Finkenkrug" not in today, today
    finally:
        await bot.stop()
