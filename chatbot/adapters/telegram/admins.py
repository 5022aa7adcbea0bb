"""Who is an admin, as Telegram says, asked when the core asks (never cached).

* a user: `getChatMember` now; creator or administrator;
* an anonymous admin posting as the group (`sender_chat` is the chat itself): only an
  admin can do that, so yes (the person's id is `chat:<chat id>`, see mapping.py);
* a user posting as a channel (`channel:<id>`), Telegram's service account 777000 and
  the Channel_Bot 136817688: never;
* in a private chat the person is the admin of their own chat.
"""

from __future__ import annotations

import logging

from telegram import Bot, ChatMember
from telegram.error import TelegramError

from chatbot.adapters.telegram.state import PLATFORM
from chatbot.core.events import ChatRef, Person

log = logging.getLogger(__name__)

SERVICE_USER_ID = 777000  # "Telegram": service messages, forwards from a linked channel
CHANNEL_BOT_ID = 136817688  # "Channel_Bot": old clients' posts as a channel
ANONYMOUS_ADMIN_BOT_ID = 1087968824  # "GroupAnonymousBot": `from` of anonymous admins
NEVER_ADMINS = frozenset({SERVICE_USER_ID, CHANNEL_BOT_ID, ANONYMOUS_ADMIN_BOT_ID})
ADMIN_STATUSES = frozenset({ChatMember.OWNER, ChatMember.ADMINISTRATOR})


class TelegramAdmins:
    """The `AdminCheck` the adapter hands to the core."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def __call__(self, chat: ChatRef, person: Person) -> bool:
        if chat.platform != PLATFORM or person.ref.platform != PLATFORM:
            return False
        who = person.ref.id
        if who.startswith("chat:"):
            return who == f"chat:{chat.id}"
        if not who.lstrip("-").isdigit() or not chat.id.lstrip("-").isdigit():
            return False  # a channel, or something we cannot ask about
        user_id, chat_id = int(who), int(chat.id)
        if user_id in NEVER_ADMINS:
            return False
        if chat_id > 0:
            return chat_id == user_id
        try:
            member = await self.bot.get_chat_member(chat_id, user_id)
        except TelegramError as error:
            log.warning("could not ask Telegram who is an admin of %s: %s", chat_id, error)
            return False
        return member.status in ADMIN_STATUSES
