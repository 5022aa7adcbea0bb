"""Talent and projects in a Matrix room against a real Synapse: a profile, !wer finding
it by a word part with the member's Matrix id, and a project's direct message through
the outbox into a direct room, where its command offers help."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot.adapters.matrix.rooms import localpart
from chatbot.core.clock import FakeClock
from chatbot.delivery import OutboxSender
from tests.kit import berlin
from tests.matrix.conftest import USER_PASSWORD
from tests.matrix.helpers import Member, body, start_bot
from tests.matrix.test_pings import group_room
from tests.support.synapse import SynapseServer

if TYPE_CHECKING:
    from .conftest import MakeClient, MakeUser


async def test_profile_who_and_a_projects_direct_message(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    users = [matrix_user(name) for name in ("bot", "anna", "ben")]
    anna, ben = [Member(await matrix_client(u)) for u in users[1:]]
    bot = await start_bot(
        synapse,
        users[0],
        f"sqlite:///{tmp_path / 'bot.db'}",
        USER_PASSWORD,
        clock=FakeClock(berlin("2026-11-30 09:00")),
    )
    stop = asyncio.Event()
    sender = asyncio.create_task(OutboxSender(bot.bot, bot.adapter).run(stop))
    try:
        room = await group_room(anna, [ben], bot)
        profile = await ben.ask(room, bot.user_id, "!profil Videoschnitt, Fotografie")
        assert "Videoschnitt, Fotografie" in profile, profile
        found = await anna.ask(room, bot.user_id, "!wer video")
        assert f"1. {localpart(ben.user_id)} ({ben.user_id}) – Videoschnitt" in found, found

        await anna.say(room, "!projekt neu Bäckerei | Fotografie | Ladenfotos")
        direct = await ben.accept_invite()
        assert direct != room
        dm = body(await ben.notice(direct, bot.user_id, "Bäckerei"))
        command = dm.splitlines()[-1]
        assert command.startswith("→ !projekt mit p"), dm
        offered = await ben.ask(direct, bot.user_id, command.removeprefix("→ "))
        assert localpart(anna.user_id) in offered, offered
    finally:
        stop.set()
        await sender
        await bot.stop()
