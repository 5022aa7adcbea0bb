"""Direct rooms on the fake homeserver: m.direct, a person's direct chat with the bot,
the bot opening one (recorded before the invite goes out, the invite with is_direct),
an invite the homeserver refuses, a person who left, a restart between recording and
inviting."""

from __future__ import annotations

import pytest

from chatbot.adapters.base import RetryAfter, Unreachable
from chatbot.core.actions import DirectMessage
from chatbot.core.events import CommandEvent, PersonRef
from tests.fakes.matrix_api import Call
from tests.matrix.world import BEN, GREETING, MatrixWorld


def dm(text: str, user: str = BEN) -> DirectMessage:
    return DirectMessage(PersonRef("matrix", user), text)


def index(mx: MatrixWorld, call: Call) -> int:
    return mx.hs.calls.index(call)


async def test_a_direct_chat_opened_by_a_person_is_private_and_recorded(mx: MatrixWorld) -> None:
    await mx.start()
    room = mx.hs.add_room(BEN)
    await mx.invite(room, BEN, is_direct=True)
    assert mx.hs.account_data["m.direct"][1] == {BEN: [room]}
    answer = await mx.ask(room, BEN, "!hilfe")
    assert answer.body
    command = [e for e in mx.events if isinstance(e, CommandEvent)][-1]
    assert command.origin.is_private

    # a later message goes there, no new room
    await mx.adapter.perform(dm("Erinnerung"))
    assert mx.texts(room)[-1] == "Erinnerung"
    assert not mx.hs.calls_to("createRoom")


async def test_m_direct_of_another_client_is_read_at_the_start(mx: MatrixWorld) -> None:
    room = mx.hs.add_room(BEN)
    mx.hs.invite_bot(room, BEN)  # no is_direct: only m.direct says it is direct
    mx.hs.set_account_data("m.direct", {BEN: [room]})
    await mx.start()
    await mx.hs.wait_sent(room, GREETING)
    await mx.ask(room, BEN, "!hilfe")
    command = [e for e in mx.events if isinstance(e, CommandEvent)][-1]
    assert command.origin.is_private


async def test_the_bot_opens_a_direct_room_recorded_before_the_invite(mx: MatrixWorld) -> None:
    await mx.start()
    await mx.adapter.perform(dm("Erste"))
    (created,) = mx.hs.calls_to("createRoom")
    room = created.answer["room_id"]
    assert created.body["is_direct"] is True
    assert created.body["preset"] == "trusted_private_chat"
    assert not created.body.get("invite")  # invited only once recorded
    assert created.body["creation_content"] == {"additional_creators": [BEN]}
    recorded = mx.hs.calls_to("account_data")[-1]
    assert recorded.method == "PUT" and recorded.body == {BEN: [room]}
    (invite,) = mx.hs.calls_to("invite", room)
    assert invite.body == {"membership": "invite", "is_direct": True}
    (sent,) = mx.hs.calls_to("send", room)
    assert index(mx, created) < index(mx, recorded) < index(mx, invite) < index(mx, sent)
    assert mx.texts(room) == ["Erste"]

    await mx.adapter.perform(dm("Zweite"))  # the same room
    assert len(mx.hs.calls_to("createRoom")) == 1
    assert mx.texts(room) == ["Erste", "Zweite"]
    await mx.settle()
    assert GREETING not in "".join(mx.texts(room))  # its own room: no greeting


async def test_an_invite_the_homeserver_refuses_leaves_no_room(mx: MatrixWorld) -> None:
    await mx.start()
    mx.hs.fail("invite", status=403, error="Ben blocks invites")
    with pytest.raises(Unreachable):
        await mx.adapter.perform(dm("Erste"))
    (created,) = mx.hs.calls_to("createRoom")
    room = created.answer["room_id"]
    assert mx.hs.rooms[room].membership(mx.hs.bot_user) == "leave"
    assert mx.hs.rooms[room].forgotten
    assert mx.hs.account_data["m.direct"][1] == {}  # unrecorded
    assert not mx.hs.calls_to("send", room)


async def test_a_person_who_left_their_direct_room_gets_no_new_one(mx: MatrixWorld) -> None:
    await mx.start()
    await mx.adapter.perform(dm("Erste"))
    room = mx.hs.calls_to("createRoom")[0].answer["room_id"]
    mx.hs.leave(room, BEN)  # Ben rejects the invite
    await mx.settle()
    with pytest.raises(Unreachable):
        await mx.adapter.perform(dm("Zweite"))
    assert len(mx.hs.calls_to("createRoom")) == 1
    assert mx.texts(room) == ["Erste"]


async def test_a_room_recorded_before_a_restart_is_invited_into_afterwards(
    mx: MatrixWorld,
) -> None:
    await mx.start()
    mx.hs.fail("invite", status=429, retry_after_ms=5, times=3)  # every attempt
    with pytest.raises(RetryAfter):
        await mx.adapter.perform(dm("Erste"))
    room = mx.hs.calls_to("createRoom")[0].answer["room_id"]
    assert mx.hs.account_data["m.direct"][1] == {BEN: [room]}
    assert mx.hs.rooms[room].membership(BEN) is None

    await mx.restart()
    await mx.adapter.perform(dm("Erste"))
    assert len(mx.hs.calls_to("createRoom")) == 1  # the recorded room, reused
    assert mx.hs.rooms[room].membership(BEN) == "invite"
    assert mx.texts(room) == ["Erste"]
