"""Inline buttons: the core's `Button(label, command, args)` as Telegram callback data.

Callback data travels through the client and comes back in a callback_query; a client
can send any data it likes. So the data is an opaque id, and what a button does stays
on our side: `button:<id>` in platform_state holds (command, args, chat id).

The id is an HMAC of (chat, command, args) under a random key kept in platform_state
(`button_secret`): unguessable without the key, and the same button in the same chat
always gets the same id, so showing /heute again does not pile up new rows (ids already
stored in this run are not written again). A press is accepted only with a stored id and
only in the chat the button was sent to (or that chat's supergroup after an upgrade).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from chatbot.adapters.telegram.state import TelegramState
from chatbot.core.actions import Button

PREFIX = "b:"
ID_LENGTH = 16  # base64url characters: 96 bits
MAX_LABEL = 64  # Telegram shows short labels only; keep them readable


@dataclass(frozen=True)
class StoredButton:
    command: str
    args: str
    chat_id: int


class ButtonStore:
    CACHE_SIZE = 512  # keyboards kept ready (a busy /heute is sent again and again)

    def __init__(self, state: TelegramState) -> None:
        self.state = state
        self._key: bytes | None = None
        self._stored: set[str] = set()
        # per (chat, buttons): the markup and its Bot API JSON, both built once
        self._keyboards: OrderedDict[
            tuple[int, tuple[Button, ...]], tuple[InlineKeyboardMarkup, dict[str, Any]]
        ] = OrderedDict()

    async def _secret(self) -> bytes:
        if self._key is None:
            raw = await self.state.get("button_secret")
            if raw is None:
                raw = secrets.token_hex(32)
                await self.state.put("button_secret", raw)
            self._key = bytes.fromhex(raw)
        return self._key

    async def button_id(self, chat_id: int, button: Button) -> str:
        message = f"{chat_id}\x00{button.command}\x00{button.args}".encode()
        digest = hmac.new(await self._secret(), message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:ID_LENGTH]

    async def keyboard(
        self, chat_id: int, buttons: tuple[Button, ...]
    ) -> InlineKeyboardMarkup | None:
        """The inline keyboard for these buttons in this chat (stored first)."""
        built = await self._built(chat_id, buttons)
        return built[0] if built else None

    async def keyboard_json(
        self, chat_id: int, buttons: tuple[Button, ...]
    ) -> dict[str, Any] | None:
        """The same keyboard as the Bot API's JSON (`reply_markup` of a raw call)."""
        built = await self._built(chat_id, buttons)
        return built[1] if built else None

    async def _built(
        self, chat_id: int, buttons: tuple[Button, ...]
    ) -> tuple[InlineKeyboardMarkup, dict[str, Any]] | None:
        if not buttons:
            return None
        cached = self._keyboards.get((chat_id, buttons))
        if cached is not None:
            self._keyboards.move_to_end((chat_id, buttons))
            return cached
        row: list[InlineKeyboardButton] = []
        rows: list[list[InlineKeyboardButton]] = []
        per_row = 2 if all(len(b.label) <= 20 for b in buttons) else 1
        for button in buttons:
            button_id = await self.button_id(chat_id, button)
            if button_id not in self._stored:
                await self.state.put_json(
                    f"button:{button_id}",
                    {"command": button.command, "args": button.args, "chat": chat_id},
                )
                self._stored.add(button_id)
            row.append(
                InlineKeyboardButton(button.label[:MAX_LABEL], callback_data=PREFIX + button_id)
            )
            if len(row) == per_row:
                rows.append(row)
                row = []
        if row:
            rows.append(row)
        markup = InlineKeyboardMarkup(rows)
        built = (markup, markup.to_dict())
        self._keyboards[(chat_id, buttons)] = built
        if len(self._keyboards) > self.CACHE_SIZE:
            self._keyboards.popitem(last=False)
        return built

    async def resolve(self, data: str | None, chat_id: int) -> StoredButton | None:
        """What a pressed button does, or None for unknown or forged data, or a button
        of another chat."""
        if not data or not data.startswith(PREFIX):
            return None
        button_id = data[len(PREFIX) :]
        if len(button_id) != ID_LENGTH:
            return None
        found = await self.state.get_json(f"button:{button_id}")
        if not isinstance(found, dict):
            return None
        stored = StoredButton(str(found["command"]), str(found["args"]), int(found["chat"]))
        if await self.state.current_id(stored.chat_id) != chat_id:
            return None
        return stored
