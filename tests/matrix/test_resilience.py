"""Failures the adapter lives through: an unreachable homeserver (backoff, prompt stop),
a revoked access token (new login on the same device), invites from outside the
allow-list (declined)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from nio import RoomCreateResponse

from chatbot.adapters.matrix import build
from chatbot.core.actions import SendText
from chatbot.core.bot import Bot
from chatbot.core.clock import SystemClock
from chatbot.core.events import ChatRef
from chatbot.storage.sqlite import SqliteRepository
from tests.matrix.conftest import USER_PASSWORD
from tests.matrix.helpers import Member, bot_settings, start_bot
from tests.support.synapse import MatrixUser, SynapseServer, free_port
from tests.support.waiting import eventually

if TYPE_CHECKING:
    from .conftest import MakeClient, MakeUser


class _Nowhere:
    """Quacks like SynapseServer for bot_settings: a port where nobody listens."""

    url = f"http://127.0.0.1:{free_port()}"


async def test_unreachable_homeserver_backs_off_and_stops_promptly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="chatbot.adapters.matrix")
    user = MatrixUser("@bot:localhost", "unused", "unused")
    settings = bot_settings(_Nowhere(), user, f"sqlite:///{tmp_path / 'bot.db'}", "pw-secret")  # type: ignore[arg-type]
    repo = await SqliteRepository.open(settings.database_url)
    try:
        adapter = build(settings, Bot(repo, SystemClock()), repo)
        stop = asyncio.Event()
        task = asyncio.create_task(adapter.run(stop))

        def attempts() -> list[float]:
            return [r.created for r in caplog.records if "Matrix login:" in r.getMessage()]

        # the back-off's timing is what is tested: a second attempt, 1 s after the first
        # (then 2 s, ...), not a busy loop
        await eventually(lambda: len(attempts()) >= 2, "a second attempt")
        first, second = attempts()[:2]
        assert second - first >= 0.9, caplog.text
        started = time.monotonic()
        stop.set()
        await asyncio.wait_for(task, timeout=2)
        assert time.monotonic() - started < 0.5
        # perform after the stop does not hang: it says at once that it did not send
        with pytest.raises(RuntimeError, match="stopped"):
            await asyncio.wait_for(
                adapter.perform(SendText(ChatRef("matrix", "!r"), "x")), timeout=1
            )
    finally:
        await repo.close()


async def test_revoked_token_logs_in_again_on_the_same_device(
    synapse: SynapseServer,
    matrix_user: MakeUser,
    matrix_client: MakeClient,
    tmp_path: Path,
) -> None:
    bot_user, anna_user = matrix_user("bot"), matrix_user("anna")
    anna = Member(await matrix_client(anna_user))
    bot = await start_bot(synapse, bot_user, f"sqlite:///{tmp_path / 'bot.db'}", USER_PASSWORD)
    try:
        created = await anna.client.room_create(invite=[bot.user_id])
        assert isinstance(created, RoomCreateResponse), created
        room = created.room_id
        await anna.notice(room, bot.user_id, "Hallo!")
        device = await bot.repo.ledger.platform_value("matrix", "device_id")
        token = await bot.repo.ledger.platform_value("matrix", "access_token")
        await bot.adapter.api.request("POST", ["logout"], body={})  # e.g. an admin revoked it
        assert "Was ich kann" in await anna.ask(room, bot.user_id, "!hilfe")
        assert await bot.repo.ledger.platform_value("matrix", "device_id") == device
        assert await bot.repo.ledger.platform_value("matrix", "access_token") != token
    finally:
        await bot.stop()


async def test_invites_outside_the_allow_list_are_declined(
    synapse: SynapseServer,
    matrix_user: MakeUser,
    matrix_client: MakeClient,
    tmp_path: Path,
) -> None:
    bot_user, anna_user, carl_user = matrix_user("bot"), matrix_user("anna"), matrix_user("carl")
    anna, carl = Member(await matrix_client(anna_user)), Member(await matrix_client(carl_user))
    db = f"sqlite:///{tmp_path / 'bot.db'}"
    bot = await start_bot(
        synapse, bot_user, db, USER_PASSWORD, matrix_allowed=f"other.org, {carl.user_id}"
    )
    try:
        refused = await anna.client.room_create(invite=[bot.user_id])
        welcome = await carl.client.room_create(invite=[bot.user_id])
        assert isinstance(refused, RoomCreateResponse) and isinstance(welcome, RoomCreateResponse)
        await carl.notice(welcome.room_id, bot.user_id, "Hallo!")

        def declined() -> bool:
            return any(
                e.get("type") == "m.room.member"
                and e.get("state_key") == bot.user_id
                and e["content"].get("membership") == "leave"
                for e in anna.timeline.get(refused.room_id, [])
            )

        await anna.until(declined, "declined invite")
    finally:
        await bot.stop()
