"""No log record ever contains the bot token, whatever logs it (the transport's request
URLs, PTB's InvalidToken text, tracebacks), at DEBUG for every logger."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from chatbot.adapters.telegram import build
from chatbot.core.bot import Bot
from chatbot.redact import protect, redact
from chatbot.storage.sqlite import SqliteRepository
from tests.fakes.telegram_api import FakeTelegramServer
from tests.telegram.conftest import BEN, GROUP, TelegramWorld

NOISY = ("httpx", "httpcore", "telegram", "aiohttp", "chatbot", "asyncio")


def _all_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in NOISY:
        caplog.set_level(logging.DEBUG, logger=name)


def _leaks(caplog: pytest.LogCaptureFixture, secret: str) -> list[str]:
    found = []
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "") + str(record.stack_info or "")
        if secret in text:
            found.append(text[:200])
    if secret in caplog.text:
        found.append("caplog.text")
    return found


async def test_no_token_in_any_log_record(
    tg: TelegramWorld, caplog: pytest.LogCaptureFixture
) -> None:
    _all_debug(caplog)
    await tg.start()
    await tg.setup_group()
    tg.server.fail_next("sendMessage", error_code=502, times=1)
    tg.server.fail_next("getChatMember", error_code=400, description="Bad Request: user not found")
    await tg.ask(GROUP, BEN, "/ort add X | 1, 2", "nur die Admins")
    await tg.stop()
    requests = [r.getMessage() for r in caplog.records if r.name.endswith("telegram.transport")]
    assert any("/bot<redacted>/sendMessage" in m for m in requests), requests[:3]
    token = tg.server.token
    assert _leaks(caplog, token) == []
    assert _leaks(caplog, token.split(":", 1)[1]) == []


async def test_a_rejected_token_fails_without_showing_it(
    server: FakeTelegramServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _all_debug(caplog)
    wrong = "654321:WRONG-SECRET-TOKEN-VALUE"
    world = TelegramWorld(server, tmp_path)
    repo = await SqliteRepository.open(world.db_url)
    try:
        adapter = build(world.settings(telegram_token=wrong), Bot(repo, world.clock), repo)
        with pytest.raises(RuntimeError) as raised:
            await adapter.run(asyncio.Event())
    finally:
        await repo.close()
    assert wrong not in str(raised.value) and "WRONG-SECRET" not in repr(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert _leaks(caplog, wrong) == []
    assert _leaks(caplog, "WRONG-SECRET-TOKEN-VALUE") == []


def test_tracebacks_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    protect("777:SECRET-IN-A-TRACEBACK")
    caplog.set_level(logging.DEBUG)
    try:
        raise ValueError("https://api.telegram.org/bot777:SECRET-IN-A-TRACEBACK/getMe failed")
    except ValueError:
        logging.getLogger("some.library").exception("request to %s", "bot777:SECRET-IN-A-TRACEBACK")
    assert "SECRET-IN-A-TRACEBACK" not in caplog.text
    assert "ValueError" in caplog.text and "<redacted>" in caplog.text
    assert redact("x 777:SECRET-IN-A-TRACEBACK y") == "x <redacted> y"
