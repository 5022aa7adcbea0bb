"""Webhook mode (CHATBOT_TELEGRAM_WEBHOOK_URL): HTTP served with aiohttp instead of
getUpdates.

Every request must carry the secret (`X-Telegram-Bot-Api-Secret-Token`, else 403) and is
answered after the update was handled (recorded); Telegram's redeliveries are caught by
the ledger (`handlers.py`: a recorded update is skipped).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from telegram import Update

from chatbot.adapters.telegram.handlers import ALLOWED_UPDATES
from chatbot.redact import protect

if TYPE_CHECKING:
    from chatbot.adapters.telegram.adapter import TelegramAdapter

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def serve_webhook(adapter: TelegramAdapter, stop: asyncio.Event, url: str) -> None:
    """Serve Telegram's pushes at `url` until `stop` is set; then finish the updates in
    flight. The port listened on is `adapter.webhook_port`."""
    from aiohttp import web

    settings = adapter.settings
    configured = settings.telegram_webhook_secret
    secret = configured.get_secret_value() if configured else secrets.token_urlsafe(32)
    protect(secret)
    expected = secret.encode()
    in_flight: set[asyncio.Task[None]] = set()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return web.Response(status=403)
        try:
            update = Update.de_json(await request.json(), adapter.app.bot)
        except Exception:
            return web.Response(status=400)
        task = asyncio.create_task(_handle_pushed(adapter, update))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        await asyncio.shield(task)  # a dropped connection does not cancel the handling
        return web.Response(status=200)

    server = web.Application()
    server.router.add_post(urlsplit(url).path or "/", receive)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.telegram_webhook_listen, settings.telegram_webhook_port)
    await site.start()
    adapter.webhook_port = int(runner.addresses[0][1])
    try:
        await adapter.app.bot.set_webhook(
            url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )
        await stop.wait()
    finally:
        await site.stop()
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)
        await runner.cleanup()


async def _handle_pushed(adapter: TelegramAdapter, update: Update) -> None:
    await adapter.handlers.handle_update(update)
    await adapter.runtime.deliver(adapter.core.late_notes())
