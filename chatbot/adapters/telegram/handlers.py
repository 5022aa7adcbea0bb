"""Handling one Telegram update: in its chat's lane, exactly once, through the runtime.

Updates of one chat are handled in order, different chats concurrently (`Lanes`). Each
update reaches the core through the runtime (`chatbot.runtime`): its effects, its
replies and the mark `update:<id>` commit in one transaction, so an update is applied
exactly once even across a crash (a recorded update is skipped); its replies wait in
their chat's queue.

Handlers are registered in one place, `register_handlers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    PollAnswerHandler,
    filters,
)

from chatbot.adapters.telegram import mapping
from chatbot.adapters.telegram.menus import set_chat_menus
from chatbot.adapters.telegram.state import PLATFORM
from chatbot.core.commands import find_command
from chatbot.core.events import ButtonPress, CommandEvent, Event, MemberJoined

if TYPE_CHECKING:
    from chatbot.adapters.telegram.adapter import TelegramAdapter, TelegramApp

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.POLL_ANSWER,
    Update.MY_CHAT_MEMBER,
    Update.CHAT_MEMBER,
]
MENU_COMMANDS = frozenset({"setup", "settings"})  # may change a group's language

# the ledger key of the update being processed (PTB runs the handlers in this task), and
# whether it is newer than every update handled (then the runtime need not look it up)
_update: ContextVar[tuple[str, bool] | None] = ContextVar("telegram_update", default=None)
KEY_PREFIX = "update:"


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


def register_handlers(app: TelegramApp, handlers: Handlers) -> None:
    """Every update type the adapter reacts to, in one place. Edited messages (a live
    location moving, an edited command) reach no handler: they are not answered again."""
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, handlers.on_migrate))
    app.add_handler(
        MessageHandler(
            filters.UpdateType.MESSAGE & (filters.LOCATION | filters.VENUE), handlers.on_location
        )
    )
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT, handlers.on_text))
    app.add_handler(CallbackQueryHandler(handlers.on_button))
    app.add_handler(PollAnswerHandler(handlers.on_poll_answer))
    app.add_handler(ChatMemberHandler(handlers.on_membership, ChatMemberHandler.ANY_CHAT_MEMBER))
    app.add_error_handler(handlers.on_error)


class Handlers:
    """The adapter's PTB handlers and the way an update takes to them."""

    def __init__(self, adapter: TelegramAdapter) -> None:
        self.adapter = adapter
        self.lanes = Lanes()
        self._reachable: set[int] = set()
        # the highest update id handled or being handled; None until read at start
        self._newest: int | None = None

    async def load_newest(self) -> None:
        """At start: the highest update id handled before. Telegram's update ids only
        grow (after a week without updates the next one is random), so an update above
        it cannot have been handled, and the runtime need not look it up; one at or
        below it (brought again after a crash, or a random id) is looked up."""
        self._newest = await self.adapter.repo.ledger.highest_handled(PLATFORM, KEY_PREFIX)

    async def handle_update(self, update: Update) -> None:
        """One update, in its chat's lane, exactly once (see the module docstring)."""
        key = f"{KEY_PREFIX}{update.update_id}"
        fresh = self._newest is not None and update.update_id > self._newest
        if self._newest is not None:
            self._newest = max(self._newest, update.update_id)
        async with self.lanes.hold(lane_of(update)):
            # an update handled before (brought again after a crash) reaches the
            # runtime, which finds its mark and does not hand it to the core again
            token = _update.set((key, fresh))
            try:
                await self.adapter.app.process_update(update)
            except Exception:
                log.exception("update %s failed", update.update_id)
            finally:
                _update.reset(token)

    async def dispatch(self, event: Event) -> None:
        """Hand the update's event to the core through the runtime's ledger."""
        adapter = self.adapter
        update = _update.get()
        if update is None:  # not from an update (a test calling in directly)
            await adapter.runtime.deliver(await adapter.core.handle(event, adapter.admins))
            return
        key, fresh = update
        await adapter.runtime.handle(PLATFORM, key, event, adapter.admins, fresh=fresh)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.text is None:
            return
        await self._private_contact(update)
        username = self.adapter.app.bot.username or ""
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
            stored = await self.adapter.buttons.resolve(query.data, int(origin.chat.id))
        if origin is None or stored is None:
            log.info("unknown button data from user %s", query.from_user.id)
            text = await self.adapter.core.notice(
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
        poll = await self.adapter.state.poll_by_native_id(answer.poll_id)
        if poll is None:
            return  # not a poll of ours
        chat_id = await self.adapter.state.current_id(poll.chat_id)
        event = mapping.vote_event(answer, poll, chat_id)
        if event is not None:
            await self.dispatch(event)

    async def on_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        change = update.my_chat_member or update.chat_member
        if change is None:
            return
        event = mapping.membership_event(change, self.adapter.app.bot.id)
        if update.my_chat_member is not None:
            # the bot itself: added, removed, blocked, unblocked
            inside = mapping.is_in(change.new_chat_member)
            await self.adapter.state.set_active(change.chat.id, inside)
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
        if await self.adapter.state.migrate(old, new):
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
        await self.adapter.state.set_active(chat.id, True)

    async def _after_command(self, command: CommandEvent) -> None:
        """After /setup or /settings in a group: the group's menus in its language."""
        spec = find_command(command.name)
        if spec is None or spec.key not in MENU_COMMANDS or command.origin.is_private:
            return
        group = await self.adapter.repo.cities.group_for_chat(command.origin.chat)
        if group is not None:
            await set_chat_menus(
                self.adapter.app.bot,
                self.adapter.state,
                int(command.origin.chat.id),
                group.settings.language,
            )
