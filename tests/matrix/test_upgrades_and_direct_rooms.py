"""Rooms' lives on a real Synapse: a room upgrade moves the city group only into the
room that continues it (joined, its m.room.create naming the old room), otherwise the
bot asks for an invite and the group stays; a direct room the bot opens is recorded
in m.direct before its invite (with ``is_direct``, as Element reads it) goes out, and
an invite the homeserver refuses leaves no room behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from nio import RoomCreateResponse, RoomInviteResponse, RoomPreset, RoomPutStateResponse

from chatbot.adapters.base import Unreachable
from chatbot.core.actions import DirectMessage
from chatbot.core.events import PersonRef
from tests.matrix.conftest import USER_PASSWORD
from tests.matrix.helpers import Member, RunningBot, body, eventually, start_bot
from tests.support.synapse import SynapseServer

if TYPE_CHECKING:
    from .conftest import MakeClient, MakeUser

SETUP = "!einrichten Duisburg | Europe/Berlin | de"
ASKED = "Bitte lade mich in den neuen Raum ein"


@pytest.fixture
async def city(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> AsyncIterator[tuple[Member, RunningBot, str]]:
    """anna, the bot, and the city's room (anna's, set up as Duisburg)."""
    bot_user, anna_user = matrix_user("bot"), matrix_user("anna")
    anna = Member(await matrix_client(anna_user))
    bot = await start_bot(synapse, bot_user, f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD)
    try:
        created = await anna.client.room_create(name="Coworking Duisburg", invite=[bot.user_id])
        assert isinstance(created, RoomCreateResponse), created
        room = created.room_id
        await anna.notice(room, bot.user_id, "Hallo!")
        assert "Stadtgruppe Duisburg" in await anna.ask(room, bot.user_id, SETUP)
        yield anna, bot, room
    finally:
        await bot.stop()


async def still_there(anna: Member, bot: RunningBot, room: str) -> None:
    """The city group is still in this room."""
    assert await bot.repo.ledger.platform_value("matrix", f"left:{room}") in (None, "")
    assert (await anna.ask(room, bot.user_id, "!heute")).startswith("Heute in Duisburg")


async def test_an_upgrade_moves_the_city_only_once_the_bot_is_in_the_new_room(
    city: tuple[Member, RunningBot, str],
) -> None:
    anna, bot, old = city
    upgraded = await anna.client.room_upgrade(old, "12")
    assert isinstance(upgraded, RoomCreateResponse), upgraded
    new = upgraded.room_id

    # the new room is invite-only, like the old one: the bot cannot join it yet,
    # so the city stays and the bot asks in the old room, naming the new one
    asked = await anna.notice(old, bot.user_id, ASKED)
    assert f"https://matrix.to/#/{new}" in body(asked)
    await still_there(anna, bot, old)

    # anna invites the bot (as Element offers to): it joins, the new room's
    # m.room.create names the old one, and the city group moves there
    invited = await anna.client.room_invite(new, bot.user_id)
    assert isinstance(invited, RoomInviteResponse), invited

    async def moved() -> bool:
        return await bot.repo.ledger.platform_value("matrix", f"left:{old}") == "tombstone"

    await eventually(moved)
    today = await anna.ask(new, bot.user_id, "!heute")
    assert today.startswith("Heute in Duisburg"), today
    assert not any("Hallo!" in body(e) for e in anna.from_user(new, bot.user_id))


async def test_a_tombstone_to_a_room_that_does_not_continue_this_one_is_not_followed(
    city: tuple[Member, RunningBot, str],
) -> None:
    anna, bot, old = city
    # a public room the bot can join, which is no upgrade of the city's room
    other = await anna.client.room_create(name="Elsewhere", preset=RoomPreset.public_chat)
    assert isinstance(other, RoomCreateResponse), other
    tombstone = {"body": "This room has moved", "replacement_room": other.room_id}
    sent = await anna.client.room_put_state(old, "m.room.tombstone", tombstone)
    assert isinstance(sent, RoomPutStateResponse), sent

    # the bot joins, finds no predecessor, leaves again; the city stays
    asked = await anna.notice(old, bot.user_id, ASKED)
    assert f"https://matrix.to/#/{other.room_id}" in body(asked)
    assert other.room_id not in await bot.adapter.api.joined_rooms()
    await still_there(anna, bot, old)


async def test_a_direct_room_is_recorded_before_its_invite_goes_out(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    bot_user, anna_user = matrix_user("bot"), matrix_user("anna")
    anna = Member(await matrix_client(anna_user))
    bot = await start_bot(synapse, bot_user, f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD)
    api = bot.adapter.api
    recorded_at_invite: list[Any] = []
    invite = api.invite

    async def watched(room_id: str, user_id: str, *, is_direct: bool = False) -> None:
        recorded_at_invite.append((room_id, await api.account_data("m.direct")))
        await invite(room_id, user_id, is_direct=is_direct)

    api.invite = watched  # type: ignore[method-assign]
    try:
        await bot.adapter.perform(DirectMessage(PersonRef("matrix", anna.user_id), "Erste"))
        dm = await anna.accept_invite()
        assert recorded_at_invite == [(dm, {anna.user_id: [dm]})]
        # the invite says "direct chat", which Element reads from the member event
        invite_event = await anna.client.room_get_state_event(dm, "m.room.member", anna.user_id)
        joined = getattr(invite_event, "content", {})
        assert joined.get("membership") == "join"
        assert await invite_flag(synapse, anna, dm) is True
        await anna.notice(dm, bot.user_id, "Erste")
    finally:
        await bot.stop()


async def test_a_refused_invite_leaves_no_room_behind(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    bot_user, ben_user = matrix_user("bot"), matrix_user("ben")
    ben = Member(await matrix_client(ben_user))
    # ben's client blocks every invite (MSC4380's invite permission setting)
    synapse._request(
        "PUT",
        f"/_matrix/client/v3/user/{quote(ben.user_id)}/account_data/m.invite_permission_config",
        {"default_action": "block"},
        token=ben_user.access_token,
    )
    bot = await start_bot(synapse, bot_user, f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD)
    try:
        before = set(await bot.adapter.api.joined_rooms())
        with pytest.raises(Unreachable):
            await bot.adapter.perform(DirectMessage(PersonRef("matrix", ben.user_id), "Hallo"))
        assert set(await bot.adapter.api.joined_rooms()) == before
        assert ben.user_id not in (await bot.adapter.api.account_data("m.direct") or {})
        assert ben.user_id not in bot.adapter.direct
        await ben.sync_once(0)
        assert not ben.invites
    finally:
        await bot.stop()


# --- helpers ----------------------------------------------------------------------------


async def invite_flag(server: SynapseServer, member: Member, room_id: str) -> Any:
    """``is_direct`` of the invite the member got (the member event before the join)."""
    path = f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit=50"
    token = str(member.client.access_token)
    chunk = server._request("GET", path, token=token)["chunk"]
    for event in chunk:
        content = event.get("content", {})
        if event["type"] == "m.room.member" and content.get("membership") == "invite":
            return content.get("is_direct")
    return None
