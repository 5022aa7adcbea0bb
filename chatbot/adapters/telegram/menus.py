"""The command menu Telegram shows beside the input field ("/" button).

At start, for the default scope and for all chat administrators, each in German and in
English (`language_code` "de", "en": chosen by the person's app language) and without a
language (everyone else: the bot's default language). Everyone sees the commands that
anyone may use; administrators see the admin-only ones too. Names and summaries come
from `chatbot.core.commands.COMMANDS`, summaries translated.

A city group speaks its own language whatever people's apps say: once a group is set
up (or its language changed), it gets menus of its own (scope chat and chat
administrators), in the group's language. Telegram picks the most specific scope.
"""

from __future__ import annotations

import logging

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeChat,
    BotCommandScopeChatAdministrators,
    BotCommandScopeDefault,
)
from telegram.error import TelegramError

from chatbot.adapters.telegram.state import TelegramState
from chatbot.core.commands import COMMANDS
from chatbot.i18n import SUPPORTED, Translator

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 256


def commands_for(language: str, *, admin: bool) -> list[BotCommand]:
    t = Translator(language)
    return [
        BotCommand(spec.name(language), t.gettext(spec.summary)[:MAX_DESCRIPTION])
        for spec in COMMANDS
        if admin or not spec.admin_only
    ]


async def _set(bot: Bot, scope: BotCommandScope, language: str, code: str, admin: bool) -> bool:
    try:
        await bot.set_my_commands(
            commands_for(language, admin=admin), scope=scope, language_code=code or None
        )
    except TelegramError as error:
        log.warning("could not set the command menu (%s, %r): %s", scope.type, code, error)
        return False
    return True


async def set_global_menus(bot: Bot, default_language: str) -> None:
    for scope, admin in (
        (BotCommandScopeDefault(), False),
        (BotCommandScopeAllChatAdministrators(), True),
    ):
        for code in ("", *SUPPORTED):
            await _set(bot, scope, code or default_language, code, admin)


async def set_chat_menus(bot: Bot, state: TelegramState, chat_id: int, language: str) -> None:
    """The group's own menus in its language (once per change of language)."""
    key = f"menu:{chat_id}"
    if await state.get(key) == language:
        return
    ok = await _set(bot, BotCommandScopeChat(chat_id), language, "", False)
    ok = await _set(bot, BotCommandScopeChatAdministrators(chat_id), language, "", True) and ok
    if ok:
        await state.put(key, language)
