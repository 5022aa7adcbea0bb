"""The Telegram adapter: a python-telegram-bot `Application` wired to the core.

Receiving, exactly once
-----------------------
PTB's `Updater` confirms updates to Telegram (the next getUpdates offset) as soon as it
has *fetched* them, and keeps the offset in memory: updates fetched but not yet handled
when the process dies are gone. So the adapter drives getUpdates itself and uses the
`Application` for everything else (the Bot with its rate limiter, the handlers,
`process_update`, initialize/shutdown):

1. getUpdates with long polling and `allowed_updates` listing chat_member,
   my_chat_member, poll_answer, callback_query, message and edited_message. Pending
   updates are never dropped (no drop_pending_updates; deleteWebhook without it).
2. The batch is handled: updates of one chat in order, different chats concurrently.
   Each update reaches the core through the runtime (`chatbot.runtime`): its effects,
   its replies and the mark `update:<id>` commit in one transaction, so an update is
   applied exactly once even across a crash; its replies wait in their chat's queue.
3. When every update of the batch is handled (not sent: a chat over Telegram's flood
   limits holds up only its own queue), the next getUpdates (offset = the batch's
   highest update_id + 1) confirms the batch to Telegram. At stop, one more getUpdates
   confirms the last batch.

A new run starts getUpdates *without* an offset: Telegram then sends what is not
confirmed yet, i.e. what came while the bot was down (kept for 24 hours), plus, after a
crash, the last batch again, which step 2 skips. No position is stored to ask from:
after a week without updates Telegram picks the next update_id at random, possibly
below an old one, and asking with an old offset would confirm (drop) those updates
unseen.

`run(stop)` ends the long poll when `stop` is set, finishes the batch in flight,
confirms it to Telegram, and returns.

Webhook mode (CHATBOT_TELEGRAM_WEBHOOK_URL) serves HTTP with aiohttp instead: every
request must carry the secret (`X-Telegram-Bot-Api-Secret-Token`, else 403) and is
answered after the update was handled (recorded); Telegram's redeliveries are caught by
step 2.

Handlers are registered in one place, `register_handlers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    PollAnswerHandler,
    filters,
)

from chatbot.adapters.telegram import mapping
from chatbot.adapters.telegram.admins import TelegramAdmins
from chatbot.adapters.telegram.buttons import ButtonStore
from chatbot.adapters.telegram.menus import set_chat_menus, set_global_menus
from chatbot.adapters.telegram.ratelimit import FloodLimiter, retry_seconds
from chatbot.adapters.telegram.redact import protect
from chatbot.adapters.telegram.sending import MAX_OPTIONS, Sender
from chatbot.adapters.telegram.state import PLATFORM, TelegramState
from chatbot.adapters.telegram.transport import AdapterBot, AiohttpRequest
from chatbot.config import Settings
from chatbot.core.actions import Action
from chatbot.core.bot import Bot as CoreBot
from chatbot.core.commands import find_command
from chatbot.core.context import Capabilities
from chatbot.core.events import ButtonPress, CommandEvent, Event, MemberJoined
from chatbot.runtime import Runtime
from chatbot.storage.sqlite import SqliteRepository

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.POLL_ANSWER,
    Update.MY_CHAT_MEMBER,
    Update.CHAT_MEMBER,
]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MENU_COMMANDS = frozenset({"setup", "settings"})  # may change a group's language


TelegramApp = Application[Any, Any, Any, Any, Any, Any]

# the ledger key of the update being processed (PTB runs the handlers in this task)
_update_key: ContextVar[str | None] = ContextVar("telegram_update", default=None)


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


class Lanes:
    """One lock per chat: a chat's updates in order, other chats meanwhile."""

    def __init__(self) -> None:
        self._locks: dict[object, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: object) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


def lane_of(update: Update) -> object:
    if update.poll_answer is not None:
        return f"poll:{update.poll_answer.poll_id}"
    chat = update.effective_chat
    if chat is not None:
        return chat.id
    return "other"


def register_handlers(app: TelegramApp, adapter: TelegramAdapter) -> None:
    """Every update type the adapter reacts to, in one place. Edited messages (a live
    location moving, an edited command) reach no handler: they are not answered again."""
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, adapter.on_migrate))
    app.add_handler(
        MessageHandler(
            filters.UpdateType.MESSAGE & (filters.LOCATION | filters.VENUE), adapter.on_location
        )
    )
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT, adapter.on_text))
    app.add_handler(CallbackQueryHandler(adapter.on_button))
    app.add_handler(PollAnswerHandler(adapter.on_poll_answer))
    app.add_handler(ChatMemberHandler(adapter.on_membership, ChatMemberHandler.ANY_CHAT_MEMBER))
    app.add_error_handler(adapter.on_error)


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
        self.lanes = Lanes()
        # the runtime `chatbot run` shares between platforms; alone, one of its own
        self._own_runtime = runtime is None  # then it is closed with this adapter
        self.runtime = runtime if runtime is not None else Runtime(core, repo)
        self.runtime.register(self)
        self.poll_timeout = settings.telegram_poll_timeout
        self.webhook_port: int | None = None  # the port webhook mode listens on
        self._position: int | None = None  # the newest update_id handled in this run
        self._initialized = False
        self._init_lock = asyncio.Lock()
        self._reachable: set[int] = set()
        core.register(
            PLATFORM,
            Capabilities(mapping.PREFIX, max_poll_options=MAX_OPTIONS, can_ask_location=True),
        )
        register_handlers(self.app, self)

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
        menus = asyncio.create_task(
            set_global_menus(self.app.bot, self.core.default_language), name="telegram-menus"
        )
        try:
            if self.settings.telegram_webhook_url:
                await self._serve_webhook(stop, self.settings.telegram_webhook_url)
            else:
                await self._poll(stop)
        finally:
            if not menus.done():
                menus.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await menus
            if self._own_runtime:  # the message in hand goes out before the connections close
                await self.runtime.close()
            await self._shutdown()

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
                delay = min(0.5 * 2**failures, 30.0)
                log.warning("Telegram unreachable at start (%s); retrying in %.0f s", error, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
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

    # --- long polling -----------------------------------------------------------------

    async def _poll(self, stop: asyncio.Event) -> None:
        await self._no_webhook()
        failures = 0
        while not stop.is_set():
            offset = None if self._position is None else self._position + 1
            fetch = asyncio.create_task(
                self.app.bot.get_updates(
                    offset=offset, timeout=self.poll_timeout, allowed_updates=ALLOWED_UPDATES
                )
            )
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not fetch.done():
                fetch.cancel()  # unconfirmed updates in it come again next time
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await fetch
                break
            try:
                updates = fetch.result()
            except (InvalidToken, asyncio.CancelledError):
                raise
            except TelegramError as error:
                failures += 1
                await self._pause_after(error, failures, stop)
                continue
            failures = 0
            await self.runtime.alive(PLATFORM)
            if updates:
                await self.handle_batch(updates)
        await self._confirm()

    async def _pause_after(self, error: TelegramError, failures: int, stop: asyncio.Event) -> None:
        if isinstance(error, RetryAfter):
            delay = retry_seconds(error)
        elif isinstance(error, Conflict):
            # right after a restart this is our own previous long poll, which the server
            # only now sees; if it goes on, another instance is polling with our token
            if failures > 2:
                log.warning("getUpdates: %s (is another instance running?)", error)
            delay = 0.5 if failures <= 2 else 5.0
        else:
            delay = min(0.5 * 2 ** min(failures, 6), 30.0)
            log.warning("getUpdates failed (%s); retrying in %.1f s", error, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)

    async def _no_webhook(self) -> None:
        """getUpdates does not work while a webhook is set; remove it, keeping what is
        pending."""
        try:
            info = await self.app.bot.get_webhook_info()
            if info.url:
                await self.app.bot.delete_webhook(drop_pending_updates=False)
        except TelegramError as error:
            log.warning("could not check for a webhook: %s", error)

    async def _confirm(self) -> None:
        """Tell Telegram the handled updates are done (getUpdates with the next offset)."""
        if self._position is None:
            return
        try:
            await self.app.bot.get_updates(
                offset=self._position + 1, timeout=0, allowed_updates=ALLOWED_UPDATES
            )
        except TelegramError as error:
            log.info("could not confirm the last updates (they are skipped next time): %s", error)

    # --- handling updates -------------------------------------------------------------

    async def handle_batch(self, updates: Sequence[Update]) -> None:
        await asyncio.gather(*(self.handle_update(u) for u in updates))
        await self.runtime.deliver(self.core.late_notes())  # one note per chat, if any
        newest = max(u.update_id for u in updates)
        self._position = newest  # the next getUpdates confirms the batch

    async def handle_update(self, update: Update) -> None:
        """One update, in its chat's lane, exactly once (see the module docstring)."""
        key = f"update:{update.update_id}"
        async with self.lanes.hold(lane_of(update)):
            if await self.repo.is_handled(PLATFORM, key):
                log.info("update %s was handled before; skipped", update.update_id)
                return
            token = _update_key.set(key)
            try:
                await self.app.process_update(update)
            except Exception:
                log.exception("update %s failed", update.update_id)
            finally:
                _update_key.reset(token)

    async def dispatch(self, event: Event) -> None:
        """Hand the update's event to the core through the runtime's ledger."""
        key = _update_key.get()
        if key is None:  # not from an update (a test calling in directly)
            await self.runtime.deliver(await self.core.handle(event, self.admins))
            return
        await self.runtime.handle(PLATFORM, key, event, self.admins)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.text is None:
            return
        await self._private_contact(update)
        username = self.app.bot.username or ""
        command = mapping.command_event(message, username)
        if command is not None:
            await self.dispatch(command)
            await self._after_command(command)
            return
        # plain text, or a command for another bot: nothing for the core (no lookup, no
        # ledger row per chat message)

    async def on_location(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message is None:
            return
        await self._private_contact(update)
        event = mapping.location_event(update.message)
        if event is not None:
            await self.dispatch(event)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        origin = mapping.button_origin(query)
        stored = None
        if origin is not None:
            stored = await self.buttons.resolve(query.data, int(origin.chat.id))
        if origin is None or stored is None:
            log.info("unknown button data from user %s", query.from_user.id)
            text = await self.core.notice(
                "unknown_button", origin.chat if origin else None, query.from_user.language_code
            )
            await self._answer(query, text, alert=True)
            return
        await self._answer(query)  # at once: the client stops its spinner
        await self.dispatch(ButtonPress(origin, stored.command, stored.args))

    async def on_poll_answer(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        answer = update.poll_answer
        if answer is None:
            return
        poll = await self.state.poll_by_native_id(answer.poll_id)
        if poll is None:
            return  # not a poll of ours
        chat_id = await self.state.current_id(poll.chat_id)
        event = mapping.vote_event(answer, poll, chat_id)
        if event is not None:
            await self.dispatch(event)

    async def on_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        change = update.my_chat_member or update.chat_member
        if change is None:
            return
        event = mapping.membership_event(change, self.app.bot.id)
        if update.my_chat_member is not None:
            # the bot itself: added, removed, blocked, unblocked
            inside = mapping.is_in(change.new_chat_member)
            await self.state.set_active(change.chat.id, inside)
            if isinstance(event, MemberJoined) and event.origin.is_private:
                return  # unblocked in a private chat: no greeting
        if event is not None:
            await self.dispatch(event)

    async def on_migrate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        if message.migrate_to_chat_id:
            old, new = message.chat.id, message.migrate_to_chat_id
        elif message.migrate_from_chat_id:
            old, new = message.migrate_from_chat_id, message.chat.id
        else:
            return
        if await self.state.migrate(old, new):
            log.info("group %s is the supergroup %s now", old, new)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        log.error(
            "handling an update failed: %r",
            error,
            exc_info=(type(error), error, error.__traceback__) if error else None,
        )

    # --- helpers ----------------------------------------------------------------------

    async def _answer(self, query: Any, text: str | None = None, *, alert: bool = False) -> None:
        try:
            await query.answer(text=text, show_alert=alert)
        except TelegramError as error:
            log.info("could not answer a button press: %s", error)

    async def _private_contact(self, update: Update) -> None:
        """Someone wrote to the bot privately: it can message them (again)."""
        chat = update.effective_chat
        if chat is None or chat.type != "private" or chat.id in self._reachable:
            return
        self._reachable.add(chat.id)
        await self.state.set_active(chat.id, True)

    async def _after_command(self, command: CommandEvent) -> None:
        """After /setup or /settings in a group: the group's menus in its language."""
        spec = find_command(command.name)
        if spec is None or spec.key not in MENU_COMMANDS or command.origin.is_private:
            return
        group = await self.repo.group_for_chat(command.origin.chat)
        if group is not None:
            await set_chat_menus(
                self.app.bot, self.state, int(command.origin.chat.id), group.settings.language
            )

    # --- webhook mode -----------------------------------------------------------------

    async def _serve_webhook(self, stop: asyncio.Event, url: str) -> None:
        from aiohttp import web

        configured = self.settings.telegram_webhook_secret
        secret = configured.get_secret_value() if configured else secrets.token_urlsafe(32)
        protect(secret)
        expected = secret.encode()
        in_flight: set[asyncio.Task[None]] = set()

        async def receive(request: web.Request) -> web.Response:
            given = request.headers.get(SECRET_HEADER, "").encode()
            if not hmac.compare_digest(given, expected):
                return web.Response(status=403)
            try:
                update = Update.de_json(await request.json(), self.app.bot)
            except Exception:
                return web.Response(status=400)
            task = asyncio.create_task(self._handle_pushed(update))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            await asyncio.shield(task)  # a dropped connection does not cancel the handling
            return web.Response(status=200)

        server = web.Application()
        server.router.add_post(urlsplit(url).path or "/", receive)
        runner = web.AppRunner(server, access_log=None)
        await runner.setup()
        site = web.TCPSite(
            runner, self.settings.telegram_webhook_listen, self.settings.telegram_webhook_port
        )
        await site.start()
        self.webhook_port = int(runner.addresses[0][1])
        try:
            await self.app.bot.set_webhook(
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

    async def _handle_pushed(self, update: Update) -> None:
        await self.handle_update(update)
        await self.runtime.deliver(self.core.late_notes())
