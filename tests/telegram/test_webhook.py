"""Webhook mode: the secret is checked on every request; redeliveries are not handled
twice."""

from __future__ import annotations

import aiohttp

from tests.telegram.conftest import BEN, GROUP, TelegramWorld

SECRET = "webhook-secret-for-tests-123"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def test_webhook_checks_the_secret_and_handles_each_update_once(tg: TelegramWorld) -> None:
    adapter = await tg.start(
        telegram_webhook_url="https://bot.example.org/telegram/hook",
        telegram_webhook_port=0,
        telegram_webhook_secret=SECRET,
    )
    registered = tg.server.calls_to("setWebhook")[-1].params
    assert registered["url"] == "https://bot.example.org/telegram/hook"
    assert registered["secret_token"] == SECRET
    assert registered.get("drop_pending_updates") in (None, False)
    assert "chat_member" in registered["allowed_updates"]
    assert adapter.webhook_port
    url = f"http://127.0.0.1:{adapter.webhook_port}/telegram/hook"
    update = tg.server.message_update(GROUP, BEN, "/hilfe")
    update["update_id"] = 7001

    async with aiohttp.ClientSession() as http:
        for headers in ({}, {HEADER: "wrong"}, {HEADER: SECRET + "x"}):
            async with http.post(url, json=update, headers=headers) as response:
                assert response.status == 403
        assert tg.events == []
        for _ in range(2):  # Telegram delivers again when it did not see a 200 in time
            async with http.post(url, json=update, headers={HEADER: SECRET}) as response:
                assert response.status == 200
        async with http.post(url, data=b"{not json", headers={HEADER: SECRET}) as response:
            assert response.status == 400

    await tg.reply(GROUP, "Was ich kann")  # recorded before the 200, sent from its queue
    answers = [t for t in tg.texts(GROUP) if t.startswith("Was ich kann")]
    assert len(answers) == 1  # only once
    assert len(tg.events) == 1
    assert tg.repo is not None
    assert await tg.repo.ledger.is_handled("telegram", "update:7001")
    assert tg.server.calls_to("getUpdates") == []
