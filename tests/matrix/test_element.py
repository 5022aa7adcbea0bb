"""Messages as Element sends them, in an encrypted room (members are nio clients with
encryption on): a command after a mention pill, a reply with its fallback quote, an
edit that fixes a rejected command (acted on once), a command in a thread; a poll
ended with Element's "End poll"; the bot kicked from a direct room by its person."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from nio import RoomCreateResponse, RoomPreset

from chatbot.adapters.base import Unreachable
from chatbot.adapters.matrix.rooms import localpart
from chatbot.core.actions import DirectMessage
from chatbot.core.clock import FakeClock
from chatbot.core.events import PersonRef
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
    start_bot,
)
from tests.matrix.test_encryption import ENCRYPTION, element, encrypted_room, setup_city
from tests.support.synapse import SynapseServer
from tests.support.waiting import eventually

if TYPE_CHECKING:
    from .conftest import MakeClient, MakeUser


def pill(bot: RunningBot, name: str, command: str) -> dict[str, Any]:
    """A command after a mention pill, as Element Web composes it."""
    link = f'<a href="https://matrix.to/#/{bot.user_id}">{name}</a>'
    return {
        "msgtype": "m.text",
        "body": f"{name}: {command}",
        "format": "org.matrix.custom.html",
        "formatted_body": f"{link}: {command}",
        "m.mentions": {"user_ids": [bot.user_id]},
    }


def edit_of(event_id: str, text: str) -> dict[str, Any]:
    """An edit as Element sends it: "* " + new text, m.new_content, m.replace."""
    return {
        "msgtype": "m.text",
        "body": "* " + text,
        "m.new_content": {"msgtype": "m.text", "body": text, "m.mentions": {}},
        "m.mentions": {},
        "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
    }


async def reply_of(member: Member, room: str, bot: RunningBot, event_id: str) -> dict[str, Any]:
    replies = await member.until(lambda: member.replies(room, bot.user_id, event_id), "reply")
    assert encrypted(replies[0]), replies[0]
    found: dict[str, Any] = replies[0]
    return found


async def test_mentions_replies_edits_and_threads_as_element_sends_them(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    users = [matrix_user(name) for name in ("bot", "anna")]
    anna = await element(matrix_client, users[1])
    clock = FakeClock(berlin("2026-11-30 08:30"))
    bot = await start_bot(
        synapse, users[0], f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD, clock=clock
    )
    try:
        room = await encrypted_room(anna, [], bot)
        await setup_city(anna, room, bot)
        name = localpart(bot.user_id)  # Synapse's default display name

        # a command after a mention pill
        mentioned = await anna.send(room, pill(bot, name, "!heute"))
        today = await reply_of(anna, room, bot, mentioned)
        assert "Heute" in body(today), body(today)

        # a reply to the bot's message, with the fallback quote older Elements add
        quote = f"> <{bot.user_id}> {body(today).splitlines()[0]}\n\n!orte"
        replying = await anna.send(
            room,
            {
                "msgtype": "m.text",
                "body": quote,
                "m.relates_to": {"m.in_reply_to": {"event_id": today["event_id"]}},
            },
        )
        venues = await reply_of(anna, room, bot, replying)
        assert "Café Museum" in body(venues), body(venues)

        # a rejected command, fixed by an edit: acted on once
        wrong = await anna.say(room, "!neu 25-26 Café Museum")
        rejected = await reply_of(anna, room, bot, wrong)
        assert "Beispiel" in body(rejected), body(rejected)
        await anna.send(room, edit_of(wrong, "!neu 10-14 Café Museum"))
        opened = await anna.notice(room, bot.user_id, "Neue Session")
        assert encrypted(opened) and "Café Museum" in body(opened), body(opened)
        # a second edit, and an edit of a command that worked: nothing
        await anna.send(room, edit_of(wrong, "!neu 15-17 Kö Lounge"))
        await anna.send(room, edit_of(mentioned, "!orte"))
        # a later command's answer: the bot handles a room's events in order and sends a
        # room's messages in order, so whatever the edits caused came before it
        marker = await anna.say(room, "!hilfe")
        await reply_of(anna, room, bot, marker)
        sessions = [e for e in anna.from_user(room, bot.user_id) if "Neue Session" in body(e)]
        assert len(sessions) == 1, [body(e) for e in sessions]
        assert len(anna.replies(room, bot.user_id, mentioned)) == 1

        # a command in a thread: the answer stays in the thread
        root = await anna.say(room, "Wer kommt morgen?")
        in_thread = await anna.send(
            room,
            {
                "msgtype": "m.text",
                "body": "!heute",
                "m.relates_to": {
                    "rel_type": "m.thread",
                    "event_id": root,
                    "is_falling_back": True,
                    "m.in_reply_to": {"event_id": root},
                },
            },
        )
        threaded = await reply_of(anna, room, bot, in_thread)
        relates = threaded["content"]["m.relates_to"]
        assert relates["rel_type"] == "m.thread" and relates["event_id"] == root, relates
    finally:
        await bot.stop()


async def test_a_poll_ended_in_element_by_a_moderator_closes_it(
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
        await ben.say(room, "!umfrage")
        start = await anna.event_of_type(room, bot.user_id, POLL_START)
        await ben.send(room, poll_response(start["event_id"], ["3"]), POLL_RESPONSE)
        # anna (the room's creator, a moderator) uses Element's "End poll"
        ended = {
            "m.relates_to": {"rel_type": "m.reference", "event_id": start["event_id"]},
            POLL_END: {},
            "org.matrix.msc1767.text": "Ended poll",
            "body": "Ended poll",
        }
        await anna.send(room, ended, POLL_END)
        closed = await ben.notice(room, bot.user_id, "Die Umfrage ist geschlossen:")
        assert "Finkenkrug gewinnt mit 1 Stimme" in body(closed), body(closed)
        assert encrypted(closed)
    finally:
        await bot.stop()


async def test_kicked_from_a_direct_room_by_its_person_means_no_more_direct_messages(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    users = [matrix_user(name) for name in ("bot", "ben")]
    ben = await element(matrix_client, users[1])
    bot = await start_bot(synapse, users[0], f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD)
    person = PersonRef("matrix", ben.user_id)
    try:
        direct = await direct_room(ben, bot)
        await bot.adapter.perform(DirectMessage(person, "Erste"))
        await ben.notice(direct, bot.user_id, "Erste")

        kicked = await ben.client.room_kick(direct, bot.user_id)
        assert type(kicked).__name__ == "RoomKickResponse", kicked
        await eventually(lambda: direct not in bot.adapter.rooms, "the direct room gone")
        with pytest.raises(Unreachable):  # no new room behind ben's back
            await bot.adapter.perform(DirectMessage(person, "Zweite"))
        await ben.sync_once(0)
        assert not ben.invites

        # ben opens a direct chat again: messages are welcome again
        again = await direct_room(ben, bot)
        await bot.adapter.perform(DirectMessage(person, "Dritte"))
        third = await ben.notice(again, bot.user_id, "Dritte")
        assert encrypted(third)
    finally:
        await bot.stop()


async def direct_room(member: Member, bot: RunningBot) -> str:
    """An encrypted direct chat with the bot, opened by the member (a private chat:
    the bot gets no power, so the member may kick it)."""
    created = await member.client.room_create(
        is_direct=True,
        invite=[bot.user_id],
        preset=RoomPreset.private_chat,
        initial_state=[ENCRYPTION],
    )
    assert isinstance(created, RoomCreateResponse), created
    await member.notice(created.room_id, bot.user_id, "Hallo!")
    return str(created.room_id)
