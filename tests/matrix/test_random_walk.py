"""A random walk through a Matrix room's life, against the real Synapse: commands with
`!` and `/`, locations and pins, votes on the bot's polls, and what real clients and
careless ones send too (emotes, notices, formatted bodies, events with a missing or
non-string body, broken geo URIs, junk poll responses, reactions). Whatever comes,
the bot keeps running, logs no error, and answers the last command."""

from __future__ import annotations

import logging
import random
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from tests.matrix.conftest import USER_PASSWORD
from tests.matrix.helpers import (
    POLL_START,
    Member,
    element_location,
    element_pin,
    poll_response,
    start_bot,
)
from tests.matrix.test_polls import city_room
from tests.support.synapse import SynapseServer

if TYPE_CHECKING:
    from .conftest import MakeClient, MakeUser

COMMANDS = [
    "!heute", "/heute", "!today", "!neu 10-14 Café Museum", "!neu Kö Lounge - Thema",
    "!neu 25:99 Café Museum", "!dabei", "!dabei 1", "!absagen", "!streichen 1", "!umfrage",
    "!stimme 1", "!schliessen", "!abo", "!abbestellen", "!orte", "!naehe", "!hilfe",
    "!einstellungen", "!ort add Kaputt | 95, 6.7", "!unbekannt", "! ", "!", "hallo",
]  # fmt: skip
ODD_CONTENT: list[dict[str, Any]] = [
    {"msgtype": "m.emote", "body": "arbeitet heute im Café"},
    {"msgtype": "m.notice", "body": "!heute"},
    {"msgtype": "m.text", "body": "!heute", "format": "org.matrix.custom.html",
     "formatted_body": "<b>!heute</b>"},
    {"msgtype": "m.text"},
    {"msgtype": "m.text", "body": 42},
    {"body": "!heute"},
    {"msgtype": "m.location", "body": "kaputt", "geo_uri": "geo:abc,def"},
    {"msgtype": "m.location", "body": "weit weg", "geo_uri": "geo:95.0,200.0"},
    {"msgtype": "m.location", "body": "ohne uri"},
    {"msgtype": "m.image", "body": "bild.png", "url": "mxc://example.org/abc"},
]  # fmt: skip


async def raw_send(
    member: Member, room: str, content: dict[str, Any], kind: str = "m.room.message"
) -> None:
    """Send as a careless client would: straight to the homeserver, no checks by nio.
    (Synapse itself refuses some shapes; those never reach a bot.)"""
    client = member.client
    url = f"{client.homeserver}/_matrix/client/v3/rooms/{room}/send/{kind}/walk-{uuid.uuid4().hex}"
    headers = {"Authorization": f"Bearer {client.access_token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.put(url, json=content, headers=headers) as response,
    ):
        assert response.status in (200, 400)  # 400: Synapse refused it (shape, duplicate)


@pytest.mark.parametrize("seed", [0])
async def test_a_random_walk_through_a_matrix_room(
    seed: int,
    synapse: SynapseServer,
    matrix_user: MakeUser,
    matrix_client: MakeClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    walk = random.Random(seed)
    users = [matrix_user(name) for name in ("bot", "anna", "ben")]
    anna, ben = [Member(await matrix_client(u)) for u in users[1:]]
    bot = await start_bot(synapse, users[0], f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD)
    try:
        room = await city_room(anna, [ben], bot)
        for _ in range(100):
            who = walk.choice([anna, ben])
            roll = walk.random()
            if roll < 0.15:
                await raw_send(who, room, walk.choice(ODD_CONTENT))
            elif roll < 0.25:
                lat, lon = 51.43 + walk.random() / 100, 6.76 + walk.random() / 100
                located = walk.choice([element_location(lat, lon, 20), element_pin(lat, lon)])
                await who.send(room, located)
            elif roll < 0.35:
                await who.sync_once(timeout_ms=0)
                starts = [
                    e for e in who.from_user(room, bot.user_id) if e.get("type") == POLL_START
                ]
                if starts:
                    start = walk.choice(starts)
                    answers = [a["id"] for a in start["content"][POLL_START]["answers"]]
                    junk = walk.random() < 0.3
                    chosen = ["no-such-answer"] if junk else [walk.choice(answers)]
                    content = poll_response(start["event_id"], chosen)
                    await who.send(room, content, "org.matrix.msc3381.poll.response")
            elif roll < 0.4:
                await who.sync_once(timeout_ms=0)
                mine = who.from_user(room, bot.user_id)
                if mine:
                    reaction = {
                        "m.relates_to": {
                            "rel_type": "m.annotation",
                            "event_id": walk.choice(mine)["event_id"],
                            "key": "👍",
                        }
                    }
                    await raw_send(who, room, reaction, "m.reaction")
            else:
                await who.say(room, walk.choice(COMMANDS))
        answer = await anna.ask(room, bot.user_id, "!hilfe")
        assert "Was ich kann" in answer
        assert not bot.task.done()
        await anna.sync_once(timeout_ms=0)
        assert len(anna.from_user(room, bot.user_id)) > 20
    finally:
        await bot.stop()
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == []
