"""SIGTERM stops `chatbot run` within 20 s whatever state it is in (a group waiting on
Telegram's flood limit, a Matrix homeserver that is down), exit status 0, and nothing is
lost: what was decided and not delivered goes out after the next start, once."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

from tests.fakes.telegram_api import ThreadedFakeTelegramServer
from tests.support.waiting import eventually
from tests.telegram.conftest import BEN, GROUP
from tests.telegram.test_pings import prepare, start_bot

ASKED = 5


def pending(db_path: Path) -> int:
    with sqlite3.connect(db_path) as db:
        return int(db.execute("SELECT count(*) FROM pending_actions").fetchone()[0])


async def test_sigterm_in_every_state_stops_in_time_and_loses_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "bot.db"
    await prepare(f"sqlite:///{db_path}")
    with ThreadedFakeTelegramServer() as server:
        server.add_chat(GROUP, "supergroup", title="Coworking Duisburg")
        telegram = {
            "CHATBOT_DATABASE_URL": f"sqlite:///{db_path}",
            "CHATBOT_TELEGRAM_TOKEN": server.token,
            "CHATBOT_TELEGRAM_API_URL": server.base_url,
            "CHATBOT_TELEGRAM_POLL_TIMEOUT": "1",
        }
        # Matrix is configured, and its homeserver is down (nothing listens there)
        matrix_down = {
            "CHATBOT_MATRIX_HOMESERVER": "http://127.0.0.1:9",
            "CHATBOT_MATRIX_USER_ID": "@bot:localhost",
            "CHATBOT_MATRIX_PASSWORD": "not-used",
        }
        asked = []

        def answers() -> list[int]:
            return [
                int((c.params.get("reply_parameters") or {}).get("message_id", 0))
                for c in server.calls_to("sendMessage")
                if c.ok and c.chat_id == GROUP
            ]

        # the group is over its flood limit: its first answer meets a 429 of 50 s
        server.fail_next("sendMessage", error_code=429, retry_after=50, chat_id=GROUP)
        bot = start_bot(tmp_path, {**telegram, **matrix_down})
        try:
            for _ in range(ASKED):
                update = server.message_update(GROUP, BEN, "/hilfe")
                asked.append(update["message"]["message_id"])
                server.push_update(update)
            await eventually(
                lambda: any(c.status == 429 for c in server.calls_to("sendMessage")), "a 429"
            )
            await eventually(lambda: pending(db_path) == ASKED, "the answers recorded")
            started = time.monotonic()
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(timeout=20) == 0
            took = time.monotonic() - started
        finally:
            if bot.poll() is None:
                bot.kill()
        print(f"stopped in {took:.1f} s")
        assert answers() == []  # the group was still waiting on its limit
        assert pending(db_path) == ASKED  # recorded, for the next start

        # the next start (Telegram only, the limit is over): every answer, once
        bot = start_bot(tmp_path, telegram)
        try:
            await eventually(lambda: len(answers()) >= ASKED, "the answers after the restart")
            await eventually(lambda: pending(db_path) == 0, "the queue emptied")
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(timeout=20) == 0
        finally:
            if bot.poll() is None:
                bot.kill()
        assert sorted(answers()) == sorted(asked)  # each /hilfe answered exactly once
