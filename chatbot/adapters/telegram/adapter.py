"""The Telegram adapter: a python-telegram-bot `Application` wired to the core.

Receiving, exactly once
-----------------------
PTB's `Updater` confirms updates to Telegram (the next getUpdates offset) as soon as it
has *fetched* them, and keeps the offset in memory: updates fetched but not yet handled
when the process dies are gone. So the adapter drives getUpdates itself and uses the
`Application` for everything else (the Bot with its rate limiter, the handlers,
`process_update`, initialize/shutdown):

- `polling.py`: the getUpdates loop; a batch is confirmed to Telegram once every update
  in it is handled (recorded), never waiting for sending.
- `webhook.py`: webhook mode (CHATBOT_TELEGRAM_WEBHOOK_URL), answered after the update
  was handled (recorded).
- `handlers.py`: one update in its chat's lane, exactly once through the runtime's
  ledger; the PTB handlers, registered in one place (`register_handlers`).

`run(stop)` starts the Application (getMe), receives until `stop` is set, finishes the
updates in flight and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder

from chatbot.adapters.telegram import mapping
from chatbot.adapters.telegram.admins import TelegramAdmins
from chatbot.adapters.telegram.buttons import ButtonStore
from chatbot.adapters.telegram.handlers import Handlers, register_handlers
from chatbot.adapters.telegram.menus import set_global_menus
from chatbot.adapters.telegram.polling import Polling
from chatbot.adapters.telegram.ratelimit import FloodLimiter
from chatbot.adapters.telegram.sending import MAX_OPTIONS, Sender
from chatbot.adapters.telegram.state import PLATFORM, TelegramState
from chatbot.adapters.telegram.transport import AdapterBot, AiohttpRequest
from chatbot.adapters.telegram.webhook import serve_webhook
from chatbot.config import Settings
from chatbot.core.actions import Action
from chatbot.core.bot import Bot as CoreBot
from chatbot.core.context import Capabilities
from chatbot.redact import protect
from chatbot.runtime import RECONNECT, Runtime, sleep_or_stop
from chatbot.storage.sqlite import SqliteRepository

log = logging.getLogger(__name__)

TelegramApp = Application[Any, Any, Any, Any, Any, Any]


def file_url(settings: Settings) -> str:
    if settings.telegram_file_url:
        return settings.telegram_file_url
    base = settings.telegram_api_url.rstrip("/")
    if base.endswith("/bot"):
        return base[: -len("/bot")] + "/file/bot"
    return base + "/file/bot"


def build_application(settings: Settings) -> TelegramApp:
    """The PTB Application for these settings (no Updater: see the module docstring)."""
    if settings.telegram_token is None:
        raise ValueError("CHATBOT_TELEGRAM_TOKEN is not set")
    token = settings.telegram_token.get_secret_value()
    protect(token)
    bot = AdapterBot(
        token,
        base_url=settings.telegram_api_url,
        base_file_url=file_url(settings),
        request=AiohttpRequest(pool_size=256, read_timeout=15.0),
        get_updates_request=AiohttpRequest(pool_size=1, read_timeout=10.0),
        rate_limiter=FloodLimiter(enabled=settings.telegram_flood_limits),
    )
    return ApplicationBuilder().bot(bot).updater(None).build()


class TelegramAdapter:
    platform = PLATFORM

    def __init__(
        self,
        settings: Settings,
        core: CoreBot,
        repo: SqliteRepository,
        app: TelegramApp | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        self.settings = settings
        self.core = core
        self.repo = repo
        self.app = app if app is not None else build_application(settings)
        self.state = TelegramState(repo)
        self.buttons = ButtonStore(self.state)
        self.sender = Sender(self.app.bot, self.state, self.buttons)
        self.admins = TelegramAdmins(self.app.bot)
        # the runtime `chatbot run` shares between platforms; alone, one of its own
        self._own_runtime = runtime is None  # then it is closed with this adapter
        self.runtime = runtime if runtime is not None else Runtime(core, repo)
        self.runtime.register(self)
        self.poll_timeout = settings.telegram_poll_timeout
        self.webhook_port: int | None = None  # the port webhook mode listens on
        self._initialized = False
        self._init_lock = asyncio.Lock()
        core.register(
            PLATFORM,
            Capabilities(mapping.PREFIX, max_poll_options=MAX_OPTIONS, can_ask_location=True),
        )
        self.handlers = Handlers(self)
        self.polling = Polling(self)
        register_handlers(self.app, self.handlers)

    # --- the PlatformAdapter protocol -------------------------------------------------

    async def perform(self, action: Action, *, key: str | None = None) -> None:
        await self._initialize()
        await self.sender.perform(action)

    def private_chat_link(self, start: str) -> str | None:
        """A deep link that opens a private chat with the bot and sends /start START."""
        username = self.app.bot.username if self._initialized else None
        return f"https://t.me/{username}?start={start}" if username else None

    async def run(self, stop: asyncio.Event) -> None:
        if not await self._start(stop):
            return
        await self.runtime.resume(PLATFORM)
        await self.handlers.load_newest()
        menus = asyncio.create_task(
            set_global_menus(self.app.bot, self.core.default_language), name="telegram-menus"
        )
        try:
            if self.settings.telegram_webhook_url:
                await serve_webhook(self, stop, self.settings.telegram_webhook_url)
            else:
                await self.polling.run(stop)
        finally:
            if not menus.done():
                menus.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await menus
            if self._own_runtime:  # the message in hand goes out before the connections close
                await self.runtime.close()
            await self._shutdown()

    # --- start and stop ---------------------------------------------------------------

    async def _start(self, stop: asyncio.Event) -> bool:
        """Initialize (getMe), waiting out network trouble; False if stopped meanwhile.
        A rejected token is fatal (RuntimeError)."""
        failures = 0
        while not stop.is_set():
            try:
                await self._initialize()
                return True
            except TelegramError as error:  # the network, or Telegram, is down
                failures += 1
                delay = RECONNECT.delay(failures)
                log.warning("Telegram unreachable at start (%s); retrying in %.0f s", error, delay)
                await sleep_or_stop(delay, stop)
        return False

    async def _initialize(self) -> None:
        async with self._init_lock:
            if self._initialized:
                return
            try:
                await self.app.initialize()  # getMe: the bot's id and username
            except InvalidToken:
                await self.app.bot.shutdown()  # its HTTP sessions are open already
                # PTB's message contains the token; this one does not
                raise RuntimeError("Telegram rejected CHATBOT_TELEGRAM_TOKEN") from None
            self._initialized = True
            log.info("Telegram: serving as @%s", self.app.bot.username)

    async def _shutdown(self) -> None:
        async with self._init_lock:
            if self._initialized:
                await self.app.shutdown()
                self._initialized = False
