"""The Telegram adapter (python-telegram-bot v22).

    build(settings, bot, repo) -> TelegramAdapter   # a chatbot.adapters.base.PlatformAdapter

Parts: `adapter.py` (Application wiring, start and stop, run/perform), `polling.py`
(getUpdates, receiving exactly once), `webhook.py` (webhook mode), `handlers.py` (an
update in its chat's lane, once, through the runtime; the PTB handlers), `mapping.py`
(updates -> events), `sending.py` (actions -> Bot API, failures), `ratelimit.py` (flood
limits), `buttons.py` (callback data), `admins.py` (who is an admin), `menus.py`
(command menus), `state.py` (what is kept in the database), `redact.py` (no token in
logs), `transport.py` (PTB's HTTP on aiohttp).
"""

from __future__ import annotations

from chatbot.adapters.telegram.adapter import TelegramAdapter, build_application
from chatbot.config import Settings
from chatbot.core.bot import Bot
from chatbot.runtime import Runtime
from chatbot.storage.sqlite import SqliteRepository

__all__ = ["TelegramAdapter", "build", "build_application"]


def build(
    settings: Settings, bot: Bot, repo: SqliteRepository, runtime: Runtime | None = None
) -> TelegramAdapter:
    return TelegramAdapter(settings, bot, repo, runtime=runtime)
