"""The core's actions -> Bot API calls, with Telegram's failure modes handled.

* `SendText`/`DirectMessage` -> sendMessage, plain text (no parse_mode, so nothing in
  a venue's or person's name can break the formatting), as a reply to the command
  (`allow_sending_without_reply`, in case it was deleted), in the forum topic, with an
  inline keyboard; a text over 4096 characters is split at line ends. A `SendText` with
  `ask_location` in a private chat gets a one-time reply keyboard with one "share my
  location" button (`request_location`, which Telegram offers in private chats only; in
  a group the text alone asks for a reply with a location, which privacy mode lets
  through).
* `SendPoll` -> sendPoll, non-anonymous (votes come back as poll_answer updates), and
  the poll's native id is remembered with the core's poll key; `ClosePoll` -> stopPoll.
* `SendVenue` -> sendVenue (a map preview); `EditText` -> editMessageText.

Failures, the way Telegram documents them:
* 429: the rate limiter (ratelimit.py) waits `retry_after` and retries; if the limit
  still holds, `perform` raises `chatbot.adapters.base.RetryAfter` (the runtime's queue
  or the outbox tries again after that time);
* 400 "group chat was upgraded to a supergroup chat" (ChatMigrated): every stored
  reference moves to the new id (`repo.cities.move_chat`, state.py) and the call is retried
  once there;
* 403 (kicked, blocked, deactivated): the chat is marked inactive, and nothing more is
  sent there until the bot is back; for a `DirectMessage` (also to a person who never
  started the bot: "can't initiate conversation") `perform` raises `Unreachable`, and the
  core marks the person unreachable;
* "message is not modified" and "poll has already been closed": done already, fine;
* timeouts, 5xx and connection errors: raised (`NetworkError`), and the runtime's one
  retry policy (or the outbox's) tries again later (a timed-out send may have arrived:
  Telegram gives no idempotency key, so this is at-least-once for the rare timeout,
  which beats losing the reply);
* anything else: logged and given up; one failed action never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import (
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from chatbot.adapters.base import RetryAfter as WaitFirst
from chatbot.adapters.base import Unreachable
from chatbot.adapters.telegram.buttons import ButtonStore
from chatbot.adapters.telegram.ratelimit import retry_seconds
from chatbot.adapters.telegram.state import PLATFORM, TelegramState
from chatbot.adapters.telegram.transport import AdapterBot
from chatbot.core.actions import (
    Action,
    Button,
    ClosePoll,
    DirectMessage,
    EditText,
    SendPoll,
    SendText,
    SendVenue,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
JSONDict = dict[str, Any]

MAX_TEXT = 4096  # UTF-16 code units
MAX_QUESTION = 300
MAX_OPTION = 100
MAX_OPTIONS = 10
HARMLESS = ("message is not modified", "poll has already been closed")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most `limit` UTF-16 units, cut at line ends where possible."""
    if utf16_len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if utf16_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while utf16_len(line) > limit:  # one very long line: cut it
            cut = limit
            while utf16_len(line[:cut]) > limit:
                cut -= 1
            pieces.append(line[:cut])
            line = line[cut:]
        current = line
    if current:
        pieces.append(current)
    return pieces


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def location_keyboard(label: str) -> ReplyKeyboardMarkup:
    """One button that shares the position (the core's label); it goes away once used."""
    return ReplyKeyboardMarkup(
        [[KeyboardButton("📍 " + label, request_location=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def _chat_id(raw: str) -> int | None:
    """Our own numeric chat/user ids; None for ids we cannot send to (chat:, channel:)."""
    return int(raw) if raw.lstrip("-").isdigit() else None


class Sender:
    def __init__(
        self,
        bot: AdapterBot,
        state: TelegramState,
        buttons: ButtonStore,
    ) -> None:
        self.bot = bot
        self.state = state
        self.buttons = buttons

    async def perform(self, action: Action) -> None:
        """Carry out one action. What can succeed later raises, for the runtime's (or the
        outbox's) retry: `RetryAfter` (a flood limit), `NetworkError` (timeouts, 5xx,
        the connection). A DirectMessage to someone who blocked or never started the bot
        raises `Unreachable`. Anything else is logged and given up."""
        try:
            await self._perform(action)
        except (WaitFirst, NetworkError):
            raise
        except Unreachable as error:
            if isinstance(action, DirectMessage):
                raise
            log.info("%s not delivered: %s", type(action).__name__, error)
        except Exception:
            log.exception("could not carry out %s", type(action).__name__)

    async def _perform(self, action: Action) -> None:
        if isinstance(action, DirectMessage):
            if action.person.platform != PLATFORM:
                return
            user_id = _chat_id(action.person.id)
            if user_id is None or user_id <= 0:
                raise Unreachable(f"no private chat with {action.person.id}")
            await self.send_text(user_id, action.text, action.buttons)
            return
        if action.chat.platform != PLATFORM:
            return
        chat_id = _chat_id(action.chat.id)
        if chat_id is None:
            return
        if isinstance(action, SendText):
            ask = action.ask_location and chat_id > 0 and not action.buttons
            await self.send_text(
                chat_id,
                action.text,
                action.buttons,
                thread=action.thread,
                reply_to=action.reply_to,
                keyboard=location_keyboard(action.location_label) if ask else None,
            )
        elif isinstance(action, EditText):
            await self.edit_text(chat_id, action)
        elif isinstance(action, SendPoll):
            await self.send_poll(chat_id, action)
        elif isinstance(action, ClosePoll):
            await self.close_poll(chat_id, action)
        elif isinstance(action, SendVenue):
            await self.send_venue(chat_id, action)

    # --- the actions ------------------------------------------------------------------

    async def send_text(
        self,
        chat_id: int,
        text: str,
        buttons: tuple[Button, ...] = (),
        *,
        thread: str | None = None,
        reply_to: str | None = None,
        keyboard: ReplyKeyboardMarkup | None = None,
    ) -> list[JSONDict]:
        """`keyboard`: a reply keyboard instead of inline buttons (on the last piece).
        Returns the sent messages as the Bot API's JSON.

        The hottest call of a busy bot (every /heute), so it skips PTB's objects on
        both ends: the parameters are JSON already (the inline keyboard's is built once
        per chat and buttons), and the reply is not turned into a `Message` (parsing a
        message with 20 buttons back costs more than sending it): `AdapterBot.call_json`.
        """
        pieces = [p for p in split_text(text) if p.strip()]
        sent: list[JSONDict] = []
        reply_keyboard = keyboard.to_dict() if keyboard else None
        topic = int(thread) if thread and thread.isdigit() else None
        for number, piece in enumerate(pieces):
            last = number == len(pieces) - 1
            reply = (
                {"message_id": int(reply_to), "allow_sending_without_reply": True}
                if reply_to and reply_to.isdigit() and number == 0
                else None
            )

            async def send(
                target: int, piece: str = piece, last: bool = last, reply: JSONDict | None = reply
            ) -> JSONDict:
                params: JSONDict = {"chat_id": target, "text": piece}
                if last:
                    markup = reply_keyboard or await self.buttons.keyboard_json(target, buttons)
                    if markup:
                        params["reply_markup"] = markup
                if reply and target == chat_id:
                    params["reply_parameters"] = reply
                if topic is not None:
                    params["message_thread_id"] = topic
                try:
                    return await self.bot.call_json("sendMessage", params)
                except BadRequest as error:
                    if topic is None or "thread not found" not in error.message.lower():
                        raise
                    # the topic was closed or deleted meanwhile: the chat's main thread
                    del params["message_thread_id"]
                    params.pop("reply_parameters", None)
                    return await self.bot.call_json("sendMessage", params)

            message = await self.call(chat_id, send, "sendMessage")
            if message is None:
                break
            sent.append(message)
        return sent

    async def edit_text(self, chat_id: int, action: EditText) -> None:
        if not action.message_id.isdigit():
            return

        async def edit(target: int) -> object:
            markup = await self.buttons.keyboard(target, action.buttons)
            return await self.bot.edit_message_text(
                split_text(action.text)[0],
                chat_id=target,
                message_id=int(action.message_id),
                reply_markup=markup,
            )

        await self.call(chat_id, edit, "editMessageText")

    async def send_poll(self, chat_id: int, action: SendPoll) -> None:
        options = [_short(o, MAX_OPTION) for o in action.options[:MAX_OPTIONS]]
        if len(options) < 2:
            log.warning("a poll needs two options; not sending poll %s", action.poll_key)
            return

        async def send(target: int) -> Message:
            return await self.bot.send_poll(
                target,
                _short(action.question, MAX_QUESTION),
                options,
                is_anonymous=False,
                allows_multiple_answers=False,
                message_thread_id=int(action.thread) if action.thread else None,
            )

        async with self.state.sending_poll():  # votes for it wait until it is recorded
            message = await self.call(chat_id, send, "sendPoll")
            if message is not None and message.poll is not None:
                await self.state.remember_poll(
                    message.poll.id, action.poll_key, message.chat.id, message.message_id
                )

    async def close_poll(self, chat_id: int, action: ClosePoll) -> None:
        for poll_chat, message_id in await self.state.poll_messages(action.poll_key, chat_id):

            async def stop(target: int, message_id: int = message_id) -> object:
                return await self.bot.stop_poll(target, message_id)

            await self.call(poll_chat, stop, "stopPoll")

    async def send_venue(self, chat_id: int, action: SendVenue) -> None:
        address = action.address or f"{action.latitude:.5f}, {action.longitude:.5f}"

        async def send(target: int) -> Message:
            return await self.bot.send_venue(
                target,
                latitude=action.latitude,
                longitude=action.longitude,
                title=_short(action.title, 256),
                address=_short(address, 256),
                message_thread_id=int(action.thread) if action.thread else None,
            )

        await self.call(chat_id, send, "sendVenue")

    # --- one Bot API call, with Telegram's failures handled ---------------------------

    async def call(
        self, chat_id: int, operation: Callable[[int], Awaitable[T]], what: str
    ) -> T | None:
        """`operation(chat_id)`, or None when it could not be done (logged). A private
        chat that will not take it raises `Unreachable`; a flood limit that outlasted the
        rate limiter's retries, or timeouts and 5xx that outlasted ours, raise
        `RetryAfter`."""
        chat_id = await self.state.current_id(chat_id)
        if not await self.state.is_active(chat_id):
            log.info("not sending %s to %s: the bot is not in that chat", what, chat_id)
            if chat_id > 0:
                raise Unreachable(f"user {chat_id} blocked the bot")
            return None
        migrated = False
        while True:
            try:
                return await operation(chat_id)
            except ChatMigrated as error:
                if migrated:
                    log.warning("%s: chat %s migrated twice; giving up", what, chat_id)
                    return None
                migrated = True
                log.info("chat %s is the supergroup %s now", chat_id, error.new_chat_id)
                await self.state.migrate(chat_id, error.new_chat_id)
                chat_id = error.new_chat_id
            except Forbidden as error:
                await self._forbidden(chat_id, error, what)
                return None
            except BadRequest as error:
                if any(text in error.message.lower() for text in HARMLESS):
                    return None
                log.warning("%s to %s refused: %s", what, chat_id, error.message)
                return None
            except RetryAfter as error:
                log.warning("%s to %s: still flood-limited: %s", what, chat_id, error)
                raise WaitFirst(retry_seconds(error)) from None
            except NetworkError:  # timeouts, 5xx, connection errors: the caller retries
                raise
            except TelegramError as error:
                log.warning("%s to %s failed: %s", what, chat_id, error)
                return None

    async def _forbidden(self, chat_id: int, error: Forbidden, what: str) -> None:
        text = error.message.lower()
        if chat_id > 0 and "initiate conversation" in text:
            log.info("%s: user %s has not started the bot", what, chat_id)
            raise Unreachable(f"user {chat_id} has not started the bot")
        log.info("%s: the bot is out of chat %s (%s); marking it inactive", what, chat_id, text)
        await self.state.set_active(chat_id, False)
        if chat_id > 0:
            raise Unreachable(f"user {chat_id} blocked the bot")
