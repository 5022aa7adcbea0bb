"""Bridges (#16): in a Matrix room linked to a Telegram group that the bot serves
itself, what a bridge relays from Telegram is ignored (no homeserver needed: the room's
state and the city's chats are enough)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from chatbot.adapters.matrix.bridges import BridgeFilter, BridgeRules
from chatbot.adapters.matrix.mapping import text_content
from chatbot.adapters.matrix.rooms import RoomState
from chatbot.config import Settings
from chatbot.core.bot import Bot
from chatbot.core.clock import FakeClock
from chatbot.core.context import Capabilities
from chatbot.core.events import ChatRef
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import FakeAdmins, GroupChat

ROOM = "!ruhr:example.org"
BOTH = Settings(
    _env_file=None,
    telegram_token=SecretStr("123:abc"),
    matrix_homeserver="https://example.org",
    matrix_user_id="@coworkbot:example.org",
)
MATRIX_ONLY = Settings(
    _env_file=None, matrix_homeserver="https://example.org", matrix_user_id="@coworkbot:x"
)


def message(sender: str, body: str) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "event_id": "$1",
        "sender": sender,
        "content": {"msgtype": "m.text", "body": body},
    }


def bridged_room() -> RoomState:
    """A room with a mautrix-telegram m.bridge state event."""
    room = RoomState(ROOM)
    room.apply(
        {
            "type": "m.bridge",
            "state_key": "net.maunium.telegram://telegram/-1001234",
            "sender": "@telegrambot:bridge.example.org",
            "content": {
                "bridgebot": "@telegrambot:bridge.example.org",
                "protocol": {"id": "telegram", "displayname": "Telegram"},
                "channel": {"id": "-1001234"},
            },
        }
    )
    room.apply({"type": "m.room.name", "state_key": "", "content": {"name": "Coworking Ruhr"}})
    return room


async def linked_city(bot: Bot, clock: FakeClock, *, with_telegram: bool = True) -> None:
    """A city set up in the Matrix room, with the Telegram group linked (or not)."""
    bot.register("telegram", Capabilities("/"))
    bot.register("matrix", Capabilities("!"))
    mx = GroupChat(bot, clock, FakeAdmins({"Mia"}), ChatRef("matrix", ROOM))
    await mx.say("Mia", "/einrichten Duisburg")
    if with_telegram:
        tg = GroupChat(bot, clock, FakeAdmins({"Anna"}), ChatRef("telegram", "-1001234"))
        code = (await mx.reply_text("Mia", "/verbinden")).split(": ", 1)[1].split()[0]
        await tg.say("Anna", f"/verbinden {code}")
        assert await bot.repo.cities.group_for_chat(tg.chat) is not None


@pytest.mark.parametrize(
    ("sender", "body"),
    [
        ("@telegram_12345:bridge.example.org", "/heute"),  # a mautrix-telegram ghost
        ("@telegram_12345:bridge.example.org", "!heute"),
        ("@telegrambot:bridge.example.org", "!heute"),  # the bridge bot of the m.bridge
        ("@telegram_anna:bridge.example.org", "!heute"),  # a ghost named after m.bridge
        ("@relay:example.org", "[telegram] <anna> !heute"),  # matterbridge
    ],
)
async def test_relayed_messages_in_a_linked_room_are_ignored(
    bot: Bot, clock: FakeClock, sender: str, body: str
) -> None:
    await linked_city(bot, clock)
    bridges = BridgeFilter(BridgeRules.from_settings(BOTH), bot.repo.cities)
    assert await bridges.relayed(bridged_room(), message(sender, body))


async def test_people_writing_in_matrix_are_answered(bot: Bot, clock: FakeClock) -> None:
    await linked_city(bot, clock)
    bridges = BridgeFilter(BridgeRules.from_settings(BOTH), bot.repo.cities)
    for sender in ("@anna:example.org", "@telegram_fan:example.org", "@telegram_1:other.org"):
        room = bridged_room()
        relayed = await bridges.relayed(room, message(sender, "!heute"))
        # a numeric @telegram_ id is a ghost by the default pattern on any server
        assert relayed == (sender == "@telegram_1:other.org"), sender


async def test_without_a_linked_telegram_chat_the_bridge_is_the_way_in(
    bot: Bot, clock: FakeClock
) -> None:
    ghost = message("@telegram_12345:bridge.example.org", "/heute")
    await linked_city(bot, clock, with_telegram=False)
    bridges = BridgeFilter(BridgeRules.from_settings(BOTH), bot.repo.cities)
    assert not await bridges.relayed(bridged_room(), ghost)


async def test_a_bot_that_does_not_serve_telegram_answers_the_ghosts(
    bot: Bot, clock: FakeClock
) -> None:
    ghost = message("@telegram_12345:bridge.example.org", "/heute")
    await linked_city(bot, clock)
    bridges = BridgeFilter(BridgeRules.from_settings(MATRIX_ONLY), bot.repo.cities)
    assert not await bridges.relayed(bridged_room(), ghost)


async def test_the_patterns_are_settings(
    bot: Bot, clock: FakeClock, repo: SqliteRepository
) -> None:
    await linked_city(bot, clock)
    custom = BOTH.model_copy(
        update={
            "matrix_bridge_ghosts": r"^@tg_\d+:",
            "matrix_bridge_relays": "",
            "matrix_bridge_protocols": "",
        }
    )
    bridges = BridgeFilter(BridgeRules.from_settings(custom), repo.cities)
    room = bridged_room()
    assert await bridges.relayed(room, message("@tg_1:example.org", "!heute"))
    assert not await bridges.relayed(room, message("@telegram_1:example.org", "!heute"))
    assert not await bridges.relayed(room, message("@telegrambot:bridge.example.org", "x"))
    assert not await bridges.relayed(room, message("@relay:example.org", "[telegram] <a> !heute"))
    with pytest.raises(ValidationError, match="regular expression"):
        Settings(_env_file=None, matrix_bridge_ghosts="^@telegram_(")


def test_the_room_state_keeps_its_name_and_bridges() -> None:
    room = bridged_room()
    assert room.name == "Coworking Ruhr"
    assert len(room.bridges) == 1
    room.apply({"type": "m.bridge", "state_key": next(iter(room.bridges)), "content": {}})
    assert room.bridges == {}


def test_the_bots_messages_are_notices_which_bridges_do_not_forward() -> None:
    assert text_content("Neue Session 1")["msgtype"] == "m.notice"
