"""Rooms' lives on the fake homeserver: invite -> join -> greeting, invites from
outside the allowed servers, members coming and going, the bot kicked, room upgrades
(a tombstone, and the new room's m.room.create naming the old one)."""

from __future__ import annotations

from chatbot.core.actions import SendText
from chatbot.core.events import ChatRef, MemberJoined, MemberLeft
from tests.matrix.world import ANNA, BEN, CARLA, GREETING, MatrixWorld

ASKED = "Bitte lade mich in den neuen Raum ein"
EVE = "@eve:elsewhere.test"


async def test_an_invite_is_joined_and_greeted_once(mx: MatrixWorld) -> None:
    await mx.start()
    room = mx.hs.add_room(ANNA, members=[BEN], name="Coworking Duisburg")
    await mx.invite(room)
    joins = mx.hs.calls_to("join", room)
    assert [c.ok for c in joins] == [True]
    await mx.settle()
    assert [t for t in mx.texts(room) if t.startswith(GREETING)] == mx.texts(room)[:1]
    assert len(mx.texts(room)) == 1
    bot_joined = [e for e in mx.events if isinstance(e, MemberJoined) and e.is_the_bot]
    assert [e.origin.chat.id for e in bot_joined] == [room]


async def test_an_invite_from_outside_the_allowed_servers_is_declined(mx: MatrixWorld) -> None:
    await mx.start(matrix_allowed="fake.test")
    room = mx.hs.add_room(EVE, name="Spam")
    mx.hs.invite_bot(room, EVE)
    await mx.hs.until(lambda: mx.hs.calls_to("leave", room))
    await mx.settle()
    assert not mx.hs.calls_to("join", room)
    assert mx.hs.rooms[room].membership(mx.hs.bot_user) == "leave"

    allowed = mx.hs.add_room(ANNA, name="Coworking Duisburg")
    await mx.invite(allowed)  # a person of an allowed server: joined and greeted


async def test_members_coming_and_going_reach_the_core(mx: MatrixWorld) -> None:
    await mx.start()
    room = await mx.city(members=(BEN,))
    mx.hs.join(room, CARLA)
    mx.hs.leave(room, BEN)
    kicked = mx.hs.leave(room, CARLA, by=ANNA)
    await mx.handled(kicked)
    changes = [
        (type(e).__name__, e.member.ref.id)
        for e in mx.events
        if isinstance(e, (MemberJoined, MemberLeft)) and not e.is_the_bot
    ]
    assert changes == [("MemberJoined", CARLA), ("MemberLeft", BEN), ("MemberLeft", CARLA)]
    names = [e.member.name for e in mx.events if isinstance(e, MemberJoined) and not e.is_the_bot]
    assert names == ["Carla"]  # the display name of the member event


async def test_kicked_the_bot_sends_nothing_more_there_even_after_a_restart(
    mx: MatrixWorld,
) -> None:
    await mx.start()
    room = await mx.city()
    kick = mx.hs.leave(room, mx.hs.bot_user, by=ANNA)
    await mx.handled(kick)
    left = [e for e in mx.events if isinstance(e, MemberLeft) and e.is_the_bot]
    assert [e.origin.chat.id for e in left] == [room]
    sends = len(mx.hs.calls_to("send", room))
    await mx.adapter.perform(SendText(ChatRef("matrix", room), "Umfrage!"))
    await mx.restart()
    await mx.adapter.perform(SendText(ChatRef("matrix", room), "Umfrage!"))
    assert len(mx.hs.calls_to("send", room)) == sends  # not even tried


async def test_an_upgrade_into_a_room_the_bot_can_join_moves_the_city(mx: MatrixWorld) -> None:
    await mx.start()
    old = await mx.city()
    new = mx.hs.upgrade(old, ANNA, public=True)
    await mx.hs.until(lambda: mx.hs.rooms[new].membership(mx.hs.bot_user) == "join")
    today = await mx.ask(new, BEN, "!heute")
    assert today.body.startswith("Heute in Duisburg"), today.body
    await mx.settle()
    assert mx.texts(new) == [today.body]  # no greeting in the continued room
    assert not any(ASKED in text for text in mx.texts(old))
    # the old room is given up: nothing more is sent there
    sends = len(mx.hs.calls_to("send", old))
    await mx.adapter.perform(SendText(ChatRef("matrix", old), "Umfrage!"))
    assert len(mx.hs.calls_to("send", old)) == sends


async def test_an_upgrade_into_an_invite_only_room_waits_for_the_invite(mx: MatrixWorld) -> None:
    await mx.start()
    old = await mx.city()
    new = mx.hs.upgrade(old, ANNA)
    asked = await mx.hs.wait_sent(old, ASKED)
    assert f"https://matrix.to/#/{new}" in asked.body
    assert [c.status for c in mx.hs.calls_to("join", new)] == [403]
    assert (await mx.ask(old, BEN, "!heute")).body.startswith("Heute in Duisburg")

    await mx.invite(new, ANNA, greet=False)  # Anna invites the bot, as Element offers
    today = await mx.ask(new, BEN, "!heute")
    assert today.body.startswith("Heute in Duisburg"), today.body
    await mx.settle()
    assert not any(t.startswith(GREETING) for t in mx.texts(new))


async def test_a_tombstone_naming_a_room_that_does_not_continue_it_is_not_followed(
    mx: MatrixWorld,
) -> None:
    await mx.start()
    old = await mx.city()
    stranger = mx.hs.add_room(EVE, public=True, name="Elsewhere")  # no predecessor
    tombstone = {"body": "moved", "replacement_room": stranger}
    mx.hs.set_state(old, ANNA, "m.room.tombstone", tombstone)
    asked = await mx.hs.wait_sent(old, ASKED)
    assert stranger in asked.body
    await mx.hs.until(lambda: mx.hs.rooms[stranger].forgotten)  # left and forgotten
    assert mx.hs.rooms[stranger].membership(mx.hs.bot_user) == "leave"
    assert not mx.texts(stranger)
    assert (await mx.ask(old, BEN, "!heute")).body.startswith("Heute in Duisburg")
