"""What the Telegram adapter keeps in the repository (table platform_state, platform
"telegram", plus handled_events and the chats table):

| key | value |
|---|---|
| (handled_events) `update:<update_id>` | an update that was handled (chatbot.runtime) |
| `inactive:<chat_id>` | "1" while the bot is out of the chat (removed, blocked) |
| `migrated:<old_chat_id>` | the supergroup's id after a group was upgraded |
| `poll:<native_poll_id>` | {"key", "chat", "message"}: the core's poll key and where it is |
| `pollkey:<poll_key>` | {chat_id: message_id}: the way back, for stopPoll |
| `button:<id>` | {"command", "args", "chat"}: what an inline button does (buttons.py) |
| `button_secret` | the key that makes button ids unguessable (buttons.py) |
| `menu:<chat_id>` | the language of the chat's command menu (menus.py) |

Every write runs in its own `repo.atomic()`, so it never joins (or is rolled back with)
a transaction of the core that runs concurrently on the same connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from chatbot.core.events import ChatRef
from chatbot.storage.sqlite import SqliteRepository

PLATFORM = "telegram"
# a vote may arrive before the poll it answers is recorded (Telegram shows the poll to
# the group as it answers sendPoll): an unknown poll's answer waits this long, at most,
# for the polls being sent
POLL_WAIT = 10.0


def chat_ref(chat_id: int | str) -> ChatRef:
    return ChatRef(PLATFORM, str(chat_id))


@dataclass(frozen=True)
class NativePoll:
    poll_key: str
    chat_id: int
    message_id: int


class TelegramState:
    def __init__(self, repo: SqliteRepository) -> None:
        self.repo = repo
        self._inactive: dict[int, bool] = {}
        self._migrated: dict[int, int | None] = {}
        self._sending_polls = 0
        self._no_polls_in_flight = asyncio.Event()
        self._no_polls_in_flight.set()

    # --- plain values -----------------------------------------------------------------

    async def get(self, key: str) -> str | None:
        return await self.repo.ledger.platform_value(PLATFORM, key)

    async def put(self, key: str, value: str) -> None:
        async with self.repo.atomic():
            await self.repo.ledger.set_platform_value(PLATFORM, key, value)

    async def get_json(self, key: str) -> Any:
        raw = await self.get(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    async def put_json(self, key: str, value: Any) -> None:
        await self.put(key, json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    # --- chats ------------------------------------------------------------------------

    async def is_active(self, chat_id: int) -> bool:
        inactive = self._inactive.get(chat_id)
        if inactive is None:
            inactive = await self.get(f"inactive:{chat_id}") == "1"
            self._inactive[chat_id] = inactive
        return not inactive

    async def set_active(self, chat_id: int, active: bool) -> None:
        if not active and self._inactive.get(chat_id):
            return  # known already (e.g. a second 403 in a row)
        await self.repo.cities.set_chat_active(chat_ref(chat_id), active)
        await self.put(f"inactive:{chat_id}", "0" if active else "1")
        self._inactive[chat_id] = not active

    async def migrated_to(self, chat_id: int) -> int | None:
        if chat_id not in self._migrated:
            raw = await self.get(f"migrated:{chat_id}")
            self._migrated[chat_id] = int(raw) if raw else None
        return self._migrated[chat_id]

    async def current_id(self, chat_id: int) -> int:
        """The chat's id now (a group that was upgraded has its supergroup's id)."""
        seen = {chat_id}
        while (newer := await self.migrated_to(chat_id)) is not None and newer not in seen:
            seen.add(newer)
            chat_id = newer
        return chat_id

    async def migrate(self, old: int, new: int) -> bool:
        """The group `old` is the supergroup `new` now; False if that was known already."""
        if old == new or await self.migrated_to(old) == new:
            return False
        await self.repo.cities.move_chat(chat_ref(old), chat_ref(new))
        await self.put(f"migrated:{old}", str(new))
        self._migrated[old] = new
        if not await self.is_active(old):
            await self.put(f"inactive:{old}", "0")
            self._inactive[old] = False
        return True

    # --- native polls -----------------------------------------------------------------

    async def remember_poll(
        self, native_id: str, poll_key: str, chat_id: int, message_id: int
    ) -> None:
        async with self.repo.atomic():
            await self.repo.ledger.set_platform_value(
                PLATFORM,
                f"poll:{native_id}",
                json.dumps({"key": poll_key, "chat": chat_id, "message": message_id}),
            )
            raw = await self.repo.ledger.platform_value(PLATFORM, f"pollkey:{poll_key}")
            messages = json.loads(raw) if raw else {}
            messages[str(chat_id)] = message_id
            await self.repo.ledger.set_platform_value(
                PLATFORM, f"pollkey:{poll_key}", json.dumps(messages)
            )

    @contextlib.asynccontextmanager
    async def sending_poll(self) -> AsyncIterator[None]:
        """Around sending a poll and recording it (`remember_poll`)."""
        self._sending_polls += 1
        self._no_polls_in_flight.clear()
        try:
            yield
        finally:
            self._sending_polls -= 1
            if not self._sending_polls:
                self._no_polls_in_flight.set()

    async def poll_by_native_id(self, native_id: str) -> NativePoll | None:
        found = await self.get_json(f"poll:{native_id}")
        if found is None and self._sending_polls:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._no_polls_in_flight.wait(), POLL_WAIT)
            found = await self.get_json(f"poll:{native_id}")
        if not isinstance(found, dict):
            return None
        return NativePoll(str(found["key"]), int(found["chat"]), int(found["message"]))

    async def poll_messages(self, poll_key: str, chat_id: int) -> list[tuple[int, int]]:
        """(chat id, message id) of the poll's messages in this chat (also those sent
        before the chat was upgraded to a supergroup, under the old id)."""
        found = await self.get_json(f"pollkey:{poll_key}")
        if not isinstance(found, dict):
            return []
        return [
            (int(chat), int(message))
            for chat, message in found.items()
            if await self.current_id(int(chat)) == chat_id
        ]
