"""The Synapse fixture works end to end with matrix-nio.

Two fresh users: A creates a room and invites B, B sees the invite and joins, A sends
a text and an Element-style location message, B receives both, and the room's power
levels are what the bot will rely on. A second, throttled homeserver proves that
``message_rate`` provokes M_LIMIT_EXCEEDED.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from nio import (
    AsyncClient,
    JoinResponse,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomGetStateResponse,
    RoomInviteResponse,
    RoomMessageText,
    RoomMessageUnknown,
    RoomSendError,
    RoomSendResponse,
    SyncResponse,
)

from tests.support.synapse import SynapseServer

if TYPE_CHECKING:
    from .conftest import MakeClient, MakeUser

SYNC_DEADLINE = 15.0  # seconds


def element_location_content(lat: float, lon: float, accuracy: int, ts: int) -> dict[str, Any]:
    """A "share my location" event content the way Element Web builds it.

    Mirrors matrix-js-sdk's ``makeLocationContent`` (legacy ``geo_uri`` plus the
    unstable MSC3488 / MSC1767 extensible-event keys) with asset type ``m.self``.
    """
    uri = f"geo:{lat},{lon};u={accuracy}"
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts / 1000)) + f".{ts % 1000:03d}Z"
    text = f"User Location {uri} at {iso}"
    return {
        "msgtype": "m.location",
        "body": text,
        "geo_uri": uri,
        "org.matrix.msc3488.location": {"uri": uri, "description": None},
        "org.matrix.msc3488.asset": {"type": "m.self"},
        "org.matrix.msc1767.text": text,
        "org.matrix.msc3488.ts": ts,
    }


async def sync_until(client: AsyncClient, done: Callable[[SyncResponse], bool]) -> None:
    """Sync repeatedly until ``done(sync_response)`` is true (fails after a deadline)."""
    deadline = time.monotonic() + SYNC_DEADLINE
    while time.monotonic() < deadline:
        response = await client.sync(timeout=2000)
        assert isinstance(response, SyncResponse), response
        if done(response):
            return
    pytest.fail(f"{client.user_id}: condition not met by sync within {SYNC_DEADLINE} s")


async def test_two_users_talk_in_a_room(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient
) -> None:
    alice, bob = matrix_user("alice"), matrix_user("bob")
    assert alice.user_id.endswith(":" + synapse.server_name)
    client_a, client_b = await matrix_client(alice), await matrix_client(bob)

    created = await client_a.room_create(name="Coworking Duisburg")
    assert isinstance(created, RoomCreateResponse), created
    room_id = created.room_id
    invited = await client_a.room_invite(room_id, bob.user_id)
    assert isinstance(invited, RoomInviteResponse), invited

    await sync_until(client_b, lambda r: room_id in r.rooms.invite)
    joined = await client_b.join(room_id)
    assert isinstance(joined, JoinResponse), joined

    text = {"msgtype": "m.text", "body": "Hallo, wer ist heute im Café?"}
    sent_text = await client_a.room_send(room_id, "m.room.message", text)
    assert isinstance(sent_text, RoomSendResponse), sent_text
    location = element_location_content(51.4344, 6.7623, 35, int(time.time() * 1000))
    sent_location = await client_a.room_send(room_id, "m.room.message", location)
    assert isinstance(sent_location, RoomSendResponse), sent_location

    received: dict[str, Any] = {}

    def got_both(response: SyncResponse) -> bool:
        room = response.rooms.join.get(room_id)
        for event in room.timeline.events if room else ():
            received[event.event_id] = event
        return {sent_text.event_id, sent_location.event_id} <= received.keys()

    await sync_until(client_b, got_both)

    text_event = received[sent_text.event_id]
    assert isinstance(text_event, RoomMessageText)
    assert text_event.sender == alice.user_id
    assert text_event.body == text["body"]

    # nio has no class for m.location: it arrives as RoomMessageUnknown, content intact.
    location_event = received[sent_location.event_id]
    assert isinstance(location_event, RoomMessageUnknown)
    assert location_event.msgtype == "m.location"
    assert location_event.content == location
    assert location_event.source["content"]["org.matrix.msc3488.location"]["uri"] == (
        "geo:51.4344,6.7623;u=35"
    )


@pytest.mark.parametrize("room_version", [None, "11"], ids=["server-default", "v11"])
async def test_power_levels(
    room_version: str | None, matrix_user: MakeUser, matrix_client: MakeClient
) -> None:
    """Creator and invitee power levels, from the server and from nio's room model.

    Synapse >= 1.135 creates room version 12 by default. There the room creators
    (sender of m.room.create plus its ``additional_creators``) have unlimited power
    and are NOT listed in m.room.power_levels ``users``; room ids have no server
    part. nio 0.26 does not know this and reports the creator at ``users_default``.
    """
    alice, bob = matrix_user("alice"), matrix_user("bob")
    client_a = await matrix_client(alice)
    kwargs = {"room_version": room_version} if room_version else {}
    created = await client_a.room_create(invite=[bob.user_id], **kwargs)
    assert isinstance(created, RoomCreateResponse), created
    room_id = created.room_id

    create = await client_a.room_get_state_event(room_id, "m.room.create")
    assert isinstance(create, RoomGetStateEventResponse), create
    state = await client_a.room_get_state_event(room_id, "m.room.power_levels")
    assert isinstance(state, RoomGetStateEventResponse), state
    levels = state.content
    users_default = levels.get("users_default", 0)
    assert levels["users"].get(bob.user_id, users_default) == 0
    assert levels["state_default"] == 50

    await sync_until(client_a, lambda r: room_id in r.rooms.join)
    nio_levels = client_a.rooms[room_id].power_levels
    assert nio_levels.get_user_level(bob.user_id) == 0

    if room_version == "11":
        assert create.content["room_version"] == "11"
        assert levels["users"][alice.user_id] == 100
        assert nio_levels.get_user_level(alice.user_id) == 100
    else:
        assert create.content["room_version"] == "12"
        assert ":" not in room_id  # v12 room ids are "!<hash>", no ":server"
        assert alice.user_id not in levels["users"]  # creator: implicit, unlimited
        full_state = await client_a.room_get_state(room_id)
        assert isinstance(full_state, RoomGetStateResponse), full_state
        [create_event] = [e for e in full_state.events if e["type"] == "m.room.create"]
        assert create_event["sender"] == alice.user_id
        # nio pitfall: the creator looks like an ordinary member.
        assert nio_levels.get_user_level(alice.user_id) == users_default


async def test_users_are_unique_per_call(matrix_user: MakeUser) -> None:
    first, second = matrix_user("same"), matrix_user("same")
    assert first.user_id != second.user_id


async def test_low_message_rate_gives_limit_exceeded(throttled_synapse: SynapseServer) -> None:
    sender = throttled_synapse.register(f"sender-{uuid.uuid4().hex[:10]}", "pw")
    client = await throttled_synapse.new_client(*sender)
    try:
        created = await client.room_create()  # also counts against rc_message
        assert isinstance(created, RoomCreateResponse), created
        # Burst 3: the room creation plus two messages pass, the third is refused
        # (Synapse holds each refused request ~0.5 s before answering 429).
        responses = []
        for n in range(3):
            content = {"msgtype": "m.text", "body": f"message {n}"}
            responses.append(await client.room_send(created.room_id, "m.room.message", content))
        assert [type(r) for r in responses] == [RoomSendResponse, RoomSendResponse, RoomSendError]
        refused = responses[-1]
        assert isinstance(refused, RoomSendError)
        assert refused.status_code == "M_LIMIT_EXCEEDED"
        assert refused.retry_after_ms is not None and refused.retry_after_ms > 0

        # An exempted user is not limited any more.
        throttled_synapse.exempt_from_ratelimits(sender.user_id)
        content = {"msgtype": "m.text", "body": "unthrottled"}
        sent = await client.room_send(created.room_id, "m.room.message", content)
        assert isinstance(sent, RoomSendResponse), sent
    finally:
        await client.close()
