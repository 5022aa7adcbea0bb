"""`chatbot run` as a real process serving Telegram (the fake Bot API server) and Matrix
(the Synapse fixture) together, over one core and one database; SIGTERM in the middle of
traffic loses nothing and handles nothing twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nio import RoomCreateResponse, RoomInviteResponse

from tests.fakes.telegram_api import ThreadedFakeTelegramServer
from tests.matrix.conftest import USER_PASSWORD
from tests.matrix.helpers import Member
from tests.support.synapse import SynapseServer
from tests.support.waiting import eventually, undelivered

if TYPE_CHECKING:
    from .conftest import MakeClient, MakeUser

GROUP = -1002000000001
ADMIN = 7001


def start(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chatbot", "run"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env},
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "bot.log", "a"),  # noqa: SIM115 - the process owns it
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=15)


async def test_one_process_for_both_platforms_and_a_clean_sigterm(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    bot_user, anna_user = matrix_user("runbot"), matrix_user("anna")
    anna = Member(await matrix_client(anna_user))
    created = await anna.client.room_create(name="Coworking Essen")
    assert isinstance(created, RoomCreateResponse), created
    room = created.room_id
    with ThreadedFakeTelegramServer() as telegram:
        telegram.add_chat(GROUP, "supergroup", title="Coworking Duisburg")
        telegram.set_member(GROUP, ADMIN, "administrator")
        env = {
            "CHATBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
            "CHATBOT_TELEGRAM_TOKEN": telegram.token,
            "CHATBOT_TELEGRAM_API_URL": telegram.base_url,
            "CHATBOT_TELEGRAM_POLL_TIMEOUT": "1",
            "CHATBOT_MATRIX_HOMESERVER": synapse.url,
            "CHATBOT_MATRIX_USER_ID": bot_user.user_id,
            "CHATBOT_MATRIX_PASSWORD": USER_PASSWORD,
            "CHATBOT_LOG_FORMAT": "json",
            "CHATBOT_LOG_LEVEL": "DEBUG",
        }
        process = start(tmp_path, env)
        try:
            # Telegram
            telegram.push_update(
                telegram.message_update(GROUP, ADMIN, "/einrichten Duisburg | Europe/Berlin | de")
            )
            await eventually(
                lambda: any("Stadtgruppe" in t for t in telegram.sent_texts(GROUP)), "setup"
            )
            # Matrix, in the same process
            invited = await anna.client.room_invite(room, bot_user.user_id)
            assert isinstance(invited, RoomInviteResponse), invited
            await anna.notice(room, bot_user.user_id, "Hallo!")
            await anna.say(room, "!einrichten Essen | Europe/Berlin | de")
            await anna.notice(room, bot_user.user_id, "Stadtgruppe Essen")

            # SIGTERM in the middle of a burst of commands
            for _ in range(12):
                telegram.push_update(telegram.message_update(GROUP, ADMIN, "/heute"))
            await eventually(
                lambda: any("Heute in" in t for t in telegram.sent_texts(GROUP)), "a first answer"
            )
            assert stop(process) == 0
            answered_before = sum("Heute in" in t for t in telegram.sent_texts(GROUP))
        finally:
            if process.poll() is None:
                process.kill()
        # a new process answers what was left, and nothing twice
        process = start(tmp_path, env)
        try:
            await eventually(
                lambda: sum("Heute in" in t for t in telegram.sent_texts(GROUP)) >= 12,
                "the remaining answers",
            )
            # all it will send about them is sent: every update handled and confirmed,
            # nothing decided waits; a duplicate would be among the texts now
            await eventually(
                lambda: not telegram.pending_updates and undelivered(tmp_path / "bot.db") == 0,
                "a settled bot",
            )
            assert sum("Heute in" in t for t in telegram.sent_texts(GROUP)) == 12
            await anna.say(room, "!heute")
            await anna.notice(room, bot_user.user_id, "Heute in Essen")
            assert stop(process) == 0
        finally:
            if process.poll() is None:
                process.kill()
        print(f"answered before SIGTERM: {answered_before} of 12")
        assert answered_before <= 12
        log = (tmp_path / "bot.log").read_text(encoding="utf-8")
        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        assert any(line.get("platform") == "telegram" for line in lines)
        assert any(line.get("platform") == "matrix" for line in lines)
        assert telegram.token not in log and USER_PASSWORD not in log
