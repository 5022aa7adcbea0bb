"""End-to-end encryption against a real Synapse: the members are nio clients with
encryption on (their own crypto stores), the rooms are encrypted as Element creates
them, and every answer of the bot must arrive encrypted and decrypt on their side.

- an encrypted group room: setup, venues, !neu, !heute, a native poll with votes;
- an encrypted direct room: !datenschutz, and a ping after !abo in the group;
- a restart in the middle: the same device and keys, what came while the bot was
  down is decrypted and answered; a member who joins later can read what follows;
- a room key that arrives late: the command is handled when it comes, once.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nio import RoomCreateResponse, RoomPreset, ToDeviceMessage

from chatbot.adapters.matrix.crypto import store_dir
from chatbot.core.clock import FakeClock
from chatbot.delivery import OutboxSender
from tests.kit import berlin
from tests.matrix.conftest import USER_PASSWORD
from tests.matrix.helpers import (
    POLL_END,
    POLL_RESPONSE,
    POLL_START,
    Member,
    RunningBot,
    body,
    encrypted,
    poll_response,
    replied_to,
    start_bot,
)
from tests.matrix.test_polls import SETUP, VENUES
from tests.support.synapse import MatrixUser, SynapseServer
from tests.support.waiting import eventually

if TYPE_CHECKING:
    from .conftest import MakeClient, MakeUser

ENCRYPTION = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}
PING = "Neue Session in Duisburg: Café Museum, 10:00–14:00, eröffnet von"


async def element(matrix_client: MakeClient, user: MatrixUser) -> Member:
    """A member whose client encrypts and has uploaded its device keys (as Element
    does right after the login)."""
    member = Member(await matrix_client(user, encrypted=True))
    await member.sync_once(0)
    return member


async def encrypted_room(admin: Member, others: list[Member], bot: RunningBot) -> str:
    """An encrypted room as Element creates it, with the bot and the others joined."""
    created = await admin.client.room_create(
        name="Coworking Duisburg",
        invite=[bot.user_id, *(m.user_id for m in others)],
        initial_state=[ENCRYPTION],
    )
    assert isinstance(created, RoomCreateResponse), created
    room: str = created.room_id
    await asyncio.gather(*(m.accept_invite(room) for m in others))
    greeting = await admin.notice(room, bot.user_id, "Hallo!")
    assert encrypted(greeting), greeting
    for member in others:
        await member.notice(room, bot.user_id, "Hallo!")
    return room


async def ask_encrypted(member: Member, room: str, bot: RunningBot, text: str) -> str:
    """Send a command (encrypted, as the room is) and return the bot's reply, which
    must have arrived encrypted."""
    sent = await member.say(room, text)
    replies = await member.until(lambda: member.replies(room, bot.user_id, sent), "reply")
    assert encrypted(replies[0]), replies[0]
    return body(replies[0])


async def setup_city(anna: Member, room: str, bot: RunningBot) -> None:
    assert "Stadtgruppe Duisburg" in await ask_encrypted(anna, room, bot, SETUP)
    for venue in VENUES:
        assert "hinzugefügt" in await ask_encrypted(anna, room, bot, venue)


def wire_types(member: Member, room: str, sender: str) -> set[str]:
    """The types of a sender's events as they travelled (m.room.encrypted when they
    arrived encrypted), besides membership and other state."""
    return {
        "m.room.encrypted" if encrypted(e) else str(e.get("type"))
        for e in member.from_user(room, sender)
        if "state_key" not in e
    }


async def test_encrypted_group_room_commands_and_a_native_poll(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    users = [matrix_user(name) for name in ("bot", "anna", "ben")]
    anna, ben = [await element(matrix_client, u) for u in users[1:]]
    clock = FakeClock(berlin("2026-11-30 08:30"))
    bot = await start_bot(
        synapse, users[0], f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD, clock=clock
    )
    try:
        room = await encrypted_room(anna, [ben], bot)
        await setup_city(anna, room, bot)
        await ben.say(room, "!neu 10-14 Café Museum")  # announced to the room
        opened = await anna.notice(room, bot.user_id, "Neue Session")
        assert encrypted(opened) and "Café Museum" in body(opened), opened
        today = await ask_encrypted(anna, room, bot, "!heute")
        assert "Café Museum" in today and "10:00–14:00" in today, today

        # a native poll: the start, the votes and the end all encrypted
        await ben.say(room, "!umfrage")
        start = await anna.event_of_type(room, bot.user_id, POLL_START)
        assert encrypted(start), start
        poll_id = start["event_id"]
        await ben.send(room, poll_response(poll_id, ["2"]), POLL_RESPONSE)
        await anna.send(room, poll_response(poll_id, ["2"]), POLL_RESPONSE)
        await ben.say(room, "!schliessen")
        closed = await anna.notice(room, bot.user_id, "Die Umfrage ist geschlossen:")
        assert "Kö Lounge gewinnt mit 2 Stimmen" in body(closed), body(closed)
        end = await anna.event_of_type(room, bot.user_id, POLL_END)
        assert encrypted(end) and end["content"]["m.relates_to"]["event_id"] == poll_id

        # nothing of the bot's went out in plain text, and no "can't read" notice
        assert wire_types(anna, room, bot.user_id) == {"m.room.encrypted"}
        assert not any("verschlüsselt" in body(e) for e in anna.from_user(room, bot.user_id))
        # the bot's keys live next to its database
        assert store_dir(str(tmp_path / "bot.db")) == str(tmp_path / "bot.db.matrix-crypto")
        stored = os.listdir(tmp_path / "bot.db.matrix-crypto")
        assert any(name.endswith(".db") for name in stored), stored
    finally:
        await bot.stop()


async def test_encrypted_direct_room_privacy_and_an_encrypted_ping(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    users = [matrix_user(name) for name in ("bot", "anna", "ben")]
    anna, ben = [await element(matrix_client, u) for u in users[1:]]
    clock = FakeClock(berlin("2026-11-30 09:00"))
    bot = await start_bot(
        synapse, users[0], f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD, clock=clock
    )
    stop = asyncio.Event()
    sender = asyncio.create_task(OutboxSender(bot.bot, bot.adapter).run(stop))
    try:
        # ben opens an encrypted direct chat with the bot, as Element X does
        created = await ben.client.room_create(
            is_direct=True,
            invite=[bot.user_id],
            preset=RoomPreset.trusted_private_chat,
            initial_state=[ENCRYPTION],
        )
        assert isinstance(created, RoomCreateResponse), created
        direct = created.room_id
        greeting = await ben.notice(direct, bot.user_id, "Hallo!")
        assert encrypted(greeting), greeting
        privacy = await ask_encrypted(ben, direct, bot, "!datenschutz")
        assert "Ich speichere nichts über dich." in privacy, privacy

        room = await encrypted_room(anna, [ben], bot)
        await setup_city(anna, room, bot)
        subscribed = await ask_encrypted(ben, room, bot, "!abo")
        assert "Direktnachricht" in subscribed, subscribed

        await anna.say(room, "!neu 10-14 Café Museum")
        ping = await ben.notice(direct, bot.user_id, PING)
        assert encrypted(ping), ping
        # into the direct room ben opened, not a new one
        assert bot.adapter.direct[ben.user_id] == [direct]
        assert not ben.invites
        # answered there, encrypted
        join_line = body(ping).splitlines()[-1].removeprefix("→ ")
        joined = await ask_encrypted(ben, direct, bot, join_line)
        assert "ist dabei: Café Museum" in joined, joined
        assert wire_types(ben, direct, bot.user_id) == {"m.room.encrypted"}
    finally:
        stop.set()
        await sender
        await bot.stop()


async def test_restart_keeps_the_device_and_a_later_member_reads_what_follows(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    users = [matrix_user(name) for name in ("bot", "anna", "ben", "carla")]
    anna, ben, carla = [await element(matrix_client, u) for u in users[1:]]
    db = f"sqlite:///{tmp_path / 'bot.db'}"
    clock = FakeClock(berlin("2026-11-30 08:30"))
    bot = await start_bot(synapse, users[0], db, USER_PASSWORD, clock=clock)
    try:
        room = await encrypted_room(anna, [ben], bot)
        await setup_city(anna, room, bot)
        device = bot.adapter.api.device_id
        key = bot.adapter.crypto.fingerprint() if bot.adapter.crypto else None
    finally:
        await bot.stop()

    # while the bot is down, ben opens a session (encrypted with the key the bot has)
    command = await ben.say(room, "!neu 10-14 Café Museum")
    bot = await start_bot(synapse, users[0], db, USER_PASSWORD, clock=clock)
    try:
        assert bot.adapter.api.device_id == device  # no new device per start
        assert bot.adapter.crypto is not None and bot.adapter.crypto.fingerprint() == key
        opened = await ben.notice(room, bot.user_id, "Neue Session")
        assert encrypted(opened) and "Café Museum" in body(opened), opened
        assert command  # answered after the restart
        # after the restart the bot's new messages still decrypt for everyone
        today = await ask_encrypted(anna, room, bot, "!heute")
        assert "Café Museum" in today, today

        # carla joins later: she gets the keys of what the bot sends from then on
        invited = await anna.client.room_invite(room, carla.user_id)
        assert not hasattr(invited, "status_code") or invited.status_code is None, invited
        await carla.accept_invite(room)
        await anna.until(lambda: _joined(anna, room, carla.user_id), "carla's join")
        answer = await ask_encrypted(carla, room, bot, "!heute")
        assert "Café Museum" in answer, answer
        # and anna still reads it too (the key went to every member's device)
        sent = await anna.say(room, "!orte")
        reply = await anna.until(lambda: anna.replies(room, bot.user_id, sent), "reply")
        assert encrypted(reply[0]) and "Café Museum" in body(reply[0])
        # only one device of the bot's is known to the members
        devices = {d.id for d in anna.client.device_store.active_user_devices(bot.user_id)}
        assert devices == {device}
    finally:
        await bot.stop()


def _joined(member: Member, room: str, user_id: str) -> bool:
    return any(
        e.get("type") == "m.room.member"
        and e.get("state_key") == user_id
        and (e.get("content") or {}).get("membership") == "join"
        for e in member.timeline.get(room, [])
    )


async def test_a_command_whose_room_key_arrives_late_is_handled_when_it_comes(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    users = [matrix_user(name) for name in ("bot", "anna")]
    anna = await element(matrix_client, users[1])
    bot = await start_bot(synapse, users[0], f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD)
    try:
        room = await encrypted_room(anna, [], bot)
        await setup_city(anna, room, bot)

        # anna's client sends the next message with a new room key that the bot's
        # device does not get (blacklisted for the moment) ...
        client = anna.client
        assert client.olm is not None
        bot_device = client.device_store[bot.user_id][str(bot.adapter.api.device_id)]
        client.blacklist_device(bot_device)
        client.invalidate_outbound_session(room)
        client.olm.create_outbound_group_session(room)
        session = client.olm.outbound_group_sessions[room]
        first_key = session.session_key  # exported before the first message
        command = await anna.say(room, "!heute")
        await eventually(  # the bot has seen it, cannot read it, and waits for the key
            lambda: any(not t.done() for t in bot.adapter._background), "a wait for the key"
        )
        assert not anna.replies(room, bot.user_id, command)

        # ... then the key arrives (as a late m.room_key to the bot's device)
        client.unblacklist_device(bot_device)
        olm_session = client.olm.session_store.get(bot_device.curve25519)
        assert olm_session is not None
        key_content = {
            "algorithm": "m.megolm.v1.aes-sha2",
            "room_id": room,
            "session_id": session.id,
            "session_key": first_key,
        }
        payload = client.olm._olm_encrypt(olm_session, bot_device, "m.room_key", key_content)
        message = ToDeviceMessage("m.room.encrypted", bot.user_id, bot_device.id, payload)
        sent = await client.to_device(message)
        assert not hasattr(sent, "status_code") or sent.status_code is None, sent

        replies = await anna.until(lambda: anna.replies(room, bot.user_id, command), "reply")
        assert encrypted(replies[0]) and "Heute" in body(replies[0]), body(replies[0])
        # a later command's answer: the bot handles a room's events in order and sends a
        # room's messages in order, so a second answer to the first would come before it
        marker = await anna.say(room, "!hilfe")
        await anna.until(lambda: anna.replies(room, bot.user_id, marker), "the later reply")
        assert len(anna.replies(room, bot.user_id, command)) == 1
    finally:
        await bot.stop()


def _first(events: list[dict[str, Any]], event_id: str) -> dict[str, Any] | None:
    return next((e for e in events if replied_to(e) == event_id), None)
